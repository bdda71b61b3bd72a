import {randomBytes, randomInt} from 'node:crypto'

/**
 * Shamir's secret sharing over GF(2^8) with the AES polynomial, as hashicorp/vault `shamir`
 * (vendored by sops for `key_groups` with `shamir_threshold`). A share is the y bytes followed
 * by its x coordinate (1..255).
 */
function mult(a: number, b: number): number {
  let r = 0
  for (let i = 7; i >= 0; i--) {
    r = ((-((b >> i) & 1) & a) ^ (-(r >> 7) & 0x1b) ^ (r + r)) & 0xff
  }

  return r
}

function inverse(a: number): number {
  let out = 1
  for (let i = 0; i < 254; i++) out = mult(out, a)
  return out
}

/**
 * Combines `threshold` or more shares into the secret.
 * @throws Error when fewer than 2 shares, unequal lengths or duplicate x coordinates
 */
export function shamirCombine(shares: Uint8Array[]): Uint8Array {
  if (shares.length < 2) throw new Error('less than two parts cannot be used to reconstruct the secret')
  const len = shares[0].length
  if (len < 2 || shares.some((s) => s.length !== len)) throw new Error('all parts must be the same length')
  const xs = shares.map((s) => s[len - 1])
  if (new Set(xs).size !== xs.length) throw new Error('duplicate part detected')
  const secret = new Uint8Array(len - 1)
  for (let idx = 0; idx < len - 1; idx++) {
    let result = 0
    for (let i = 0; i < xs.length; i++) {
      let basis = 1
      for (let j = 0; j < xs.length; j++) {
        if (i === j) continue
        basis = mult(basis, mult(xs[j], inverse(xs[i] ^ xs[j])))
      }

      result ^= mult(shares[i][idx], basis)
    }

    secret[idx] = result
  }

  return secret
}

/** Splits a secret into `parts` shares, any `threshold` of which rebuild it (2 <= threshold <= parts <= 255). */
export function shamirSplit(secret: Uint8Array, parts: number, threshold: number): Uint8Array[] {
  if (threshold < 2 || parts < threshold || parts > 255) throw new Error('invalid shamir parameters')
  const pool = Array.from({length: 255}, (_v, i) => i + 1)
  for (let i = pool.length - 1; i > 0; i--) {
    const j = randomInt(i + 1)
    ;[pool[i], pool[j]] = [pool[j], pool[i]]
  }

  const out = Array.from({length: parts}, (_v, i) => {
    const share = new Uint8Array(secret.length + 1)
    share[secret.length] = pool[i]
    return share
  })
  for (const [idx, value] of secret.entries()) {
    const coefficients = [value, ...randomBytes(threshold - 1)]
    for (const share of out) {
      const x = share[secret.length]
      let y = 0
      for (let k = coefficients.length - 1; k >= 0; k--) y = mult(y, x) ^ coefficients[k]
      share[idx] = y
    }
  }

  return out
}
