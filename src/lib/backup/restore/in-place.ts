import {captureOf, DUMP_DIR, namespaceOf} from '../capture.js'
import type {StorageApp} from '../../config/schema.js'
import type {BackupHost} from '../host.js'
import {type FolderFigures, folderFigures, fixOwner, moveAside, preparePostgres, putBack, type Reimported, reimportPostgres, reimportSqlite, restoreSnapshot} from './host-steps.js'
import type {SnapshotSummary} from './snapshots.js'
import {RestoreStepError, type RestoreStep} from './step-error.js'
import type {RestoreResult, ScaleChange} from './types.js'
import {type KustomizationRef, kustomizationSuspended, listWorkloads, scaleWorkload, setKustomizationSuspended, waitReady, waitScaledDown, type Workload} from './workloads.js'

/** What an in-place restore will do, shown before it asks (and in `--json` of a refused run). */
export interface InPlacePlan {
  app: StorageApp
  snapshot: SnapshotSummary
  /** The live folder now. */
  current: FolderFigures
  /** Where the live folder will be moved: `<path>.aside-<UTC timestamp>`. */
  aside: string
  namespace: string
  /** The namespace's Deployments and StatefulSets with replicas > 0: scaled to 0 and back. */
  workloads: Workload[]
  /**
   * The Flux Kustomizations that applied any Deployment or StatefulSet of the namespace (their
   * `kustomize.toolkit.fluxcd.io/*` labels), each once: suspended during the restore (those not
   * suspended already), so kustomize-controller does not scale the app back up from git.
   */
  kustomizations: KustomizationRef[]
}

const ksText = (ks: KustomizationRef) => `${ks.namespace}/${ks.name}`

/** `20260124T023000Z` for a time in ms. */
export function asideStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(/[-:]/g, '')
}

/**
 * Reads what an in-place restore of `app` would replace: the live folder's size and file count,
 * and the workloads of its namespace that run (read-only: nothing changes).
 * @param now the time for the aside folder's name (ms; default now)
 * @throws HomelabError when the folder or the workloads cannot be read
 */
export async function planInPlace(options: {connection: BackupHost; app: StorageApp; snapshot: SnapshotSummary; now?: number}): Promise<InPlacePlan> {
  const namespace = namespaceOf(options.app)
  const [current, workloads] = await Promise.all([folderFigures(options.connection, options.app.path), listWorkloads(options.connection, namespace)])
  const kustomizations = new Map<string, KustomizationRef>()
  for (const w of workloads) if (w.kustomization) kustomizations.set(ksText(w.kustomization), w.kustomization)
  return {
    app: options.app,
    aside: `${options.app.path}.aside-${asideStamp(options.now ?? Date.now())}`,
    current,
    kustomizations: [...kustomizations.values()],
    namespace,
    snapshot: options.snapshot,
    workloads: workloads.filter((w) => w.replicas > 0),
  }
}

/** Progress of {@link restoreInPlace}: one short line per step started. */
export interface InPlaceCallbacks {
  onStep?(text: string): void
}

/**
 * Restores `plan.snapshot` over the live folder of `plan.app`, on one connection, as root:
 * 0. suspends each of `plan.kustomizations` not suspended already (`k3s kubectl patch
 *    kustomization … {"spec":{"suspend":true}}`): kustomize-controller would otherwise put the
 *    replicas of git back on its next reconcile and start the app on a half-restored folder;
 * 1. scales the namespace's running Deployments/StatefulSets to 0 (`k3s kubectl scale`) and waits
 *    until they report 0 pods;
 * 2. renames the live folder to `plan.aside` (kept until `--prune-aside`);
 * 3. `homelab-kopia snapshot restore` into the app's path, then owner and mode from storage.json;
 * 4. re-imports the capture's dumps: sqlite copies each `.homelab-backup/sqlite/<db>` over `<db>`;
 *    postgres scales up only the Postgres workload, waits Ready, and streams the
 *    `.homelab-backup/postgres/<db>.pgdump` into `pg_restore` in its pod;
 * 5. scales every workload back to its replicas and waits until each is Ready;
 * 6. resumes exactly the Kustomizations it suspended (`{"spec":{"suspend":false}}`), on success and
 *    on every failure path, except when the app is deliberately left scaled to 0 because its
 *    previous data could not be put back (Flux would start it on the partial folder): they then
 *    stay suspended and `state` says so and how to resume them.
 * A failure in 2-4 puts the aside folder back (rename: byte for byte; the partial restore is
 * removed, the snapshot still has it), scales back, and is a result with `ok: false`, not an
 * error. `state` is always the one line saying where the app is left.
 *
 * @returns the result; never throws for a failed step
 */
