import type {UnitRunResult} from '../lib/backup/run-unit.js'
import type {BackupSettings} from '../lib/backup/settings.js'
import type {Homelab} from '../lib/config/load.js'
import {colors} from './color.js'
import type {HostConnectionOptions} from './host-connection.js'

/** Options for {@link watchBackupUnit}. */
export interface WatchBackupUnitOptions {
  homelab: Homelab
  /** `--host`: a host name of homelab.yaml; undefined for the first host. */
  hostName: string | undefined
  /**
   * The systemd unit to start, chosen once the backup settings are loaded (it may throw, e.g. a
   * UsageError for a `--source` that is not a backup source).
   */
  unit(settings: BackupSettings): string
  /** How to open the host connection: prompts, the connection flags, progress (see ui/host-connection.ts). */
  connection: HostConnectionOptions
  /** `--json`: the journal lines go to stderr, nothing to `log`. */
  json: boolean
  /** Prints one line of human output (the command's `this.log`). */
  log(line: string): void
}

/**
 * What `backup run` and `backup sync` do with a person watching: loads the backup settings, picks
 * the host, opens its SSH connection (sudo password from HOMELAB_SUDO_PASSWORD or a prompt, see
 * ui/host-connection.ts), says `starting <unit> on <host>…`, starts the unit with
 * runBackupUnit (lib/backup/run-unit.ts) showing its journal live (dim `│ line`s; on stderr under `--json`, so stdout stays JSON), prints the
 * rendered result (ui/backup.ts renderUnitRun) and closes the connection.
 *
 * @returns the unit's result; a failed unit is a result (`result: "failed"`), not an error
 * @throws ConfigError for a missing or invalid backup file or an unknown `--host`; whatever
 *   `unit` throws; HostUnreachableError (exit 2) when the host cannot be reached
 */
export async function watchBackupUnit(options: WatchBackupUnitOptions): Promise<UnitRunResult> {
  const [{loadBackupSettings, pickHost, runBackupUnit}, {openHostConnection}] = await Promise.all([import('../lib/backup/index.js'), import('./host-connection.js')])
  const settings = await loadBackupSettings(options.homelab)
  const unit = options.unit(settings)
  const host = pickHost(options.homelab, options.hostName)
  const connection = await openHostConnection({...options.connection, homelab: options.homelab, host})
  try {
    const c = colors()
    if (!options.json) options.log(c.dim(`starting ${unit} on ${host.name}…`))
    const result = await runBackupUnit({connection, onLine: (line) => (options.json ? process.stderr.write(`${line}\n`) : options.log(c.dim(`│ ${line}`))), settings, unit})
    if (!options.json) {
      const {renderUnitRun} = await import('./backup.js')
      options.log(renderUnitRun(result, c))
    }

    return result
  } finally {
    await connection.close()
  }
}
