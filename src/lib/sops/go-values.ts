import type {SopsValueType} from './cipher.js'

/**
 * A leaf value in sops' Go-typed form: its type and the exact bytes sops encrypts and hashes
 * (sops `sops.go` ToBytes): int decimal, float Go `FormatFloat(f,'f',-1,64)`, bool `True`/`False`,
 * time RFC3339Nano, str as is.
 */
export interface GoValue {
  type: Exclude<SopsValueType, 'comment'>
  text: string
}

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/

/**
 * Resolves a plain (unquoted, untagged) YAML scalar as go-yaml v3 does when decoding into
 * interface{} (`resolve.go`): null, bool (true/True/TRUE/false/…), int (base prefixes 0x 0o 0b
 * and a leading 0 as octal, `_` ignored), float (a finite float64; `1e400` stays a string),
 * timestamp, else string.
 * @returns null for a YAML null, else the typed value
 */
export function resolveGoPlain(src: string): GoValue | null {
  if (src === '' || src === '~' || src === 'null' || src === 'Null' || src === 'NULL') return null
  if (src === 'true' || src === 'True' || src === 'TRUE') return {text: 'True', type: 'bool'}
  if (src === 'false' || src === 'False' || src === 'FALSE') return {text: 'False', type: 'bool'}
  if (/^[-+]?\.(inf|Inf|INF)$/.test(src)) return {text: src.startsWith('-') ? '-Inf' : '+Inf', type: 'float'}
  if (/^\.(nan|NaN|NAN)$/.test(src)) return {text: 'NaN', type: 'float'}
  const c = src[0]
  if (!/[-+.0-9]/.test(c)) return {text: src, type: 'str'}
  const time = parseGoTimestamp(src)
  if (time) return {text: time, type: 'time'}
  const plain = src.replaceAll('_', '')
  const int = parseGoInt(plain)
  if (int !== undefined) return {text: int.toString(), type: 'int'}
  if (YAML_STYLE_FLOAT.test(plain)) {
    const f = Number(plain)
    // Go strconv.ParseFloat fails on overflow (`1e400`), and go-yaml v3 then keeps the string.
    if (Number.isFinite(f)) return {text: formatGoFloat(f), type: 'float'}
  }

  return {text: src, type: 'str'}
}

/** True when go-yaml v3 would read this text, written as a plain scalar, as anything but a string. */
export function goReadsAsNonString(text: string): boolean {
  const resolved = resolveGoPlain(text)
  return resolved === null || resolved.type !== 'str'
}

/** Go strconv.ParseInt(s, 0, 64) then ParseUint: sign, 0x / 0o / 0b / leading-0 octal, decimal. */
function parseGoInt(s: string): bigint | undefined {
  const m = /^([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(s)
  if (!m) return undefined
  const sign = m[1] === '-' ? -1n : 1n
  const body = m[2]
  let value: bigint
  if (/^0[oO]/.test(body)) value = BigInt(`0o${body.slice(2)}`)
  else if (/^0[0-7]+$/.test(body)) value = BigInt(`0o${body.slice(1)}`)
  else value = BigInt(body)
  value *= sign
  if (value < -(2n ** 63n) || value > 2n ** 64n - 1n) return undefined
  if (value < 0n && sign > 0n) return undefined
  return value
}

/** go-yaml v3 timestamp formats; returns Go time.Format(RFC3339Nano) of the value, or undefined. */
function parseGoTimestamp(s: string): string | undefined {
  if (!/^\d{4}-/.test(s)) return undefined
  const date = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(s)
  if (date) return `${date[1]}-${date[2].padStart(2, '0')}-${date[3].padStart(2, '0')}T00:00:00Z`
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})[Tt ](\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$/.exec(s)
  if (!m) return undefined
  const pad = (v: string) => v.padStart(2, '0')
  const frac = m[7] ? m[7].replace(/0+$/, '') : ''
  const zone = m[8] ?? 'Z'
  return `${m[1]}-${pad(m[2])}-${pad(m[3])}T${pad(m[4])}:${pad(m[5])}:${pad(m[6])}${frac === '.' ? '' : frac}${zone}`
}

/**
 * Go `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest decimal that round-trips, never an
 * exponent (`1.0` → `1`, `1e21` → `1000000000000000000000`), `+Inf`, `-Inf`, `NaN`.
 */
export function formatGoFloat(f: number): string {
  if (Number.isNaN(f)) return 'NaN'
  if (f === Infinity) return '+Inf'
  if (f === -Infinity) return '-Inf'
  if (Object.is(f, -0)) return '-0'
  const s = String(f)
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s)
  if (!m) return s
  const digits = m[2] + (m[3] ?? '')
  const exp = Number(m[4])
  if (exp >= 0) {
    const intLen = 1 + exp
    return m[1] + (digits.length <= intLen ? digits + '0'.repeat(intLen - digits.length) : `${digits.slice(0, intLen)}.${digits.slice(intLen)}`)
  }

  return `${m[1]}0.${'0'.repeat(-exp - 1)}${digits}`
}

