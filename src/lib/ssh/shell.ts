/** Quotes one word for a POSIX shell: `'…'` with embedded quotes as `'\''`. Safe words stay bare. */
export function shellQuote(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word
  return `'${word.replaceAll("'", String.raw`'\''`)}'`
}

/** A command line from words, each quoted for a POSIX shell. */
export function shellJoin(words: string[]): string {
  return words.map((w) => shellQuote(w)).join(' ')
}

/**
 * Splits a stream of text chunks into lines: `push(chunk)` calls `onLine` for each complete line
 * (without the newline, a trailing `\r` removed), `flush()` for a last unterminated one.
 */
export function lineSplitter(onLine: (line: string) => void): {push(chunk: string): void; flush(): void} {
  let carry = ''
  return {
    flush() {
      if (carry !== '') onLine(carry.replace(/\r$/, ''))
      carry = ''
    },
    push(chunk: string) {
      const parts = (carry + chunk).split('\n')
      carry = parts.pop() ?? ''
      for (const line of parts) onLine(line.replace(/\r$/, ''))
    },
  }
}
