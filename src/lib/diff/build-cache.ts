/**
 * The persistent kustomize build cache of `homelab diff` (and `homelab deploy`'s diff report):
 * successful `kubectl kustomize` outputs, content-addressed, kept between runs. In the edit-diff
 * loop the old side (what Flux applied, origin/main) and every unchanged Kustomization are the
 * same build every time; with this cache they cost one readFile each instead of a kubectl run.
 *
 * What is stored: kubectl's stdout as it printed it, BEFORE post-build substitution (build.ts
 * substitutes only after the output is split), so values of substituteFrom Secrets never reach the
 * disk; SOPS-encrypted Secrets are ciphertext in that output, as in the repository.
 *
 * Layout: `$XDG_CACHE_HOME/homelab/kustomize-builds` (default `~/.cache/homelab/kustomize-builds`),
 * folder mode 0700, one file per build, mode 0600, written atomically (writeFileAtomic). A file's
 * name is the sha256 of ({@link BUILD_CACHE_FORMAT}, the build key, the kubectl identity); its
 * content is one header line `homelab-kustomize-build <format> sha256:<hex of the body>` and the
 * body (the output). A file whose body does not match its header's hash (truncated, overwritten)
 * is a miss, and the build that follows replaces it.
 *
 * Not stored: an output holding a Secret that is not SOPS-encrypted (a secretGenerator, a plain
 * Secret: its values would sit in ~/.cache, which backups often take), an output larger than a
 * quarter of the limit. Not used at all: a folder that is a symlink, not a folder, owned by
 * another user, or writable by group or others when it is not ours to tighten (one warning).
 */
import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {writeFileAtomic} from '../fs/atomic-write.js'
import {run} from './exec.js'

/**
 * Bumped whenever what a build key stands for changes in a way the key does not show (the overlay
 * build.ts writes for the controller's fields, how kubectl is called): older entries are then
 * never read again and pruned in time.
 */
export const BUILD_CACHE_FORMAT = 1

/**
 * The bound on the cache, pruned oldest-first (by mtime; a hit refreshes it). 64 MiB holds
 * hundreds of builds of a homelab-sized Kustomization (the bundled homelab's largest build is
 * ~40 KiB, a big one a few hundred KiB) — the old side and every unchanged Kustomization of many
 * edit-diff rounds — while staying small next to what ~/.cache usually holds. 2000 entries keeps
 * a prune (one stat per entry) at a few milliseconds.
 */
export const BUILD_CACHE_LIMITS = {bytes: 64 * 1024 * 1024, entries: 2000}

const HEADER = 'homelab-kustomize-build'
/** A temp file of a write that never finished (a killed run) is removed by a prune after this long. */
const STALE_TEMP_MS = 60 * 60 * 1000

/** Builds of one run: `run` = kubectl kustomize processes started, `cached` = outputs taken from the persistent cache. */
export interface BuildCounts {
  run: number
  cached: number
}

/**
 * The cache folder: `$XDG_CACHE_HOME/homelab/kustomize-builds` when XDG_CACHE_HOME is an absolute
 * path (the XDG Base Directory spec ignores a relative one), else `<home>/.cache/homelab/kustomize-builds`.
 */
export function defaultBuildCacheDir(env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): string {
  const xdg = env.XDG_CACHE_HOME
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(home, '.cache'), 'homelab', 'kustomize-builds')
}

/**
 * What identifies the kubectl that runs the builds: its real path, size and mtime (an upgrade
 * replaces the file, so its builds are not reused). A script (`#!`: an asdf/mise shim, a wrapper)
 * stays the same file whatever kubectl it runs, so for one `kubectl version --client` is run
 * (~50 ms, alongside git) and its output is part of the identity too.
 * @returns undefined when the binary cannot be read or the version not told (then nothing is cached)
 */
