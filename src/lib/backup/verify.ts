import {kopiaTime, latestByPath, parseSnapshotList, parseSnapshotVerify} from '../kopia/index.js'
import {HomelabError} from '../errors.js'
import {type BackupHost, shellQuote} from './host.js'
import type {BackupSettings} from './settings.js'

/** One source in {@link VerifyReport}. Sizes in bytes. */
export interface SourceVerify {
  path: string
  /** The newest snapshot verified and restored from. */
  snapshotId: string | null
  /** `kopia snapshot verify --sources=<path>` of this source; null when it has no snapshot. */
  verify: {
    errorCount: number
    errors: string[]
    expectedFiles: number | null
    processedObjects: number | null
    readFiles: number | null
  } | null
  /**
   * The test restore: one file, unchanged since the snapshot started, picked at random, restored
   * with `kopia snapshot restore <root obj>/<file> <temp dir>` and compared by SHA-256 with the
   * live file. `skipped` when the source has no such file (empty, or everything changed since).
   */
  restore: {
    state: 'match' | 'mismatch' | 'failed' | 'skipped'
    file: string | null
    bytes: number | null
    sha256: string | null
    detail: string | null
  }
  ok: boolean
}

/** Result of {@link verifyBackups} (`homelab backup verify --json`). */
export interface VerifyReport {
  ok: boolean
  /** --verify-files-percent given to kopia. */
  percent: number
  sources: SourceVerify[]
  problems: string[]
}

const MARK = '@@homelab-verify '

/**
 * Verifies each backup source's newest snapshot on the host, as root through `homelab-kopia` (the
 * kopia wrapper nixos/backup.nix installs with the units' environment):
 * 1. `kopia snapshot verify --verify-files-percent=P --sources=<path> --json` (kopia
 *    cli/command_snapshot_verify.go) — structure, and P% of file contents downloaded and decrypted;
 * 2. a test restore of one file per source into a temp folder on the host (removed afterwards),
 *    compared by SHA-256 with the live file (a file not modified since the snapshot started).
 *
 * @param options.percent 0-100, share of file contents kopia reads
 * @throws HomelabError when the snapshot list cannot be read (sudo, homelab-kopia missing)
 */
export async function verifyBackups(options: {connection: BackupHost; settings: BackupSettings; percent: number; sources?: string[]}): Promise<VerifyReport> {
  const sources = options.sources ?? options.settings.sources
  const list = await options.connection.sudo('homelab-kopia snapshot list --json')
  if (list.exitCode !== 0)
    throw new HomelabError(`homelab-kopia snapshot list failed on the host (exit ${list.exitCode}): ${list.stderr.trim().split('\n').at(-1) ?? ''}`, {
      suggestions: ['homelab-kopia comes with nixos/backup.nix: deploy the host first'],
    })
  const latest = latestByPath(parseSnapshotList(list.stdout))

  const results = await Promise.all(
    sources.map(async (source): Promise<SourceVerify> => {
      const manifest = latest.get(source)
      if (!manifest?.rootEntry)
        return {
          ok: false,
          path: source,
          restore: {bytes: null, detail: 'no snapshot', file: null, sha256: null, state: 'skipped'},
          snapshotId: null,
          verify: null,
        }

      const q = shellQuote(source)
      const verify = await options.connection.sudo(`homelab-kopia snapshot verify --verify-files-percent=${options.percent} --sources=${q} --json`)
      let verifyResult: SourceVerify['verify']
      try {
        const parsed = parseSnapshotVerify(verify.stdout)
        verifyResult = {
          errorCount: parsed.errorCount,
          errors: parsed.errorStrings ?? [],
          expectedFiles: parsed.stats?.expectedTotalFileCount ?? null,
          processedObjects: parsed.stats?.processedObjectCount ?? null,
          readFiles: parsed.stats?.readFileCount ?? null,
        }
      } catch {
        const last = verify.stderr.trim().split('\n').at(-1) ?? `exit ${verify.exitCode}`
        verifyResult = {errorCount: 1, errors: [last], expectedFiles: null, processedObjects: null, readFiles: null}
      }

      const startEpoch = Math.floor(kopiaTime(manifest.startTime) / 1000)
      const script = [
        'set -u',
        `src=${q}; obj=${shellQuote(manifest.rootEntry.obj)}`,
        'tmp=$(mktemp -d); trap \'rm -rf "$tmp"\' EXIT',
        `file=$(cd "$src" 2>/dev/null && find . -type f ! -newermt @${startEpoch} -size -64M -print 2>/dev/null | shuf -n 1)`,
        `if [ -z "$file" ]; then echo "${MARK}none"; exit 0; fi`,
        'rel=${file#./}',
        `echo "${MARK}file $rel"`,
        `if ! homelab-kopia snapshot restore "$obj/$rel" "$tmp/restored" >"$tmp/out" 2>&1; then echo "${MARK}failed $(tail -n 1 "$tmp/out")"; exit 0; fi`,
        `echo "${MARK}live $(sha256sum <"$src/$rel" | cut -d' ' -f1)"`,
        `echo "${MARK}restored $(sha256sum <"$tmp/restored" | cut -d' ' -f1) $(stat -c %s "$tmp/restored")"`,
      ].join('\n')
      const r = await options.connection.sudo(script)
      const marks = new Map<string, string>()
      for (const line of r.stdout.split('\n')) {
        if (!line.startsWith(MARK)) continue
        const rest = line.slice(MARK.length)
        const space = rest.indexOf(' ')
        marks.set(space < 0 ? rest : rest.slice(0, space), space < 0 ? '' : rest.slice(space + 1))
      }

      const file = marks.get('file') ?? null
      let restore: SourceVerify['restore']
      if (marks.has('none')) restore = {bytes: null, detail: 'no file unchanged since the snapshot', file: null, sha256: null, state: 'skipped'}
      else if (marks.has('failed') || !marks.has('restored'))
        restore = {bytes: null, detail: marks.get('failed') || r.stderr.trim().split('\n').at(-1) || `exit ${r.exitCode}`, file, sha256: null, state: 'failed'}
      else {
        const [restoredHash, size] = marks.get('restored')!.split(' ')
        const liveHash = marks.get('live') ?? ''
        restore =
          restoredHash === liveHash
            ? {bytes: Number(size), detail: null, file, sha256: restoredHash, state: 'match'}
            : {bytes: Number(size), detail: `restored sha256 ${restoredHash} differs from the live file's ${liveHash}`, file, sha256: restoredHash, state: 'mismatch'}
      }

      return {
        ok: verifyResult.errorCount === 0 && (restore.state === 'match' || restore.state === 'skipped'),
        path: source,
        restore,
        snapshotId: manifest.id,
        verify: verifyResult,
      }
    }),
  )

  const problems: string[] = []
  for (const s of results) {
    if (!s.verify) problems.push(`${s.path}: no snapshot to verify`)
    else for (const e of s.verify.errors.length > 0 ? s.verify.errors : s.verify.errorCount > 0 ? [`${s.verify.errorCount} errors`] : []) problems.push(`${s.path}: kopia verify: ${e}`)
    if (s.restore.state === 'failed' || s.restore.state === 'mismatch') problems.push(`${s.path}: test restore of ${s.restore.file ?? 'a file'} ${s.restore.state}: ${s.restore.detail}`)
  }

  return {ok: problems.length === 0, percent: options.percent, problems, sources: results}
}
