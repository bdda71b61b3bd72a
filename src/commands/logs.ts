import {Args, Flags} from '@oclif/core'

import {HomelabCommand} from '../base-command.js'
import {connectionFlags} from '../connection-flags.js'
import {UsageError} from '../lib/errors.js'

/**
 * `homelab logs APP --json` (schemas/logs.schema.json): every line kubectl printed, split into
 * pod, container and text (`[pod/NAME/CONTAINER] text`); kubectl's stderr lines and exit status.
 */
export interface LogsResult {
  schemaVersion: 1
  app: string
  host: string
  exitCode: number
  lines: Array<{pod: string; container: string; text: string}>
  stderr: string[]
}

/**
 * `homelab logs APP`: the logs of every pod of the app's workloads, through `k3s kubectl logs`
 * on the k3s server host (or --host), each line prefixed `[pod/NAME/CONTAINER]` as
 * `kubectl logs --prefix` does. `-f` follows until Ctrl-C, which ends the remote kubectl too.
 * Exit: kubectl's status; 130 after Ctrl-C; 2 host unreachable; 3 usage (an unknown app, a bad name).
 */
export default class Logs extends HomelabCommand {
  static override summary = "Show (or follow) the logs of an app's pods, through k3s kubectl on the host."

  static override description = `Reads the app's Deployments, StatefulSets and DaemonSets from its manifests (their namespace and spec.selector) and runs, over one SSH connection, \`k3s kubectl logs -n NAMESPACE -l SELECTOR --prefix\` for each: every line starts with [pod/NAME/CONTAINER], all containers unless --container.
With -f it follows until Ctrl-C; the remote kubectl runs in a process group of its own that ends with the connection, so nothing keeps running on the host.
kubectl runs through sudo when the SSH user cannot read /etc/rancher/k3s/k3s.yaml (the sudo password from HOMELAB_SUDO_PASSWORD or a prompt).
App, container and namespace names are checked against strict patterns before anything runs on the host.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> immich --since 1h', description: 'The last hour of every immich pod.'},
    {command: '<%= config.bin %> <%= command.id %> immich -f --container server', description: 'Follow one container until Ctrl-C.'},
    {command: '<%= config.bin %> <%= command.id %> immich --previous', description: 'The previous (crashed) containers of the app.'},
    {command: "<%= config.bin %> <%= command.id %> immich --since 1h --json | jq -r '.lines[] | select(.container == \"server\") | .text'", description: 'As JSON (schemaVersion 1; not with -f).'},
  ]

  static override enableJsonFlag = true

  static override args = {
    app: Args.string({description: 'app name (its folder under the apps folder)', ignoreStdin: true, required: true}),
  }

  static override flags = {
    container: Flags.string({char: 'c', description: 'only this container of each pod (default: all containers)'}),
    since: Flags.string({description: 'only lines newer than this: 30s, 15m, 1h, 2d'}),
    follow: Flags.boolean({char: 'f', description: 'keep streaming new lines until Ctrl-C', default: false}),
    previous: Flags.boolean({description: 'the logs of the previous instance of each container (after a crash or restart)', default: false}),
    tail: Flags.integer({description: 'lines per container to show first (-1: all)', default: -1, min: -1}),
    host: Flags.string({description: 'host in homelab.yaml to run kubectl on (default: the k3s server)', exclusive: ['on']}),
    on: Flags.string({description: 'the host as --on @tag or name (homelab.yaml tags; must select exactly one host)', exclusive: ['host']}),
    ...connectionFlags,
  }

  async run(): Promise<LogsResult | void> {
    const {args, flags} = await this.parse(Logs)
    if (flags.follow && this.jsonEnabled()) throw new UsageError('-f cannot be combined with --json (JSON is printed once the logs end)')
    const {assertRemoteName, parseSince} = await import('../lib/diagnose/names.js')
    assertRemoteName('app', args.app, 'APP')
    if (flags.container !== undefined) assertRemoteName('container', flags.container, '--container')
    const since = flags.since === undefined ? undefined : parseSince(flags.since)
    const homelab = await this.homelab(flags.repo)
    const [{appLogsCommand, appWorkloads}, {kubectlNeedsSudo}, {oneHost}, {openHostConnection}, {streamOnHost}] = await Promise.all([
      import('../lib/diagnose/logs.js'),
      import('../lib/diagnose/run.js'),
      import('../lib/config/one-host.js'),
      import('../ui/host-connection.js'),
      import('../stream-command.js'),
    ])
    const workloads = await appWorkloads(homelab, args.app)
    const command = appLogsCommand(workloads, {container: flags.container, follow: flags.follow, previous: flags.previous, since: since?.kubectl, tail: flags.tail})
    const host = oneHost(homelab, {host: flags.host, on: flags.on}, 'logs')
    const connection = await openHostConnection({...this.hostConnectionOptions(flags), homelab, host})
    try {
      const sudo = await kubectlNeedsSudo(connection)
      const collect = this.jsonEnabled() ? {stderr: [] as string[], stdout: [] as string[]} : undefined
      const status = await streamOnHost(connection, command, {collect, sudo})
      if (status !== 0) process.exitCode = status
      if (collect) {
        const lines = collect.stdout.map((l) => {
          const m = /^\[pod\/([^/\]]+)\/([^\]]+)\] ?(.*)$/.exec(l)
          return m ? {container: m[2], pod: m[1], text: m[3]} : {container: '', pod: '', text: l}
        })
        return {app: args.app, exitCode: status, host: host.name, lines, schemaVersion: 1, stderr: collect.stderr}
      }
    } finally {
      await connection.close()
    }
  }
}
