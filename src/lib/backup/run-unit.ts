import {HomelabError} from '../errors.js'
import {type BackupHost, shellQuote, systemdEscapePath} from './host.js'
import type {BackupSettings} from './settings.js'
import {type LastRunSource, type LastSync, readHostBackupState} from './state-files.js'

/**
 * Result of {@link runBackupUnit} (`homelab backup run|sync --json`). Times RFC 3339 UTC,
 * durations in ms, sizes in bytes.
 */
export interface UnitRunResult {
  /** The systemd unit started, e.g. "kopia-backup.service". */
  unit: string
  /** success; failed (the unit failed); skipped (exit 75: another run holds the lock). */
  result: 'success' | 'failed' | 'skipped'
  /** Exit code of `systemctl start`. */
  exitCode: number
  /** The unit's main process exit status (systemctl show ExecMainStatus), when known. */
  execMainStatus: number | null
  startedAt: string
  endedAt: string
  durationMs: number
  /** For kopia-backup units: the sources this run snapshotted (entries of last-run.json it wrote). */
  snapshots: LastRunSource[]
  /** For kopia-r2-sync: the last-sync.json this run wrote. */
  sync: LastSync | null
}

const DONE = '@@homelab-unit-done '

/** The unit `homelab backup run` starts: kopia-backup.service, or kopia-backup-source@<escaped>.service for one source. */
export function backupUnitFor(source: string | undefined): string {
  return source === undefined ? 'kopia-backup.service' : `kopia-backup-source@${systemdEscapePath(source)}.service`
}

/** What {@link startUnit} reports: how the unit's start went. Times epoch ms. */
export interface UnitStart {
  unit: string
  /** success; failed (the unit failed); skipped (exit 75: the script gave way to a lock holder). */
  result: 'success' | 'failed' | 'skipped'
  /** Exit code of `systemctl start`. */
  exitCode: number
  /** The unit's main process exit status (systemctl show ExecMainStatus), when known. */
  execMainStatus: number | null
  started: number
  ended: number
  /** The host's clock when the unit was started (epoch ms, whole seconds): what it wrote after that is this run's. */
  sinceMs: number
}

/**
 * Starts a unit with sudo (`systemctl start`, which waits for a oneshot to finish) and streams
 * its journal live (`journalctl -f -o cat --since @<start> -u UNIT`) to `onLine`.
 *
 * @throws HomelabError when the unit is not installed (systemctl exit 5) or the wrapper itself
 *   fails (sudo refused, no systemctl); the transport's errors
 */
export async function startUnit(options: {connection: BackupHost; unit: string; onLine?(line: string): void}): Promise<UnitStart> {
  const unit = shellQuote(options.unit)
  const script = [
    'since=$(date +%s)',
    `journalctl -f -o cat --since "@$since" -u ${unit} &`,
    'jp=$!',
    `rc=0; systemctl start ${unit} || rc=$?`,
    // Let the journal catch the last lines, then stop following.
    'sleep 1; kill "$jp" 2>/dev/null; wait "$jp" 2>/dev/null',
    `echo "${DONE}rc=$rc since=$since"`,
    `systemctl show ${unit} -p Result -p ExecMainStatus`,
  ].join('\n')
  const started = Date.now()
  let done = false
  const tail: string[] = []
  const r = await options.connection.sudo(script, {
    onStdout(line) {
      if (line.startsWith(DONE)) done = true
      if (done) tail.push(line)
      else options.onLine?.(line)
    },
  })
  const ended = Date.now()
  if (!done) throw new HomelabError(`starting ${options.unit} failed: ${r.stderr.trim().split('\n').at(-1) || `exit ${r.exitCode}`}`)

  const marker = /rc=(\d+) since=(\d+)/.exec(tail[0] ?? '')
  const exitCode = Number(marker?.[1] ?? r.exitCode)
  const sinceMs = Number(marker?.[2] ?? Math.floor(started / 1000)) * 1000
  const statusLine = tail.find((l) => l.startsWith('ExecMainStatus='))
  const execMainStatus = statusLine && statusLine.length > 'ExecMainStatus='.length ? Number(statusLine.split('=')[1]) : null
  // systemctl(1): exit 5 is "unit not installed".
  if (exitCode === 5)
    throw new HomelabError(`${options.unit} is not installed on the host`, {
      suggestions: ['nixos/backup.nix declares it: deploy the host with `homelab deploy` first'],
    })
  const result: UnitStart['result'] = execMainStatus === 75 ? 'skipped' : exitCode === 0 ? 'success' : 'failed'
  return {ended, execMainStatus, exitCode, result, sinceMs, started, unit: options.unit}
}

/**
 * Starts a backup unit with {@link startUnit} (journal streamed live to `onLine`) and afterwards
 * reads what the run wrote: the new snapshots from last-run.json (backup units) or
 * last-sync.json (kopia-r2-sync).
 *
 * @param options.unit "kopia-backup.service", "kopia-backup-source@….service" or "kopia-r2-sync.service"
 * @param options.onLine each journal line as it arrives
 * @throws HomelabError when the unit is not installed (systemctl exit 5) or the wrapper itself fails
 *   (sudo refused, no systemctl); the transport's errors
 */
export async function runBackupUnit(options: {connection: BackupHost; settings: BackupSettings; unit: string; onLine?(line: string): void}): Promise<UnitRunResult> {
  const {ended, execMainStatus, exitCode, result, sinceMs, started} = await startUnit(options)
  const state = await readHostBackupState({connection: options.connection, stateDir: options.settings.stateDir, storageRoot: options.settings.storageRoot})
  const isSync = options.unit.startsWith('kopia-r2-sync')
  const snapshots = isSync ? [] : (state.lastRun?.sources ?? []).filter((s) => Date.parse(s.runStart) >= sinceMs - 1000)
  const sync = isSync && state.lastSync && Date.parse(state.lastSync.start) >= sinceMs - 1000 ? state.lastSync : null
  return {
    durationMs: ended - started,
    endedAt: new Date(ended).toISOString(),
    execMainStatus,
    exitCode,
    result,
    snapshots,
    startedAt: new Date(started).toISOString(),
    sync,
    unit: options.unit,
  }
}
