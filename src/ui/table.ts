/** Visible width of a string: ANSI colour codes do not count. */
export function visibleWidth(text: string): number {
  // eslint-disable-next-line no-control-regex
  return [...text.replace(/\u001B\[[0-9;]*m/g, '')].length
}

/**
 * Renders rows as an aligned plain-text table with a header row; columns separated by two spaces,
 * trailing spaces trimmed. Cells may hold ANSI colour.
 *
 * @param headers column titles
 * @param rows one array of cell strings per row, same length as `headers`
 */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(visibleWidth(h), ...rows.map((r) => visibleWidth(r[i] ?? ''))))
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell + ' '.repeat(widths[i] - visibleWidth(cell)))
      .join('  ')
      .trimEnd()
  return [line(headers), ...rows.map((r) => line(r))].join('\n')
}
