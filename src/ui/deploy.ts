import type {ChalkInstance} from 'chalk'

import type {DeployEvent, DeployHostResult, PlannedStep, PreflightResult} from '../lib/deploy/index.js'
import {HomelabError} from '../lib/errors.js'
import {renderTable} from './table.js'
import {renderHostDiff} from './diff.js'

// eslint-disable-next-line no-control-regex
const ANSI = /\u001B\[[0-9;]*[A-Za-z]/g

/** Text without ANSI escape sequences. */
export function stripAnsi(text: string): string {
  return text.replaceAll(ANSI, '')
}

/** Milliseconds as `850 ms` or `12.3 s`. */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`
}

/**
 * Renders one live deploy event as a line (undefined = nothing to print). With several hosts
 * every line starts with the host name, padded to `hostWidth`.
 */
export function renderEvent(event: DeployEvent, c: ChalkInstance, prefixWidth: number): string | undefined {
  const prefix = prefixWidth > 0 ? `${c.cyan(event.host.padEnd(prefixWidth))} │ ` : ''
  switch (event.type) {
    case 'step':
      return `${prefix}${c.bold('▸')} ${event.step}: ${event.title}`
    case 'step-done':
      return `${prefix}${c.green('✓')} ${event.step}${event.detail ? `  ${c.dim(event.detail)}` : ''}  ${c.dim(`(${formatMs(event.ms)})`)}`
    case 'line':
      // Remote tools colour some output (nix diff-closures): keep it only when colour is on.
      return `${prefix}    ${c.dim('│')} ${c.level === 0 ? stripAnsi(event.text) : event.text}`
    case 'info':
      return `${prefix}  ${c.yellow('!')} ${event.text}`
    case 'change': {
      // The host section of `homelab diff`, shown before the approval question.
      const {diffText: _, ...change} = event.change
      const section = renderHostDiff({...change, commit: event.commit, host: event.host, newSystem: event.newSystem, currentSystem: event.previousSystem, status: event.newSystem === event.previousSystem ? 'unchanged' : 'changed'}, c)
      return section.split('\n').map((l) => `${prefix}${l}`).join('\n')
    }
  }
}

/**
 * The preflight line (local checks only: the push comes after every host is locked):
 * `✓ preflight  validate passed, tree clean, on main (HEAD 1a2b3c4d5e6f)  (120 ms)`; host keys
 * pinned into known_hosts and not committed yet are named with what to do.
 */
export function renderPreflight(p: PreflightResult, c: ChalkInstance, ms: number): string {
  const tree = p.dirty.length > 0 ? `${p.dirty.length} uncommitted change(s) allowed` : 'tree clean'
  const keys = p.pinnedHostKeys
    ? ` (except ${p.pinnedHostKeys.lines.length} pinned host key(s) added to ${p.pinnedHostKeys.file}, not committed yet: commit ${p.pinnedHostKeys.file})`
    : ''
  return `${c.green('✓')} preflight  validate ${p.validate}, ${tree}${keys}, on ${p.branch} (HEAD ${p.commit.slice(0, 12)})  ${c.dim(`(${formatMs(ms)})`)}`
}

/** The push line, once every host is locked: `✓ push  pushed origin/main  (300 ms)` (or verified with --no-push). */
export function renderPush(p: PreflightResult, remote: string, c: ChalkInstance, ms: number): string {
  return `${c.green('✓')} push  ${p.pushed ? `pushed ${remote}/${p.branch}` : `${remote}/${p.branch} verified at HEAD`} ${p.commit.slice(0, 12)}  ${c.dim(`(${formatMs(ms)})`)}`
}

/** The report of one host: generations, commit, activation, step times; or where it failed. */
export function renderHostReport(r: DeployHostResult, c: ChalkInstance): string {
  const lines: string[] = []
  const steps = r.steps.map((s) => `${s.step} ${formatMs(s.ms)}${s.ok ? '' : ' ✗'}`).join(', ')
  if (r.ok) {
    const gen = r.changed === false ? `generation ${r.generation} (unchanged: the host already ran this system)` : `generation ${r.previousGeneration ?? '?'} → ${r.generation ?? '?'}`
    lines.push(`${c.green('✓')} ${c.bold(r.host)}: ${r.action === 'rollback' ? 'rolled back, ' : ''}${gen}`)
    if (r.pinnedRev) lines.push(`  pinned commit          ${r.pinnedRev}`)
    if (r.configurationRevision !== undefined) lines.push(`  configuration revision ${r.configurationRevision || '(empty)'}`)
    if (r.closureChanges.length > 0) lines.push(`  closure                ${r.closureChanges.length} change(s)`)
    lines.push(`  activation             ${r.activation === 'none' ? 'none' : `detached via ${r.activation}`}; magic rollback ${r.magicRollback}`)
    if (r.cordon) lines.push(`  node                   ${r.cordon === 'uncordoned' ? 'cordoned for the switch (k3s restarted), uncordoned after its gate' : `left ${r.cordon}`}`)
  } else if (r.error) {
    const e = r.error
    lines.push(`${c.red('✗')} ${c.bold(r.host)}: ${e.notStarted ? (r.rollout === 'not-started' ? 'not started' : 'not deployed') : `step ${e.step} failed`}: ${e.message}`)
    if (r.cordon === 'cordoned' || r.cordon === 'drained') lines.push(`  node left ${r.cordon}: once it is healthy, run \`k3s kubectl uncordon ${r.host}\` on the server`)
    if (e.lastLines.length > 0) lines.push('  last remote lines:', ...e.lastLines.map((l) => `    ${c.dim('│')} ${c.level === 0 ? stripAnsi(l) : l}`))
    // Only what is known is said: a refused host key means no login, so nothing about generations.
    if (e.step === 'connect' && !e.notStarted) lines.push('  no login happened, so nothing on the host was changed')
    else if (e.stillOnPreviousGeneration !== undefined)
      lines.push(`  still on its previous generation: ${e.stillOnPreviousGeneration ? `yes (generation ${r.previousGeneration ?? '?'})` : 'NO: it runs the new system'}`)
    else if (e.changedNothing || e.notStarted) lines.push('  this run changed nothing on the host')
    else lines.push('  still on its previous generation: unknown (the host could not be asked)')
    for (const s of r.error.suggestions) lines.push(`  ${c.yellow('→')} ${s}`)
    if (r.error.flakeLockRestored !== undefined) lines.push(`  previous flake.lock put back: ${r.error.flakeLockRestored ? 'yes' : 'NO'}`)
  }

  lines.push(`  steps                  ${steps}`)
  return lines.join('\n')
}