export async function kubectlIdentity(kubectl: string): Promise<string | undefined> {
  try {
    const real = await fs.realpath(kubectl)
    const stat = await fs.stat(real)
    const file = `${real}\0${stat.size}\0${stat.mtimeMs}`
    const handle = await fs.open(real, 'r')
    const head = Buffer.alloc(2)
    try {
      await handle.read(head, 0, 2, 0)
    } finally {
      await handle.close()
    }

    if (head.toString('latin1') !== '#!') return file
    const version = await run(kubectl, ['version', '--client'], {timeout: 30_000})
    return version.exitCode === 0 ? `${file}\0${version.stdout}` : undefined
  } catch {
    return undefined
  }
}

/** A Secret document in kubectl kustomize output (kind at column 0) without a SOPS `sops:` block: its values are plaintext (base64 is not a cipher). */
export function holdsPlainSecret(output: string): boolean {
  return output.split(/^---$/m).some((doc) => /^kind: Secret\s*$/m.test(doc) && !/^sops:/m.test(doc))
}

/**
 * Whether a cache folder may be used: absent (created 0700 on the first write), or a real folder
 * (not a symlink) owned by this user; one writable by group or others is narrowed to 0700.
 * @returns undefined when usable, else why not (one line)
 */
async function untrusted(dir: string): Promise<string | undefined> {
  // Absent (or under a file: then the first write fails and says so).
  const stat = await fs.lstat(dir).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' || error.code === 'ENOTDIR' ? undefined : error))
  if (stat === undefined) return undefined
  if (stat instanceof Error) return `cannot be read (${(stat as NodeJS.ErrnoException).code ?? stat.message})`
  if (stat.isSymbolicLink() || !stat.isDirectory()) return 'is not a folder (a symlink or a file)'
  const uid = process.getuid?.()
  if (uid !== undefined && stat.uid !== uid) return `is owned by uid ${stat.uid}, not you`
  if (stat.mode & 0o022) await fs.chmod(dir, 0o700)
  return undefined
}

/**
 * One run's handle on the persistent build cache. Never throws for a cache problem: a read that
 * fails is a miss, a write that fails becomes one warning ({@link BuildCache.warning}) and the
 * diff goes on. Safe with concurrent runs (entries are renamed into place; a file vanishing
 * under a prune is a miss).
 */
export class BuildCache {
  /** One line for the report when the cache could not be written (unwritable folder, disk full); undefined otherwise. */
  warning: string | undefined
  private readonly identity: Promise<string | undefined>
  private trust: Promise<boolean> | undefined
  private readonly pending = new Set<Promise<unknown>>()
  private made: Promise<void> | undefined
  private wrote = 0

  /**
   * @param dir the cache folder ({@link defaultBuildCacheDir}); created (0700) on the first write only
   * @param kubectl absolute path of the kubectl the builds run ({@link kubectlIdentity})
   */
  constructor(readonly dir: string, kubectl: string) {
    this.identity = kubectlIdentity(kubectl)
  }

  /**
   * The cached output of the build with this key, checked against its header's sha256; undefined
   * for a miss (absent, unreadable, corrupt, or kubectl unknown). A hit refreshes the entry's
   * mtime (in the background; {@link BuildCache.close} waits for it).
   */
  async get(key: string): Promise<string | undefined> {
    const file = await this.file(key)
    if (!file) return undefined
    let data: Buffer
    try {
      data = await fs.readFile(file)
    } catch {
      return undefined
    }

    const nl = data.indexOf(10)
    if (nl === -1) return undefined
    const header = data.subarray(0, nl).toString('utf8').split(' ')
    const body = data.subarray(nl + 1)
    if (header.length !== 3 || header[0] !== HEADER || header[1] !== String(BUILD_CACHE_FORMAT) || header[2] !== `sha256:${sha256(body)}`) return undefined
    const now = new Date()
    this.track(fs.utimes(file, now, now).catch(() => {}))
    return body.toString('utf8')
  }

