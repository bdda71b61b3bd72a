import type {HostConfig} from '../config/schema.js'
import type {HostKeyQuestion} from '../ssh/index.js'
import type {SystemChange, UnitChanges} from '../diff/host.js'
import type {ClosureChange} from './nix.js'
import type {DetachMode} from './remote.js'

/** What `nixos-rebuild` does after the build. */
export type RebuildAction = 'switch' | 'boot' | 'test' | 'dry-activate'

/** The named steps of a host deploy, in order. */
export type DeployStepName =
  | 'connect'
  | 'lock'
  | 'fetch-check'
  | 'inspect'
  | 'flake-update'
  | 'build'
  | 'closure-diff'
  | 'approve'
  | 'cordon'
  | 'arm-rollback'
  | 'activate'
  | 'confirm'
  | 'gate'
  | 'rollback'

/** Something happening during a deploy, for live rendering. `host` is the homelab.yaml name. */
export type DeployEvent =
  | {type: 'step'; host: string; step: DeployStepName; title: string}
  | {type: 'step-done'; host: string; step: DeployStepName; ms: number; detail?: string}
  | {type: 'line'; host: string; step: DeployStepName; stream: 'stdout' | 'stderr'; text: string}
  | {type: 'info'; host: string; text: string}
  /** After the closure-diff step: what activating changes (the host part of `homelab diff`). */
  | {type: 'change'; host: string; change: SystemChange; previousSystem: string; newSystem: string; commit: string}

/** Callbacks a command gives the deploy library (the library itself never prompts). */
export interface DeployCallbacks {
  onEvent?(event: DeployEvent): void
  /** Asked after the closure diff; true goes on. Absent = go on (the command enforces --yes). */
  approve?(info: {host: string; changes: ClosureChange[]; diffText: string; previousSystem: string; newSystem: string; change: SystemChange}): Promise<boolean>
  askHostKey?(question: HostKeyQuestion): Promise<boolean>
  askSudoPassword?(info: {host: string; user: string}): Promise<string>
  askPassphrase?(identityFile: string): Promise<string | undefined>
  /**
   * Ordered rollout only: SIGINT, SIGTERM or SIGHUP arrived. The first (`final: false`): `released`
   * names the hosts that were waiting for their turn (being put back: previous flake.lock, lock
   * freed), `activating` the hosts whose activation runs on and finishes; the rollout then ends
   * as usual, the released hosts failed with exit code 128 + n. A second (`final: true`): the
   * command should exit at once; each host in `activating` is left to its magic rollback timer.
   * Without this callback, runRollout installs no signal handler.
   */
  onInterrupted?(info: {signal: NodeJS.Signals; final: boolean; released: string[]; activating: string[]}): void
}

/** Time one step took. */
export interface StepTiming {
  step: DeployStepName
  /** Wall time in milliseconds. */
  ms: number
  ok: boolean
}

/** Where a failed host deploy stopped. */
export interface DeployFailure {
  step: DeployStepName
  message: string
  /** The last remote output lines of the failing step (at most 15). */
  lastLines: string[]
  /**
   * True when the host still runs the system it ran before the deploy; undefined when unknown or
   * never read (a failure before or at the inspect step, e.g. a refused host key: no login).
   */
  stillOnPreviousGeneration?: boolean
  /** True when the run failed before changing anything on the host (connect, lock, fetch-check or inspect). */
  changedNothing?: boolean
  /**
   * True when this host was connected and locked but its deploy never started, because another
   * host failed before the push (or the push failed): nothing was pushed and nothing changed.
   */
  notStarted?: boolean
  /** True when the previous flake.lock was put back. */
  flakeLockRestored?: boolean
  exitCode: number
  /** What to do next, from the error. */
  suggestions: string[]
}

/**
 * Outcome for one host (`homelab deploy --json` → `hosts[]`):
 * generations are `nixos-rebuild list-generations` numbers; `pinnedRev` is what the host's
 * flake.lock pins for the input after the update; `configurationRevision` is what the running
 * system reports (`nixos-version --configuration-revision`) on the confirm connection.
 */
export interface DeployHostResult {
  host: string
  ok: boolean
  action: RebuildAction | 'rollback'
  previousGeneration?: number
  generation?: number
  previousSystem?: string
  newSystem?: string
  /** False when the built system equals the running one (nothing activated). */
  changed?: boolean
  pinnedRev?: string
  configurationRevision?: string
  nixVersion?: string
  /**
   * Where the host fetches the flake input from (its flake.lock `original`, e.g.
   * `git+ssh://git@github.com/owner/repo?ref=main`) and the commit that branch was at when the
   * fetch check ran as root on the host (before the push), when it could be read.
   */
  fetchCheck?: {source: string; head?: string}
  /** The flake update command that ran (by Nix version). */
  flakeUpdateCommand?: string
  closureChanges: ClosureChange[]
  /** Closure size of the built system minus the running one's, in bytes (`nix path-info -S`). */
  sizeDeltaBytes?: number
  /** systemd units the activation adds, removes or changes (see src/lib/diff/host.ts). */
  units?: UnitChanges
  /** How the activation was detached from the SSH session; `none` when nothing was activated. */
  activation: DetachMode | 'none'
  /** Whether magic rollback was armed (switch only) and then confirmed (cancelled). */
  magicRollback: 'armed-and-confirmed' | 'armed-not-confirmed' | 'not-armed'
  /** SSH connections opened for this host: 1 for the steps + 1 for the confirmation. */
  connections: number
  /**
   * Magic rollbacks armed by earlier runs and never confirmed, cancelled at the lock step so they
   * cannot undo this run (names `homelab-rollback-<run id>`; empty when there were none).
   */
  cancelledRollbacks?: string[]
  /** True when the new system changes k3s.service (the activation restarts k3s on this node). */
  k3sRestarts?: boolean
  /** True when a failed health gate switched the host back to its previous system (checked). */
  rolledBack?: boolean
  /**
   * Where an ordered rollout left this host: `activated`, `rolled-back` (its gate failed),
   * `failed` (a step failed; see error), `not-started` (an earlier host failed first).
   */
  rollout?: 'activated' | 'failed' | 'not-started' | 'rolled-back'
  /** The Kubernetes node was cordoned (or drained) for the switch; `uncordoned` after its gate passed. */
  cordon?: 'cordoned' | 'drained' | 'uncordoned'
  /** What the deploy changed on the host's Node labels to match homelab.yaml (`set k=v; removed k2`), when anything. */
  nodeLabels?: string
  steps: StepTiming[]
  error?: DeployFailure
}

/** Options for deploying to several hosts. */
export interface DeployOptions extends DeployCallbacks {
  hosts: HostConfig[]
  /** The commit every host must end up pinning. */
  commit: string
  action: RebuildAction
  /** Seconds the magic rollback waits for the confirmation (switch only). */
  confirmTimeoutSeconds: number
  acceptNewHostKey?: boolean
  /** Seconds each connection may take to answer (see connectHost); default ConnectTimeout, else 20. */
  connectTimeoutSeconds?: number
  env?: Record<string, string | undefined>
  homeDir?: string
  /** Who holds the lock, written on the host: `user@machine pid N`. */
  holder: string
}
