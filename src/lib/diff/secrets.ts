import {createHash, createHmac, randomBytes} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {parseAllDocuments} from 'yaml'

import type {AgeIdentity} from '../age/identities.js'

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
  /** Files that did not decrypt, with the reason (one line, never a value). */
  readonly failures = new Map<string, string>()

  /**
   * @param identities the operator's age identities (loadIdentities); [] compares ciphertexts only.
   *   A promise is awaited only when a changed SOPS file is decrypted; a rejection counts as no
   *   identity here and is the caller's to report (diffCluster awaits it).
   */
  constructor(private readonly identities: readonly AgeIdentity[] | Promise<readonly AgeIdentity[]>) {}

  /** The fingerprint (16 hex digits) of a plaintext under this run's key. */
  fingerprint(plaintext: string): string {
    return createHmac('sha256', this.key).update(plaintext).digest('hex').slice(0, 16)
  }

  /** The marker that stands for a value: `<secret value FP>`, or `<encrypted value FP>` when it could not be decrypted. */
  marker(value: string): string {
    const known = this.byCiphertext.get(value)
    if (known) return `<secret value ${known}>`
    // Not decrypted: the ciphertext's fingerprint (a re-encryption shows as a change).
    return `<encrypted value ${this.fingerprint(`ciphertext\u0000${value}`)}>`
  }

  /** True when `value` is a SOPS ciphertext. */
  static isCiphertext(value: unknown): value is string {
    return typeof value === 'string' && value.startsWith(ENC_PREFIX)
  }

  /**
   * Decrypts in memory the SOPS files that differ between two revisions (`.yaml`/`.yml`/`.json`
   * under `rel` of each, whose text holds a SOPS `mac`; compared by path and content) and remembers
   * the fingerprint of each value by its ciphertext. A file that is the same in both holds the same
   * ciphertexts on both sides, which then compare equal without decrypting (and a re-encrypted
   * file, whose ciphertexts all change, is decrypted: only a new value shows as a change).
   * A file that does not decrypt (no matching identity, MAC mismatch) is recorded in {@link failures}.
   * @param same tells (repository-relative POSIX path) when a file is the same in both revisions without reading it (git blob ids); optional
   */
  async learnChanged(fromDir: string, toDir: string, rel: string, same?: (file: string) => Promise<boolean>): Promise<void> {
    const list = async (dir: string) => new Set((await yamlFilesUnder(path.join(dir, rel))).map((file) => path.relative(dir, file)))
    const [inFrom, inTo] = await Promise.all([list(fromDir), list(toDir)])
    // A file both revisions hold with the same content holds the same ciphertexts: not read.
    const skip = new Set<string>()
    if (same) await Promise.all([...inFrom].filter((f) => inTo.has(f)).map(async (f) => (await same(f.split(path.sep).join('/'))) && skip.add(f)))
    const read = async (dir: string, files: Set<string>) => {
      const out = new Map<string, string>()
      for (const file of files) {
        if (skip.has(file)) continue
        const text = await fs.readFile(path.join(dir, file), 'utf8').catch(() => '')
        if (text.includes(ENC_PREFIX)) out.set(file, text)
      }

      return out
    }

    const [a, b] = await Promise.all([read(fromDir, inFrom), read(toDir, inTo)])
    const changed: Array<[string, string]> = []
    for (const [file, text] of a) if (b.get(file) !== text) changed.push([file, text])
    for (const [file, text] of b) if (a.get(file) !== text) changed.push([file, text])
    await Promise.all(changed.map(([file, text]) => this.learnText(file, text)))
  }

  /** Decrypts one SOPS text (see {@link learnChanged}); not a SOPS file: nothing. */
  async learnText(rel: string, text: string): Promise<void> {
    const hash = createHash('sha256').update(text).digest('hex')
    // isSopsFile's cheap test first (a SOPS file's mac); its parse only when decryption fails (the file is parsed once either way).
    if (this.seenFiles.has(hash) || (!text.includes('mac: ENC[') && !text.includes('"mac": "ENC['))) return
    this.seenFiles.add(hash)
    const isSops = async () => (await import('../sops/metadata.js')).isSopsFile(text)
    const identities = await Promise.resolve(this.identities).catch(() => [])
    if (identities.length === 0) {
      if (await isSops()) this.failures.set(rel, 'no age identity: set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY')
      return
    }

    try {
      const {decryptSopsText} = await import('../sops/engine.js')
      const decrypted = await decryptSopsText({file: rel, identities, text})
      const encrypted = parseAllDocuments(text).map((d) => (Array.isArray(d) ? undefined : d.toJS()))
      for (const [i, doc] of decrypted.documents.entries()) this.pair(encrypted[i], doc.toJS())
    } catch (error) {
      if (await isSops()) this.failures.set(rel, (error as Error).message.split('\n')[0])
    }
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