  /**
   * Stores a successful build's output under its key, in the background ({@link BuildCache.close}
   * waits for it); not an output holding a plaintext Secret ({@link holdsPlainSecret}) or larger
   * than a quarter of {@link BUILD_CACHE_LIMITS}.bytes.
   * @param confirm asked before writing: false skips it (e.g. the working tree changed while kubectl ran, so the output may not be the key's)
   */
  put(key: string, output: string, confirm?: () => Promise<boolean>): void {
    if (output.length > BUILD_CACHE_LIMITS.bytes / 4 || holdsPlainSecret(output)) return
    this.track(
      (async () => {
        if (confirm && !(await confirm().catch(() => false))) return
        const file = await this.file(key)
        if (!file) return
        try {
          this.made ??= fs.mkdir(this.dir, {mode: 0o700, recursive: true}).then(() => {})
          await this.made
          const body = Buffer.from(output, 'utf8')
          await writeFileAtomic(file, Buffer.concat([Buffer.from(`${HEADER} ${BUILD_CACHE_FORMAT} sha256:${sha256(body)}\n`), body]), {mode: 0o600})
          this.wrote++
        } catch (error) {
          this.warning ??= `the kustomize build cache ${this.dir} cannot be written (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); builds are not kept for the next run (free space or make it writable, or pass --no-cache)`
        }
      })(),
    )
  }

  /** Waits for the writes and mtime refreshes started so far (after it, {@link BuildCache.warning} is known for them). Never throws. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending)
  }

  /**
   * Waits for the writes and mtime refreshes of this run, then — when this run wrote anything —
   * prunes the cache once to {@link BUILD_CACHE_LIMITS}, oldest first, and removes temp files
   * of writes that never finished. Never throws.
   */
  async close(): Promise<void> {
    await this.flush()
    if (this.wrote > 0) await pruneBuildCache(this.dir).catch(() => {})
  }

  private async file(key: string): Promise<string | undefined> {
    this.trust ??= untrusted(this.dir).then(
      (why) => {
        if (why) this.warning ??= `the kustomize build cache ${this.dir} ${why}: it is not used (remove it, or pass --no-cache)`
        return why === undefined
      },
      () => false,
    )
    if (!(await this.trust)) return undefined
    const identity = await this.identity
    if (identity === undefined) return undefined
    return path.join(this.dir, sha256(`${HEADER}\0${BUILD_CACHE_FORMAT}\0${key}\0${identity}`))
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p)
    void p.finally(() => this.pending.delete(p))
  }
}

/**
 * Removes the oldest entries (by mtime) of the cache folder until it holds at most `limits`
 * (bytes and entries), and temp files older than an hour. A file that vanishes meanwhile (another
 * run pruning) is skipped.
 * @returns how many files were removed
 */
export async function pruneBuildCache(dir: string, limits = BUILD_CACHE_LIMITS, now = Date.now()): Promise<number> {
  const names = await fs.readdir(dir).catch(() => [] as string[])
  const entries: Array<{file: string; mtimeMs: number; size: number}> = []
  const stale: string[] = []
  await Promise.all(
    names.map(async (name) => {
      const file = path.join(dir, name)
      const stat = await fs.lstat(file).catch(() => undefined)
      if (!stat?.isFile()) return
      if (name.startsWith('.')) {
        if (name.endsWith('.tmp') && now - stat.mtimeMs > STALE_TEMP_MS) stale.push(file)
        return
      }

      if (/^[0-9a-f]{64}$/.test(name)) entries.push({file, mtimeMs: stat.mtimeMs, size: stat.size})
    }),
  )
  let bytes = entries.reduce((sum, e) => sum + e.size, 0)
  let count = entries.length
  const remove: string[] = [...stale]
  entries.sort((a, b) => a.mtimeMs - b.mtimeMs)
  for (const e of entries) {
    if (bytes <= limits.bytes && count <= limits.entries) break
    remove.push(e.file)
    bytes -= e.size
    count--
  }

  await Promise.all(remove.map((f) => fs.rm(f, {force: true}).catch(() => {})))
  return remove.length
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}
