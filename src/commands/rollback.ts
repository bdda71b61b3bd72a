import {Flags} from '@oclif/core'

import {HomelabCommand} from '../base-command.js'
import {connectionFlags, connectionSettings} from '../connection-flags.js'
import type {DeployHostResult} from '../lib/deploy/index.js'
import {UsageError} from '../lib/errors.js'
import {colors} from '../ui/color.js'

/** `homelab rollback --json` output: one DeployHostResult per host, `action: "rollback"` (see `homelab deploy`). */
export interface RollbackResult {
  hosts: DeployHostResult[]
}

export default class Rollback extends HomelabCommand {
  static override summary = 'Switch a host back to its previous NixOS generation, with the same checks as deploy.'

  static override description = `Over one SSH connection (host key pinned, host lock taken): lists the generations, runs \`nixos-rebuild switch --rollback\` detached on the host while following its output, then confirms on a new connection that the host answers, and reports the old and new generation and the configuration revision it now runs.
Exit status: 0 done, 1 a step failed, 2 host unreachable or host key refused, 3 usage.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> --host azalab-0', description: 'Ask, then go back one generation on azalab-0.'},
    {command: 'echo "$SUDO_PW" | <%= config.bin %> <%= command.id %> --yes --sudo-password-stdin --json', description: 'Non-interactive, JSON report.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    host: Flags.string({description: 'roll back only this host (default: all, in parallel)'}),
    yes: Flags.boolean({char: 'y', description: 'do not ask (needed without a terminal)', default: false}),
    'sudo-password-stdin': Flags.boolean({description: 'read the sudo password from the first line of stdin', default: false}),
    ...connectionFlags,
  }

  async run(): Promise<RollbackResult> {
    const {flags} = await this.parse(Rollback)
    const c = colors()
    const out = (line: string) => !this.jsonEnabled() && this.log(line)
    if (!flags.yes && !this.canPrompt()) throw new UsageError('--yes is required when not running in a terminal (rollback changes the running system)')
    const homelab = await this.homelab(flags.repo)
    const deploy = await import('../lib/deploy/index.js')
    const ui = await import('../ui/deploy.js')
    const hosts = deploy.selectHosts(homelab, {host: flags.host})
    if (!flags.yes) {
      const {confirm} = await import('@inquirer/prompts')
      if (!(await confirm({default: false, message: `Switch ${hosts.map((h) => h.name).join(', ')} to the previous generation?`}))) throw new UsageError('cancelled')
    }

    const {deployCallbacks, readStdinLine} = await import('../ui/deploy-callbacks.js')
    const stdinPassword = flags['sudo-password-stdin'] ? await readStdinLine(process.stdin) : undefined
    const width = hosts.length > 1 ? Math.max(...hosts.map((h) => h.name.length)) : 0
    const results = await deploy.deployHosts({
      ...deployCallbacks({canPrompt: this.canPrompt(), env: process.env, stdinPassword, yes: true}),
      ...connectionSettings(flags),
      action: 'rollback',
      commit: '',
      confirmTimeoutSeconds: 60,
      env: process.env,
      holder: deploy.lockHolder(process.env),
      homelab,
      hosts,
      onEvent(e) {
        const line = ui.renderEvent(e, c, width)
        if (line !== undefined) out(line)
      },
    })
    for (const r of results) out(ui.renderHostReport(r, c))
    if (results.length > 1) out(`\n${ui.renderSummary(results, c)}`)
    ui.failIfAny(results, {hosts: results})
    return {hosts: results}
  }
}