/** sops' bytes for a JS value read from JSON / the yaml library (number, boolean, string, bigint). */
export function goValueOfJs(value: unknown): GoValue | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'boolean') return {text: value ? 'True' : 'False', type: 'bool'}
  if (typeof value === 'bigint') return {text: value.toString(), type: 'int'}
  if (typeof value === 'number') return Number.isInteger(value) && !Object.is(value, -0) ? {text: String(value), type: 'int'} : {text: formatGoFloat(value), type: 'float'}
  if (value instanceof Date) return {text: value.toISOString().replace('.000Z', 'Z'), type: 'time'}
  return {text: String(value), type: 'str'}
}

const GO_ATOI = /^[-+]?[0-9]+$/
const GO_DECIMAL_FLOAT = /^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$/
const GO_SPECIAL_FLOAT = /^([-+]?)(inf|infinity|nan)$/i
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[-+]\d{2}:\d{2})$/

/**
 * Parses a decrypted plaintext by the `type:` of its `ENC[...]` value, as sops does before it
 * hashes the value for the MAC (sops `aes/cipher.go` Decrypt: `str` as is, `int` strconv.Atoi,
 * `float` strconv.ParseFloat(s, 64), `bool` strconv.ParseBool, `time` time.Parse(RFC3339); then
 * `sops.go` ToBytes). The `type:` is not authenticated (the additional data is only the key
 * path), so a plaintext that does not parse means the file was changed outside sops.
 *
 * @param type the `type:` field (`str`, `int`, `float`, `bool`, `time`)
 * @param text the decrypted UTF-8 plaintext. Never put it in a message.
 * @returns the value's canonical sops bytes (int decimal, bool `True`/`False`, float Go
 *   FormatFloat 'f' -1, time and str as they are), or undefined when it does not parse as `type`
 *   (also: an int outside int64, a finite float out of float64 range, Go hex floats, which sops never writes)
 */
export function parseTypedPlaintext(type: string, text: string): string | undefined {
  switch (type) {
    case 'str': {
      return text
    }

    case 'int': {
      if (!GO_ATOI.test(text)) return undefined
      const value = BigInt(text)
      return value < -(2n ** 63n) || value > 2n ** 63n - 1n ? undefined : value.toString()
    }

    case 'float': {
      const special = GO_SPECIAL_FLOAT.exec(text)
      if (special) return special[2].toLowerCase() === 'nan' ? 'NaN' : special[1] === '-' ? '-Inf' : '+Inf'
      if (!GO_DECIMAL_FLOAT.test(text)) return undefined
      const value = Number(text)
      return Number.isFinite(value) ? formatGoFloat(value) : undefined
    }

    case 'bool': {
      if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return 'True'
      if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return 'False'
      return undefined
    }

    case 'time': {
      return RFC3339.test(text) ? text : undefined
    }

    default: {
      return undefined
    }
  }
}