/** The summary table for several hosts, failures first. */
export function renderSummary(results: DeployHostResult[], c: ChalkInstance): string {
  const sorted = [...results].sort((a, b) => Number(a.ok) - Number(b.ok))
  return renderTable(
    ['HOST', 'RESULT', 'GENERATION', 'COMMIT', 'TIME'],
    sorted.map((r) => [
      r.host,
      resultCell(r, c),
      r.ok ? `${r.previousGeneration ?? '?'} → ${r.generation ?? '?'}` : `${r.previousGeneration ?? '?'}${r.error?.stillOnPreviousGeneration ? ' (kept)' : ''}`,
      (r.configurationRevision || r.pinnedRev || '').slice(0, 12),
      formatMs(r.steps.reduce((sum, s) => sum + s.ms, 0)),
    ]),
  )
}

/** A host's outcome in the summary: ok / rolled back (gate failed) / not started / not deployed / failed at STEP. */
function resultCell(r: DeployHostResult, c: ChalkInstance): string {
  if (r.ok) return c.green(r.cordon === 'uncordoned' ? 'ok (was cordoned)' : 'ok')
  if (r.rollout === 'rolled-back') return c.red('rolled back (gate failed)')
  if (r.error?.notStarted) return c.yellow(r.rollout === 'not-started' ? 'not started' : 'not deployed')
  return c.red(`failed at ${r.error?.step}`)
}

/** `--dry-run`: every step and remote command, per host. */
export function renderPlan(host: string, steps: PlannedStep[], c: ChalkInstance): string {
  const lines = [`${c.bold(host)}:`]
  for (const s of steps) {
    lines.push(`  ${c.bold('▸')} ${s.step}${s.where === 'confirm' ? ' (on a new connection)' : ''}`)
    for (const cmd of s.commands) lines.push(`      $ ${cmd}`)
  }

  return lines.join('\n')
}

/**
 * Throws for the failed hosts (the highest exit code among them), naming each host once:
 * `azalab-0: build failed: nixos-rebuild build exited with status 1`; hosts that were stopped
 * before the push only add `azalab-1: not deployed` after the ones that failed. The whole result
 * rides on the error as `result`, so `--json` prints it inside `error` with the exit code kept.
 */
export function failIfAny(results: DeployHostResult[], result: unknown): void {
  const failed = results.filter((r) => !r.ok).sort((a, b) => Number(Boolean(a.error?.notStarted)) - Number(Boolean(b.error?.notStarted)))
  if (failed.length === 0) return
  const first = failed[0].error!
  const exitCode = Math.max(...failed.map((r) => r.error?.exitCode ?? 1))
  const line = (r: DeployHostResult) => (r.error?.notStarted ? `${r.host}: not deployed` : `${r.host}: ${r.error?.step} failed: ${r.error?.message}`)
  const error = new HomelabError(failed.map((r) => line(r)).join('; '), {
    exitCode,
    suggestions: [...first.suggestions, ...(first.stillOnPreviousGeneration ? ['the host still runs its previous generation'] : [])],
  })
  throw Object.assign(error, {result})
}

/**
 * What an ordered rollout says when a signal arrives: the first (`final: false`) names the hosts
 * released (never activated, previous flake.lock put back) and those whose activation runs on;
 * the second (`final: true`, the command exits at once) says those are left to their magic
 * rollback timers.
 */
export function interruptedRolloutMessage(info: {signal: NodeJS.Signals; final: boolean; released: string[]; activating: string[]}): string {
  if (info.final) {
    const left = info.activating.length > 0 ? `: ${info.activating.join(', ')} left mid-activation, each switches back by its magic rollback timer unless its confirmation and gate had passed (homelab status shows where each host is)` : ''
    return `interrupted again (${info.signal}), exiting now${left}`
  }

  const released = info.released.length > 0 ? `releasing ${info.released.join(', ')} (not activated, previous flake.lock put back)` : 'no host is waiting its turn; hosts still building are released once built'
  const finishing = info.activating.length > 0 ? `; letting ${info.activating.join(', ')} finish activating` : ''
  return `interrupted (${info.signal}): ${released}${finishing}. Press Ctrl-C again to exit at once.`
}

/** The error line of a rollout a signal stopped, once it ended: each host's outcome. */
export function interruptedOutcome(signal: NodeJS.Signals, results: DeployHostResult[]): string {
  const outcome = (r: DeployHostResult) => (r.rollout === 'not-started' ? 'released, not activated' : r.rollout === 'activated' ? 'activated' : r.rollout === 'rolled-back' ? 'rolled back' : `failed at ${r.error?.step}`)
  return `interrupted (${signal}): ${results.map((r) => `${r.host} ${outcome(r)}`).join(', ')}`
}
