import {entryMatches, knownHostsLine, parseKnownHosts} from '../../ssh/known-hosts.js'

/**
 * known_hosts text with the host's key replaced: every key line matching one of `names` (each in
 * `knownHostName` form) is removed — the install erases the machine, so its old host keys are
 * gone for good — and `<pinName> <type> <base64>` is appended. Comments and other hosts' lines
 * stay as they are.
 *
 * @returns the new text and the lines removed (1-based numbers)
 */
export function pinInstalledHostKey(text: string, names: readonly string[], pinName: string, key: Buffer): {text: string; removed: number[]} {
  const matching = new Set(parseKnownHosts(text).filter((e) => e.marker === undefined && names.some((n) => entryMatches(e, n))).map((e) => e.line))
  const kept = text.split('\n').filter((_, i) => !matching.has(i + 1))
  let out = kept.join('\n')
  if (out !== '' && !out.endsWith('\n')) out += '\n'
  return {removed: [...matching], text: `${out}${knownHostsLine(pinName, key)}\n`}
}