export async function restoreInPlace(options: {connection: BackupHost; plan: InPlacePlan} & InPlaceCallbacks): Promise<RestoreResult> {
  const {connection, plan} = options
  const step = (text: string) => options.onStep?.(text)
  const flux: FluxChanges = {resumed: [], suspended: []}
  /** Set when the app is left scaled to 0 on purpose: Flux must not start it. */
  const hold = {keepSuspended: false}
  let outcome: RestoreResult | undefined
  try {
    outcome = await restoreSteps(options, flux, hold)
    return outcome // the finally below completes its state (same object)
  } finally {
    // Resumed even when restoreSteps threw (a bug), unless the app must stay down.
    const problems: string[] = []
    if (!hold.keepSuspended && flux.suspended.length > 0) {
      step(`resuming Flux Kustomization ${flux.suspended.map((ks) => ksText(ks)).join(', ')}`)
      for (const ks of flux.suspended) {
        try {
          await setKustomizationSuspended(connection, ks, false)
          flux.resumed.push(ks)
        } catch (error) {
          problems.push((error as Error).message)
        }
      }
    }

    if (outcome) {
      const names = (list: KustomizationRef[]) => list.map((ks) => ksText(ks)).join(', ')
      if (problems.length > 0) {
        const resume = flux.suspended.filter((ks) => !flux.resumed.includes(ks)).map((ks) => `flux resume kustomization ${ks.name} -n ${ks.namespace}`)
        outcome.state += `; resuming Flux failed (${problems.join('; ')}): run ${resume.join(' and ')}`
        if (outcome.ok) {
          outcome.ok = false
          outcome.failedStep = 'resume'
        }
      } else if (hold.keepSuspended && flux.suspended.length > 0) {
        outcome.state += `; Flux Kustomization ${names(flux.suspended)} stays suspended so Flux does not start the app: resume it (flux resume kustomization NAME -n NS) once the data is back`
      } else if (flux.resumed.length > 0) {
        outcome.state += `; Flux Kustomization ${names(flux.resumed)} suspended meanwhile and resumed`
      }
    }
  }
}

/** The Kustomizations an in-place restore suspended and resumed (`flux` of the `--json` result). */
export interface FluxChanges {
  suspended: KustomizationRef[]
  resumed: KustomizationRef[]
}

