import {createHash, createHmac, randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {parseAllDocuments} from 'yaml'

import type {AgeIdentity} from '../age/identities.js'
import {decryptSopsText} from '../sops/engine.js'
import {isSopsFile} from '../sops/metadata.js'

/** Prefix of a SOPS-encrypted value (getsops/sops aes cipher: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`). */
const ENC_PREFIX = 'ENC[AES256_GCM,'

/**
 * Where SOPS values go in a diff: never as plaintext. Each decrypted value is reduced at once to a
 * fingerprint, an HMAC-SHA256 under a random key made for this run and then forgotten, so two
 * equal values compare equal inside the run and nothing printed says anything about a value
 * (a fingerprint of one run means nothing in another). Flux decrypts the same values
 * (kustomize-controller `spec.decryption`, https://fluxcd.io/flux/guides/mozilla-sops/) after the build.
 */
export class SecretValues {
  private readonly key = randomBytes(32)
  /** ENC[...] text → fingerprint of its plaintext. */
  private readonly byCiphertext = new Map<string, string>()
  /** sha256 of a SOPS file's text already read (the same file in both revisions is decrypted once). */
  private readonly seenFiles = new Set<string>()
  /** How many ciphertexts were met that no file decrypted (compared by ciphertext). */
  undecrypted = 0
  /** Files that did not decrypt, with the reason (one line, never a value). */
  readonly failures = new Map<string, string>()

  /** @param identities the operator's age identities (loadIdentities); [] compares ciphertexts only */
  constructor(private readonly identities: readonly AgeIdentity[]) {}

  /** The fingerprint (16 hex digits) of a plaintext under this run's key. */
  fingerprint(plaintext: string): string {
    return createHmac('sha256', this.key).update(plaintext).digest('hex').slice(0, 16)
  }

  /** The marker that stands for a value: `<secret value FP>`, or `<encrypted value FP>` when it could not be decrypted. */
  marker(value: string): string {
    const known = this.byCiphertext.get(value)
    if (known) return `<secret value ${known}>`
    // Not decrypted: the ciphertext's fingerprint (a re-encryption shows as a change).
    this.undecrypted++
    return `<encrypted value ${this.fingerprint(`ciphertext\u0000${value}`)}>`
  }

  /** True when every SOPS ciphertext in `object` has been decrypted (see {@link learn}). */
  knowsAll(object: unknown): boolean {
    if (SecretValues.isCiphertext(object)) return this.byCiphertext.has(object)
    if (Array.isArray(object)) return object.every((v) => this.knowsAll(v))
    if (isObject(object)) return Object.entries(object).every(([k, v]) => k === 'sops' || this.knowsAll(v))
    return true
  }

  /** True when `value` is a SOPS ciphertext. */
  static isCiphertext(value: unknown): value is string {
    return typeof value === 'string' && value.startsWith(ENC_PREFIX)
  }

  /**
   * Decrypts every SOPS file under `dirs` (recursively; `.yaml`/`.yml`/`.json` whose text holds a
   * SOPS `mac`) in memory and remembers the fingerprint of each value by its ciphertext. A file that
   * does not decrypt (no matching identity, MAC mismatch) is recorded in {@link failures}.
   */
  async learn(dirs: readonly string[], displayRoot: string): Promise<void> {
    const files = new Set<string>()
    for (const dir of dirs) for (const file of await yamlFilesUnder(dir)) files.add(file)
    await Promise.all(
      [...files].map(async (file) => {
        const text = await fs.readFile(file, 'utf8').catch(() => '')
        if (!text.includes(ENC_PREFIX)) return
        const hash = createHash('sha256').update(text).digest('hex')
        if (this.seenFiles.has(hash) || !isSopsFile(text)) return
        this.seenFiles.add(hash)
        const rel = path.relative(displayRoot, file)
        if (this.identities.length === 0) {
          this.failures.set(rel, 'no age identity (set SOPS_AGE_KEY_FILE)')
          return
        }

        try {
          const decrypted = await decryptSopsText({file: rel, identities: this.identities, text})
          const encrypted = parseAllDocuments(text).map((d) => (Array.isArray(d) ? undefined : d.toJS()))
          for (const [i, doc] of decrypted.documents.entries()) this.pair(encrypted[i], doc.toJS())
        } catch (error) {
          this.failures.set(rel, (error as Error).message.split('\n')[0])
        }
      }),
    )
  }

  /** Walks an encrypted and a decrypted document side by side; each ciphertext leaf gets its plaintext's fingerprint. */
  private pair(encrypted: unknown, plain: unknown): void {
    if (SecretValues.isCiphertext(encrypted)) {
      this.byCiphertext.set(encrypted, this.fingerprint(plain === null || plain === undefined ? '' : String(plain)))
      return
    }

    if (Array.isArray(encrypted) && Array.isArray(plain)) {
      for (const [i, item] of encrypted.entries()) this.pair(item, plain[i])
      return
    }

    if (isObject(encrypted) && isObject(plain)) for (const [k, v] of Object.entries(encrypted)) if (k !== 'sops') this.pair(v, plain[k])
  }

  /**
   * A copy of a built object with every SOPS ciphertext replaced by its {@link marker} and the
   * `sops` metadata block dropped (it changes on every re-encryption: noise). Objects without
   * a `sops` block are returned as they are.
   */
  redact(object: Record<string, unknown>): Record<string, unknown> {
    if (!('sops' in object)) return object
    const walk = (value: unknown): unknown => {
      if (SecretValues.isCiphertext(value)) return this.marker(value)
      if (Array.isArray(value)) return value.map(walk)
      if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v)]))
      return value
    }

    const {sops: _sops, ...rest} = object
    return walk(rest) as Record<string, unknown>
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Every `.yaml`/`.yml`/`.json` file under `dir` (recursively, not following links, skipping `.git`, `node_modules` and hidden folders). */
async function yamlFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = []
  const entries = await fs.readdir(dir, {withFileTypes: true}).catch(() => [])
  for (const entry of entries) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue
      out.push(...(await yamlFilesUnder(full)))
    } else if (entry.isFile() && /\.(ya?ml|json)$/i.test(entry.name)) out.push(full)
  }

  return out
}
