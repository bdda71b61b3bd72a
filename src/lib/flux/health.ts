import {formatRevision} from './revision.js'
import type {FluxCondition, FluxObject, FluxState} from './types.js'

/**
 * The health of one Flux object, decided from its conditions' `status` (never from `reason`,
 * which only refines a not-Ready object into `dependency-not-ready`):
 * - `stalled`: condition Stalled is True (the controller gave up until the spec changes).
 * - `failed`: Ready is False.
 * - `dependency-not-ready`: Ready is False with reason `DependencyNotReady` (kustomize- and
 *   helm-controller): this object waits on a `dependsOn` that is not Ready.
 * - `progressing`: Ready is Unknown (Reconciling True), or Ready is True but for an older
 *   `metadata.generation` than the current one.
 * - `waiting`: no Ready condition yet (`flux get` shows "waiting to be reconciled").
 * - `ready`: Ready is True for the current generation.
 * `suspended` is a separate flag (spec.suspend): the health still says what the last state was.
 */
export type Health = 'dependency-not-ready' | 'failed' | 'progressing' | 'ready' | 'stalled' | 'waiting'

/** One object's health with what to show about it. */
export interface ObjectHealth {
  health: Health
  /** True for `failed`, `stalled` and `dependency-not-ready`: the object is not serving the desired state. */
  failing: boolean
  /** The Ready condition's status, `Unknown` when there is none. */
  ready: FluxCondition['status']
  /** Reason of the deciding condition (Stalled when stalled, else Ready), '' when none. */
  reason: string
  /** The deciding condition's message on one line (whitespace runs collapsed); `waiting to be reconciled` without one. */
  message: string
  /** RFC 3339 time the Ready condition last changed status; undefined when unknown. */
  since?: string
  suspended: boolean
}

/** Sort rank of each health: failures first (the order `homelab status` lists objects in). */
export const HEALTH_ORDER: Readonly<Record<Health, number>> = {
  'dependency-not-ready': 2,
  failed: 1,
  progressing: 3,
  ready: 5,
  stalled: 0,
  waiting: 4,
}

/** The condition of `type`, or undefined. */
export function findCondition(conditions: FluxCondition[], type: string): FluxCondition | undefined {
  return conditions.find((c) => c.type === type)
}

/** A message on one line: newlines and runs of spaces become one space, trimmed. */
export function oneLine(message: string): string {
  return message.replaceAll(/\s+/g, ' ').trim()
}

/** Applies the health rules of {@link Health} to one object. */
export function assessHealth(object: FluxObject): ObjectHealth {
  const ready = findCondition(object.conditions, 'Ready')
  const stalled = findCondition(object.conditions, 'Stalled')
  const since = ready?.lastTransitionTime
  const suspended = object.suspended
  if (stalled?.status === 'True')
    return {failing: true, health: 'stalled', message: oneLine(stalled.message), ready: ready?.status ?? 'Unknown', reason: stalled.reason, since, suspended}
  if (!ready) return {failing: false, health: 'waiting', message: 'waiting to be reconciled', ready: 'Unknown', reason: '', suspended}
  const common = {message: oneLine(ready.message), ready: ready.status, reason: ready.reason, since, suspended}
  if (ready.status === 'False')
    return {...common, failing: true, health: ready.reason === 'DependencyNotReady' ? 'dependency-not-ready' : 'failed'}
  if (ready.status === 'Unknown') return {...common, failing: false, health: 'progressing'}
  const observed = ready.observedGeneration ?? object.observedGeneration
  if (object.generation !== undefined && observed !== undefined && observed < object.generation)
    return {...common, failing: false, health: 'progressing', message: `${common.message} (generation ${object.generation} not yet observed)`}
  return {...common, failing: false, health: 'ready'}
}

/** The revision an object has applied, for display: Kustomization lastAppliedRevision, HelmRelease chart@version, GitRepository artifact. */
export function appliedRevision(object: FluxObject): string | undefined {
  switch (object.kind) {
    case 'GitRepository': {
      return object.artifact?.revision.raw
    }

    case 'HelmRelease': {
      return object.latest ? `${object.latest.chartName}@${object.latest.chartVersion}` : undefined
    }

    case 'Kustomization': {
      return object.lastAppliedRevision?.raw
    }
  }
}

/** Short display form of {@link appliedRevision}, `-` when none. */
export function appliedRevisionShort(object: FluxObject): string {
  const rev = appliedRevision(object)
  if (rev === undefined) return '-'
  return object.kind === 'HelmRelease' ? rev : formatRevision(rev)
}

/** Orders objects failures first (by {@link HEALTH_ORDER}), then by namespace and name. */
export function sortFailuresFirst<T extends FluxObject>(objects: T[]): T[] {
  return [...objects].sort((a, b) => {
    const ha = HEALTH_ORDER[assessHealth(a).health]
    const hb = HEALTH_ORDER[assessHealth(b).health]
    return ha - hb || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name)
  })
}

/** Every Kustomization and HelmRelease that is failing (Ready False, Stalled, or waiting on a dependency). */
export function failingObjects(state: FluxState): FluxObject[] {
  return [...state.gitRepositories, ...state.kustomizations, ...state.helmReleases].filter((o) => assessHealth(o).failing)
}
