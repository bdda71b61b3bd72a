import {Args, Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import {connectionFlags} from '../../connection-flags.js'
import type {AsideFolder, RestoreResult, SnapshotSummary} from '../../lib/backup/restore/index.js'
import {HomelabError, UsageError} from '../../lib/errors.js'
import {colors} from '../../ui/color.js'

/** `--list --json`: the source's snapshots, newest first. */
export interface RestoreListResult {
  source: string
  app: string | null
  snapshots: Omit<SnapshotSummary, 'rootObject'>[]
}

/** `--prune-aside --json`: the aside folders found and removed. */
export interface RestorePruneResult {
  source: string
  pruned: AsideFolder[]
  ok: boolean
}

/**
 * `homelab backup restore SOURCE`: restore a Kopia snapshot of an app (or another backup source)
 * into a folder on the host, or in place with the app scaled down, its data moved aside and its
 * databases re-imported.
 *
 * `--json` prints the {@link RestoreResult}: `{source, app, snapshot{id, time, size, files},
 * mode: "to"|"in-place", target, aside, scaled[{workload, from, to}], flux{suspended[{namespace,
 * name}], resumed[…]}, reimported[{kind:
 * "sqlite"|"postgres", database, dump}], failedStep, state, ok}`; with `--list` a
 * {@link RestoreListResult} `{source, app, snapshots[{id, time, endTime, size, files}]}`; with
 * `--prune-aside` a {@link RestorePruneResult} `{source, pruned[{path, size, files}], ok}`.
 * Exit 0 restored (or listed, pruned), 1 the restore failed (the data is put back, `state` says
 * where the app is), 2 host unreachable, 3 usage (no --yes without a terminal, a source that
 * restores only with --to, a non-empty --to folder, no such snapshot).
 */
export default class BackupRestore extends HomelabCommand {
  static override summary = 'Restore a snapshot of an app or backup source: into a folder on the host (--to), or in place with the app scaled down.'

  static override description = `SOURCE is an app of nixos/storage.json (vaultwarden) or a backup source path (/srv/vaultwarden, /etc/nixos). The snapshot is the newest, or --snapshot ID (a unique prefix is enough), or the newest at or before --at TIME. Everything runs on the host with sudo over one SSH connection, through homelab-kopia (the repository password stays on the host).
  --to PATH   restores into PATH on the host (a new or empty folder, never a live source) and prints where; nothing live is touched
  in place    shows what will be replaced and asks (--yes without a terminal), then: suspends the Flux Kustomizations that applied them (so Flux does not scale them back up), scales the app's Deployments and StatefulSets to 0 (k3s kubectl), waits until their pods are gone (terminating ones included), moves <path> aside to <path>.aside-<UTC time>, restores the snapshot into <path>, sets its owner and mode from storage.json, re-imports the capture's dumps (sqlite: each .homelab-backup/sqlite/<db> copied over <db>; postgres: the Postgres workload started alone, then pg_restore --clean --single-transaction of .homelab-backup/postgres/<db>.pgdump streamed into its pod), scales everything back, waits until Ready and resumes the Kustomizations it suspended
Any failure after the move puts the previous data back (the same folder, renamed back) and scales back; the last line says the state the app is in, exit 1. Sources that are no app folder (/etc/nixos) restore only with --to. --prune-aside removes the <path>.aside-* folders kept by earlier restores. The sudo password comes from --sudo-password-stdin, HOMELAB_SUDO_PASSWORD or a prompt.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> vaultwarden --list', description: 'The snapshots of vaultwarden, newest first.'},
    {command: '<%= config.bin %> <%= command.id %> /etc/nixos --at 2026-01-20 --to /var/tmp/nixos-0120', description: 'The host configuration as it was on January 20, into a folder to compare.'},
    {command: '<%= config.bin %> <%= command.id %> vaultwarden', description: 'Put vaultwarden back to its newest snapshot, in place (asks first).'},
    {command: '<%= config.bin %> <%= command.id %> immich --snapshot 3f2a --yes --json', description: 'In place from a given snapshot without a terminal, JSON result.'},
    {command: '<%= config.bin %> <%= command.id %> vaultwarden --prune-aside --yes', description: 'Remove the folders earlier in-place restores kept aside.'},
  ]

  static override enableJsonFlag = true

  static override args = {
    source: Args.string({description: 'an app name of the storage file, or a backup source path', ignoreStdin: true, required: true}),
  }

  static override flags = {
    list: Flags.boolean({description: 'list the source\'s snapshots (id, time, size, files), newest first; change nothing', exclusive: ['to', 'snapshot', 'at', 'prune-aside', 'yes']}),
    snapshot: Flags.string({description: 'the snapshot ID to restore, or a prefix matching one (default: the newest)', exclusive: ['at', 'prune-aside']}),
    at: Flags.string({description: 'restore the newest snapshot at or before this time: RFC 3339 or a date (its end, UTC)', helpValue: 'TIME', exclusive: ['prune-aside']}),
    to: Flags.string({description: 'restore into this folder on the host (new or empty) instead of in place', helpValue: 'PATH', exclusive: ['prune-aside']}),
    'prune-aside': Flags.boolean({description: 'remove the <path>.aside-* folders earlier in-place restores kept'}),
    yes: Flags.boolean({char: 'y', description: 'do not ask before an in-place restore or --prune-aside (required without a terminal)'}),
    host: Flags.string({description: 'name of the host in homelab.yaml (default: the first)'}),
    'sudo-password-stdin': Flags.boolean({description: 'read the sudo password from the first line of stdin', default: false}),
    ...connectionFlags,
  }

  async run(): Promise<RestoreResult | RestoreListResult | RestorePruneResult> {
    const {args, flags} = await this.parse(BackupRestore)
    const homelab = await this.homelab(flags.repo)
    const [{loadBackupSettings, pickHost}, restore, {loadStorageFile}] = await Promise.all([
      import('../../lib/backup/index.js'),
      import('../../lib/backup/restore/index.js'),
      import('../../lib/config/load.js'),
    ])
    const settings = await loadBackupSettings(homelab)
    const source = restore.resolveRestoreSource(await loadStorageFile(homelab), args.source, settings.storageFile)
    const inPlace = !flags.list && !flags['prune-aside'] && flags.to === undefined
    // Decided before connecting: nothing changes on a refused run.
    const target = flags.to === undefined ? undefined : restore.checkRestoreTarget(flags.to, settings.sources)
    if (inPlace && !source.app)
      throw new UsageError(`${source.path} is not an app folder: it restores only with --to PATH`, {
        suggestions: [`e.g. homelab backup restore ${source.path} --to /var/tmp/restore-${source.path.split('/').filter(Boolean).join('-')}, then copy back what you need`],
      })
    if ((inPlace || flags['prune-aside']) && !flags.yes && !this.canPrompt())
      throw new UsageError(`--yes is required to ${flags['prune-aside'] ? 'remove aside folders' : 'restore in place'} when not running in a terminal${this.jsonEnabled() ? ' (or with --json)' : ''}; nothing was changed`)
    const at = flags.at === undefined ? undefined : restore.parseAtTime(flags.at)

    const host = pickHost(homelab, flags.host)
    const {openHostConnection} = await import('../../ui/host-connection.js')
    const connectionOptions = this.hostConnectionOptions(flags)
    if (flags['sudo-password-stdin']) {
      const {readStdinLine} = await import('../../ui/deploy-callbacks.js')
      connectionOptions.env = {...process.env, HOMELAB_SUDO_PASSWORD: await readStdinLine(process.stdin)}
    }

    const connection = await openHostConnection({...connectionOptions, homelab, host})
    const c = colors()
    const ui = await import('../../ui/backup-restore.js')
    const confirm = async (message: string) => {
      if (flags.yes) return
      const {confirm: ask} = await import('@inquirer/prompts')
      if (!(await ask({default: false, message}))) throw new UsageError('not confirmed: nothing was changed')
    }

    try {
      if (flags['prune-aside']) {
        const folders = await restore.listAsideFolders(connection, source.path)
        if (!this.jsonEnabled()) this.log(ui.renderAsideList(source.path, folders))
        if (folders.length > 0) {
          await confirm(`Remove ${folders.length} folder${folders.length === 1 ? '' : 's'} kept aside?`)
          await restore.removeAsideFolders(connection, source.path, folders.map((f) => f.path))
          if (!this.jsonEnabled()) this.log(`${c.green('✓')} removed ${folders.map((f) => f.path).join(', ')}`)
        }

        return {ok: true, pruned: folders, source: source.path}
      }

      const snapshots = await restore.listSourceSnapshots(connection, source.path)
      if (flags.list) {
        if (!this.jsonEnabled()) this.log(ui.renderSnapshotList(source.path, snapshots))
        return {app: source.app?.name ?? null, snapshots: snapshots.map(({rootObject: _obj, ...s}) => s), source: source.path}
      }

      const snapshot = restore.pickSnapshot(snapshots, source.path, {at, id: flags.snapshot})
      let result: RestoreResult
      if (target !== undefined) {
        if (!this.jsonEnabled()) this.log(c.dim(`restoring snapshot ${snapshot.id} (${snapshot.time}) of ${source.path} into ${target} on ${host.name}…`))
        result = await restore.restoreToFolder({connection, snapshot, source, target})
      } else {
        const plan = await restore.planInPlace({app: source.app!, connection, snapshot})
        if (!this.jsonEnabled()) this.log(ui.renderInPlacePlan(plan, host.name, c))
        await confirm(`Restore ${source.app!.name} in place from snapshot ${snapshot.id}?`)
        result = await restore.restoreInPlace({connection, onStep: (text) => this.jsonEnabled() || this.log(c.dim(`… ${text}`)), plan})
      }

      if (!result.ok) {
        if (!this.jsonEnabled()) throw new HomelabError(result.state)
        process.exitCode = 1
      } else if (!this.jsonEnabled()) this.log(`${c.green('✓')} ${result.state}`)
      return result
    } finally {
      await connection.close()
    }
  }
}
