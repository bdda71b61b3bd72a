import {Args, Flags} from '@oclif/core'

import {HomelabCommand} from '../base-command.js'
import {connectionFlags} from '../connection-flags.js'
import {oneHost} from '../lib/config/one-host.js'
import {UsageError} from '../lib/errors.js'
import type {SuspendOutcome} from '../lib/flux/suspend.js'
import {colors} from '../ui/color.js'

/**
 * `homelab suspend --json` (schemas/suspend.schema.json): `{schemaVersion: 1, results: [{kind,
 * namespace, name, outcome: "suspended"|"already-suspended"}]}`.
 */
export interface SuspendResult {
  schemaVersion: 1
  results: SuspendOutcome[]
}

export default class Suspend extends HomelabCommand {
  static override summary = 'Stop Flux reconciling a Kustomization (as flux suspend kustomization): spec.suspend set to true.'

  static override description = `Patches spec.suspend of each named object to true with \`k3s kubectl patch --type merge\` over the same SSH connection as homelab status (on the k3s server, or the host of --host/--on). A suspended object keeps what it applied but Flux neither applies new commits nor corrects drift until homelab resume. NAME is the object's name or NAMESPACE/NAME; --all takes every object of the kind in every namespace. Objects already suspended are reported and left alone.
Exit status: 0 done, 1 a patch failed, 2 host unreachable, 3 usage.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> apps', description: 'Hold the apps Kustomization, e.g. while restoring a backup by hand.'},
    {command: '<%= config.bin %> <%= command.id %> --kind helmrelease monitoring/kube-prometheus-stack --json', description: 'A HelmRelease, the outcome as JSON.'},
    {command: '<%= config.bin %> <%= command.id %> --all', description: 'Every Kustomization.'},
  ]

  static override enableJsonFlag = true

  static override args = {
    names: Args.string({ignoreStdin: true, description: 'objects: NAME or NAMESPACE/NAME', required: false}),
  }

  static override strict = false

  static override flags = {
    all: Flags.boolean({description: 'every object of the kind, in every namespace', default: false}),
    kind: Flags.string({description: 'the kind of the objects', options: ['kustomization', 'helmrelease', 'gitrepository'], default: 'kustomization'}),
    host: Flags.string({description: 'the k3s host (name in homelab.yaml; default: the k3s server)', exclusive: ['on']}),
    on: Flags.string({description: 'the k3s host as a name, glob or @tag of homelab.yaml (must select one host)', exclusive: ['host']}),
    ...connectionFlags,
  }

  async run(): Promise<SuspendResult> {
    const {argv, flags} = await this.parse(Suspend)
    const names = [...new Set(argv as string[])]
    if (names.length === 0 && !flags.all) throw new UsageError('name at least one object, or pass --all', {suggestions: ['homelab suspend apps', 'homelab suspend --all']})
    if (names.length > 0 && flags.all) throw new UsageError('give names or --all, not both')
    const homelab = await this.homelab(flags.repo)
    const host = oneHost(homelab, {host: flags.host, on: flags.on}, 'suspend')
    const [{getFluxState}, {resolveSuspendTargets, SUSPEND_KINDS, suspendObjects}, {openHostConnection}] = await Promise.all([
      import('../lib/flux/kubectl.js'),
      import('../lib/flux/suspend.js'),
      import('../ui/host-connection.js'),
    ])
    const kind = SUSPEND_KINDS[flags.kind]
    const connection = await openHostConnection({...this.hostConnectionOptions(flags), homelab, host})
    try {
      const state = await getFluxState({connection, kinds: [kind]})
      const targets = resolveSuspendTargets(state, kind, names, {all: flags.all})
      const results = await suspendObjects(connection, targets)
      if (!this.jsonEnabled()) {
        const c = colors()
        if (results.length === 0) this.log(`no ${kind} to suspend`)
        for (const r of results) this.log(`${c.yellow('‖')} ${r.kind} ${r.namespace}/${r.name}: ${r.outcome === 'suspended' ? 'suspended' : 'already suspended'}`)
      }

      return {results, schemaVersion: 1}
    } finally {
      await connection.close()
    }
  }
}
