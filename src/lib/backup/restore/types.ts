import type {Reimported} from './host-steps.js'
import type {RestoreStep} from './step-error.js'
import type {KustomizationRef} from './workloads.js'

/** One scale call of a restore, in the order made (`scaled` of the `--json` result). */
export interface ScaleChange {
  /** `deployment/NAME` or `statefulset/NAME`. */
  workload: string
  from: number
  to: number
}

/**
 * Result of `homelab backup restore SOURCE [--to PATH]` (its `--json`). Times RFC 3339 UTC,
 * sizes in bytes.
 */
export interface RestoreResult {
  /** The source path, e.g. "/srv/vaultwarden". */
  source: string
  /** The storage.json app, null for an extra source. */
  app: string | null
  snapshot: {id: string; time: string; size: number | null; files: number | null}
  /** `to`: into another folder (--to); `in-place`: over the live folder. */
  mode: 'to' | 'in-place'
  /** The folder the snapshot was restored into. */
  target: string
  /** Where the previous data was moved and is kept (in place only, and only after a successful restore); null otherwise. */
  aside: string | null
  scaled: ScaleChange[]
  /**
   * The Flux Kustomizations suspended for the restore (those owning a workload of the namespace
   * and not suspended already) and those resumed afterwards (all of them, unless resuming failed
   * or the app was left scaled to 0); empty for `--to`.
   */
  flux: {suspended: KustomizationRef[]; resumed: KustomizationRef[]}
  reimported: Reimported[]
  /** The step that failed, null on success. */
  failedStep: RestoreStep | null
  /** One line saying the state the app (or folder) is left in. */
  state: string
  ok: boolean
}
