const SUFFIX: Record<string, number> = {
  '': 1,
  E: 1e18,
  Ei: 2 ** 60,
  G: 1e9,
  Gi: 2 ** 30,
  k: 1e3,
  Ki: 2 ** 10,
  m: 1e-3,
  M: 1e6,
  Mi: 2 ** 20,
  P: 1e15,
  Pi: 2 ** 50,
  T: 1e12,
  Ti: 2 ** 40,
}

/**
 * Parses a Kubernetes resource quantity (`10Gi`, `500M`, `1.5T`, `1e3`) into a number of base
 * units (bytes for storage). Source of the format: k8s.io/apimachinery pkg/api/resource/quantity.go
 * (binary suffixes Ki..Ei, decimal k..E and m, or a decimal exponent).
 * @returns the value, or undefined when `text` is not a quantity
 */
export function parseQuantity(text: unknown): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) ? text : undefined
  if (typeof text !== 'string') return undefined
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?)$/.exec(text.trim())
  if (!match) return undefined
  const base = Number(match[1])
  if (match[2]) return base * 10 ** Number(match[2].slice(1))
  return base * SUFFIX[match[3] ?? '']
}
