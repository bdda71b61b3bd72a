import {HomelabCommand} from '../../base-command.js'
import type {AppSummary} from '../../lib/app/list.js'
import {colors} from '../../ui/color.js'
import {renderTable} from '../../ui/table.js'

/** What `homelab app list --json` prints: `{apps: AppSummary[]}` in the apps kustomization's order. */
export interface AppListResult {
  apps: AppSummary[]
}

export default class AppList extends HomelabCommand {
  static override summary = 'List the apps of the homelab, read from the tree.'

  static override description = `One row per folder the apps kustomization lists: namespace, image, port, the hostPath volume bound to its claim (path and size), its public hostnames (cloudflared ingress rules pointing at its Services), whether the volume is a Kopia backup source (the storage file), and whether it has a secret. Nothing is read from the cluster.

--json prints {apps: [{name, namespace, kind, image, port, volume: {path, size} | null, hostnames: [], backedUp, secret}]}.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'The apps as a table.'},
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'The same as JSON, for scripts.'},
  ]

  static override enableJsonFlag = true

  async run(): Promise<AppListResult> {
    const {flags} = await this.parse(AppList)
    const homelab = await this.homelab(flags.repo)
    const {listApps} = await import('../../lib/app/list.js')
    const apps = await listApps({homelab})
    if (!this.jsonEnabled()) {
      const c = colors()
      const yesNo = (v: boolean) => (v ? c.green('yes') : c.dim('no'))
      this.log(
        renderTable(
          ['NAME', 'NAMESPACE', 'IMAGE', 'PORT', 'VOLUME', 'HOSTNAME', 'BACKED UP', 'SECRET'],
          apps.map((a) => [
            a.name,
            a.namespace ?? '-',
            a.image ?? '-',
            a.port === null ? '-' : String(a.port),
            a.volume ? `${a.volume.path} (${a.volume.size ?? '?'})` : '-',
            a.hostnames.length > 0 ? a.hostnames.join(', ') : '-',
            a.volume || a.backedUp ? yesNo(a.backedUp) : c.dim('-'),
            yesNo(a.secret),
          ]),
        ),
      )
    }

    return {apps}
  }
}