/** Steps 0-5 of {@link restoreInPlace}; fills `flux.suspended` as it suspends; sets `hold.keepSuspended` when the app is left down. */
async function restoreSteps(options: {connection: BackupHost; plan: InPlacePlan} & InPlaceCallbacks, flux: FluxChanges, hold: {keepSuspended: boolean}): Promise<RestoreResult> {
  const {connection, plan} = options
  const {app, namespace} = plan
  const step = (text: string) => options.onStep?.(text)
  const capture = captureOf(app)
  const scaled: ScaleChange[] = []
  const reimported: Reimported[] = []
  const replicas = new Map(plan.workloads.map((w) => [w.ref, w.replicas]))
  const up = new Set<string>()
  let asideUsed: string | null = null

  const result = (ok: boolean, failedStep: RestoreStep | null, state: string): RestoreResult => ({
    app: app.name,
    aside: ok ? asideUsed : null,
    failedStep,
    flux,
    mode: 'in-place',
    ok,
    reimported,
    scaled,
    snapshot: {files: plan.snapshot.files, id: plan.snapshot.id, size: plan.snapshot.size, time: plan.snapshot.time},
    source: app.path,
    state,
    target: app.path,
  })

  const scaleTo = async (ref: string, to: number, from: number) => {
    await scaleWorkload(connection, namespace, ref, to)
    scaled.push({from, to, workload: ref})
  }

  /** Scales every workload not yet back to its replicas; returns the problems (empty when all are back and Ready). */
  const scaleBack = async (): Promise<string[]> => {
    const problems: string[] = []
    for (const [ref, n] of replicas) {
      if (up.has(ref)) continue
      try {
        await scaleTo(ref, n, 0)
        up.add(ref)
      } catch (error) {
        problems.push((error as Error).message)
      }
    }

    for (const ref of up) {
      try {
        await waitReady(connection, namespace, ref)
      } catch (error) {
        problems.push((error as Error).message)
      }
    }

    return problems
  }

  const replicasText = () =>
    replicas.size === 0
      ? `no workload of namespace ${namespace} was running`
      : replicas.size === 1
        ? `the app is scaled back to ${[...replicas.values()][0]}`
        : `the app is scaled back (${[...replicas].map(([ref, n]) => `${ref} ${n}`).join(', ')})`

  // 0. Suspend Flux: nothing else changed yet, so a failure here is only a failed result.
  for (const ks of plan.kustomizations) {
    try {
      if ((await kustomizationSuspended(connection, ks)) !== false) continue
      step(`suspending Flux Kustomization ${ksText(ks)} (it would scale the app back up)`)
      await setKustomizationSuspended(connection, ks, true)
      flux.suspended.push(ks)
    } catch (error) {
      return result(false, 'suspend', `${app.name}: restore failed at suspend: ${(error as Error).message}; nothing was changed in ${app.path} and no workload was scaled`)
    }
  }

  let at: RestoreStep = 'scale-down'
  /** The Postgres workload when it was not running and is started only for the re-import. */
  let tempUp: string | undefined
  try {
    // 1. Scale down.
    if (plan.workloads.length > 0) {
      step(`scaling ${plan.workloads.map((w) => `${w.ref} (${w.replicas})`).join(', ')} in namespace ${namespace} to 0`)
      for (const w of plan.workloads) await scaleTo(w.ref, 0, w.replicas)
      await waitScaledDown(connection, namespace, plan.workloads.map((w) => w.ref))
    }

    // 2. Move aside.
    at = 'move-aside'
    step(`moving ${app.path} aside to ${plan.aside}`)
    asideUsed = (await moveAside(connection, app.path, plan.aside)) ? plan.aside : null

    // 3. Restore, owner and mode.
    at = 'restore'
    step(`restoring snapshot ${plan.snapshot.id} (${plan.snapshot.time}) into ${app.path}`)
    await restoreSnapshot(connection, plan.snapshot.rootObject, app.path)
    at = 'owner'
    await fixOwner(connection, app.path, app)

    // 4. Re-import.
    at = 're-import'
    if (capture.mode === 'sqlite') {
      step(`re-importing ${capture.databases.join(', ')} from their dumps in ${DUMP_DIR}/sqlite/`)
      reimported.push(...(await reimportSqlite(connection, app.path, capture.databases, app)))
    } else if (capture.mode === 'postgres') {
      await preparePostgres(connection, app.path, capture.database, capture.dataDir, app)
      const n = replicas.get(capture.workload)
      step(`starting ${capture.workload} alone and loading ${capture.database} with pg_restore`)
      if (n === undefined) tempUp = capture.workload
      await scaleTo(capture.workload, n ?? 1, 0)
      if (n !== undefined) up.add(capture.workload)
      await waitReady(connection, namespace, capture.workload)
      reimported.push(await reimportPostgres(connection, app.path, {container: capture.container, database: capture.database, namespace, user: capture.user, workload: capture.workload}))
      if (tempUp) {
        await scaleTo(tempUp, 0, 1)
        tempUp = undefined
      }
    }
  } catch (error) {
    const failedStep = error instanceof RestoreStepError ? error.step : at
    const reason = `${app.name}: restore failed at ${failedStep}: ${(error as Error).message}`
    const touched = failedStep === 'restore' || failedStep === 'owner' || failedStep === 're-import'
    // Postgres may be running on the restored folder: stop it before the folder goes.
    const stopFirst = [...up, ...(tempUp ? [tempUp] : [])]
    const stopProblems: string[] = []
    if (touched && stopFirst.length > 0) {
      step(`scaling ${stopFirst.join(', ')} to 0 again`)
      for (const ref of stopFirst) {
        try {
          await scaleTo(ref, 0, replicas.get(ref) ?? 1)
          up.delete(ref)
        } catch (stopError) {
          stopProblems.push((stopError as Error).message)
        }
      }

      if (stopProblems.length === 0) await waitScaledDown(connection, namespace, stopFirst).catch((waitError: Error) => stopProblems.push(waitError.message))
    }

    if (touched) {
      hold.keepSuspended = stopProblems.length > 0
      if (stopProblems.length > 0)
        return result(false, failedStep, `${reason}; stopping ${stopFirst.join(', ')} again failed (${stopProblems.join('; ')}), so the previous data was not put back: it is in ${asideUsed ?? '(there was none)'}; stop the app, move it back to ${app.path}, then scale it up`)
      step(`putting the previous data back in ${app.path}`)
      try {
        await putBack(connection, app.path, asideUsed)
      } catch (putBackError) {
        // The data is not in place: leave the app scaled down rather than start it on a partial folder.
        hold.keepSuspended = true
        const where = asideUsed ? `the previous data is still in ${asideUsed}` : `${app.path} may hold a partial restore`
        return result(false, failedStep, `${reason}; putting the previous data back failed too (${(putBackError as Error).message}): ${where}; the app stays scaled to 0: move the folder back to ${app.path}, then scale it up`)
      }
    }

    step('scaling back')
    const problems = await scaleBack()
    const data = touched ? (asideUsed ? `the previous data is back in ${app.path}` : `${app.path} is absent again, as before`) : `nothing was changed in ${app.path}`
    const scale = problems.length === 0 ? replicasText() : `scaling back failed: ${problems.join('; ')}`
    return result(false, failedStep, `${reason}; ${data} and ${scale}`)
  }

  // 5. Scale back.
  if (replicas.size > 0) step(`scaling back ${[...replicas].map(([ref, n]) => `${ref} to ${n}`).join(', ')} and waiting until Ready`)
  const problems = await scaleBack()
  const kept = asideUsed ? `; the previous data is kept in ${asideUsed} (remove it with --prune-aside)` : ''
  if (problems.length > 0)
    return result(false, 'scale-up', `${app.name}: restored snapshot ${plan.snapshot.id} (${plan.snapshot.time}) into ${app.path}${kept}; but ${problems.join('; ')}`)
  const ready = replicas.size === 0 ? `no workload of namespace ${namespace} was running, none was started` : `${[...replicas].filter(([, n]) => n > 0).map(([ref, n]) => `${ref} ${n}`).join(', ')} Ready`
  return result(true, null, `${app.name}: restored snapshot ${plan.snapshot.id} (${plan.snapshot.time}) into ${app.path}${kept}; ${ready}`)
}

