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

  static override description = `Over one SSH connection (host key pinned, host lock taken): lists the generations, runs \`nixos-rebuild switch --rollback\` (with --to N: \`nix-env --profile /nix/var/nix/profiles/system --switch-generation N\` and that generation's \`bin/switch-to-configuration switch\`) detached on the host while following its output, then confirms on a new connection that the host answers, and reports the old and new generation and the configuration revision it now runs.
Exit status: 0 done, 1 a step failed, 2 host unreachable or host key refused, 3 usage.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> --host azalab-0', description: 'Ask, then go back one generation on azalab-0.'},
    {command: 'echo "$SUDO_PW" | <%= config.bin %> <%= command.id %> --yes --sudo-password-stdin --json', description: 'Non-interactive, JSON report.'},
    {command: '<%= config.bin %> <%= command.id %> --host azalab-0 --to 41', description: 'Switch azalab-0 to generation 41 (homelab generations lists them).'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    host: Flags.string({description: 'roll back only this host (default: all, in parallel)', exclusive: ['on']}),
    on: Flags.string({description: 'roll back these hosts: names, globs and @tags from homelab.yaml, comma-separated (e.g. @storage,azalab-0)', exclusive: ['host']}),
    to: Flags.integer({description: 'switch to this generation number (see homelab generations) instead of the previous one; one host only', min: 1}),
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
    const hosts = deploy.selectHosts(homelab, {host: flags.host, on: flags.on})
    if (flags.to !== undefined && hosts.length !== 1)
      throw new UsageError(`--to ${flags.to} names a generation of one host, and ${hosts.map((h) => h.name).join(', ')} are selected`, {suggestions: ['add --host NAME']})
    if (!flags.yes) {
      const {confirm} = await import('@inquirer/prompts')
      if (!(await confirm({default: false, message: `Switch ${hosts.map((h) => h.name).join(', ')} to ${flags.to === undefined ? 'the previous generation' : `generation ${flags.to}`}?`}))) throw new UsageError('cancelled')
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
      rollbackTo: flags.to,
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
