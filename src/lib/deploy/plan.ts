import type {HostConfig} from '../config/schema.js'
import {shellJoin} from '../ssh/shell.js'
import {DEPLOY_KEY_PUBLIC_COMMAND} from './fetch-check.js'
import {NIX_FLAGS} from './nix.js'
import {
  buildCommand,
  cancelDetached,
  CURRENT_SYSTEM,
  DETECT_SYSTEMD,
  diffClosuresCommand,
  flakeUpdateAsRoot,
  followCommand,
  lockCommand,
  lockPath,
  PENDING_ROLLBACKS,
  rebuildCommand,
  readFlakeLockCommand,
  rollbackScript,
  startDetached,
} from './remote.js'
import type {RebuildAction} from './types.js'

/** One planned step: what it does and the exact remote commands (`[root] ` = run as root through sudo). */
export interface PlannedStep {
  step: string
  /** `local`: on this machine; `host`: on the main connection; `confirm`: on the new connection. */
  where: 'local' | 'host' | 'confirm'
  commands: string[]
}

/**
 * The steps and remote commands of a deploy (or rollback) of one host, for `--dry-run`: nothing
 * is contacted. Values only known at run time appear as `<…>` placeholders.
 */
export function planHost(options: {host: HostConfig; action: RebuildAction | 'rollback'; confirmTimeoutSeconds: number; holder: string}): PlannedStep[] {
  const {host} = options
  // Shown unquoted: at run time each runs as `sudo -k -S -p '' -- sh -c '<command>'` (or `sudo -n`).
  const sudo = (cmd: string) => `[root] ${cmd}`
  const name = 'homelab-deploy-<run id>'
  const rollbackName = 'homelab-rollback-<run id>'
  const steps: PlannedStep[] = [
    {commands: [`ssh ${host.ssh} (resolved through ~/.ssh/config; host key checked against known_hosts)`], step: 'connect', where: 'host'},
    {commands: [lockCommand(lockPath(host.flakeDir), options.holder), `${PENDING_ROLLBACKS}   (refused while an earlier run's magic rollback is running)`], step: 'lock', where: 'host'},
    {
      commands: [`${sudo(cancelDetached('<each pending homelab-rollback-…>', 'setsid'))}   (each magic rollback of an earlier run that is still pending)`, 'nix --version', readFlakeLockCommand(host.flakeDir), 'nixos-rebuild list-generations --json', CURRENT_SYSTEM, DETECT_SYSTEMD, 'sudo -n true'],
      step: 'inspect',
      where: 'host',
    },
  ]
  if (options.action !== 'rollback')
    steps.splice(2, 0, {
      commands: [
        readFlakeLockCommand(host.flakeDir) + `   (where input ${host.flakeInput} fetches from: nodes.<node>.original)`,
        `${sudo("GIT_TERMINAL_PROMPT=0 git ls-remote -- <url> refs/heads/<ref>")}   (git+ssh:, git+https:, git+file: inputs; the head must be the pushed commit, checked again at inspect)`,
        `${sudo(shellJoin(['nix', ...NIX_FLAGS, 'flake', 'metadata', '--json', '--refresh', '<type>:<owner>/<repo>/<ref>']))}   (github:, gitlab: inputs)`,
        `${sudo(DEPLOY_KEY_PUBLIC_COMMAND)}   (only when it failed, deploy-key method: the public key to add)`,
      ],
      step: 'fetch-check',
      where: 'host',
    })
  if (options.action === 'rollback') {
    steps.push(
      {commands: [sudo(startDetached(name, rebuildCommand('rollback'), 'setsid')), followCommand(name)], step: 'rollback', where: 'host'},
      {commands: ['nixos-version --configuration-revision', 'nixos-rebuild list-generations --json'], step: 'confirm', where: 'confirm'},
    )
    return steps
  }

  const nix219 = shellJoin(['nix', ...NIX_FLAGS, 'flake', 'update', host.flakeInput, '--flake', host.flakeDir])
  const nixOld = shellJoin(['nix', ...NIX_FLAGS, 'flake', 'lock', '--update-input', host.flakeInput, host.flakeDir])
  steps.push(
    {commands: [`${sudo(flakeUpdateAsRoot(host.flakeDir, nix219))}   (Nix >= 2.19)`, `${sudo(flakeUpdateAsRoot(host.flakeDir, nixOld))}   (older Nix)`, readFlakeLockCommand(host.flakeDir)], step: 'flake-update', where: 'host'},
    {commands: [sudo(buildCommand(host.flakeDir, host.name))], step: 'build', where: 'host'},
    {commands: [sudo(diffClosuresCommand('<running system>', '<built system>'))], step: 'closure-diff', where: 'host'},
  )
  if (options.action === 'switch')
    steps.push({commands: [sudo(startDetached(rollbackName, rollbackScript('<built system>', {generation: '<current generation>', system: '<running system>'}), 'setsid', options.confirmTimeoutSeconds)) + '   (systemd-run --on-active when the host has systemd)'], step: 'arm-rollback', where: 'host'})
  steps.push({commands: [sudo(startDetached(name, rebuildCommand(options.action, host.flakeDir, host.name), 'setsid')), followCommand(name)], step: 'activate', where: 'host'})
  if (options.action !== 'dry-activate')
    steps.push({
      commands: ['nixos-version --configuration-revision', 'nixos-rebuild list-generations --json', ...(options.action === 'switch' ? [sudo(cancelDetached(rollbackName, 'setsid'))] : [])],
      step: 'confirm',
      where: 'confirm',
    })
  return steps
}
