import {SopsConfigError} from './errors.js'

/**
 * Translates a Go RE2 pattern (as written in `.sops.yaml` and sops metadata) into a JS RegExp
 * with the same meaning for the patterns people write there. Source of the syntax:
 * https://github.com/google/re2/wiki/Syntax.
 *
 * Handled: leading flag groups `(?i)`, `(?s)`, `(?m)`, `(?U)`-free combinations; `\A` / `\z`
 * anchors; POSIX classes `[[:alpha:]]` etc. inside brackets; `(?P<name>` named groups.
 *
 * @throws SopsConfigError naming `where` when the pattern is invalid or uses a flag JS lacks.
 */
export function goRegExp(pattern: string, where: string): RegExp {
  let source = pattern
  let flags = ''
  const lead = /^\(\?([imsU]+)\)/.exec(source)
  if (lead) {
    if (lead[1].includes('U')) throw new SopsConfigError(`${where}: the Go regexp flag (?U) is not supported: ${pattern}`)
    flags = [...new Set(lead[1])].join('')
    source = source.slice(lead[0].length)
  }

  if (/\(\?[imsU-]+[:)]/.test(source))
    throw new SopsConfigError(`${where}: inline regexp flags are only supported at the start of the pattern: ${pattern}`, {
      suggestions: ['move the flag group, e.g. (?i), to the start of the regex'],
    })
  source = source
    .replaceAll('\\A', '^')
    .replaceAll('\\z', '$(?![\\s\\S])')
    .replaceAll('(?P<', '(?<')
    .replace(/\[:(\^?)(alnum|alpha|ascii|blank|cntrl|digit|graph|lower|print|punct|space|upper|word|xdigit):\]/g, (_m, neg: string, cls: string) => {
      const map: Record<string, string> = {
        alnum: '0-9A-Za-z',
        alpha: 'A-Za-z',
        ascii: '\\x00-\\x7F',
        blank: '\\t ',
        cntrl: '\\x00-\\x1F\\x7F',
        digit: '0-9',
        graph: '!-~',
        lower: 'a-z',
        print: ' -~',
        punct: '!-\\/:-@[-`{-~',
        space: '\\t\\n\\v\\f\\r ',
        upper: 'A-Z',
        word: '0-9A-Za-z_',
        xdigit: '0-9A-Fa-f',
      }
      if (neg) throw new SopsConfigError(`${where}: negated POSIX classes are not supported: ${pattern}`)
      return map[cls]
    })
  try {
    return new RegExp(source, flags)
  } catch (error) {
    throw new SopsConfigError(`${where}: invalid regex ${JSON.stringify(pattern)}: ${(error as Error).message}`)
  }
}
