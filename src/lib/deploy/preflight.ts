import type {Homelab} from '../config/load.js'
import {pushOrVerify, PreflightError, readLocalGit} from './local-git.js'

/** What the local preflight found and did. */
export interface PreflightResult {
  branch: string
  commit: string
  /** True when this run pushed; false with --no-push (verified instead) or --dry-run (nothing contacted). */
  pushed: boolean
  /** `passed`, or `skipped: <why>` when the validate library is unavailable. */
  validate: string
  dirty: string[]
  /** Wall time of the preflight, in milliseconds. */
  durationMs: number
}

/**
 * Deploy step 1, on this machine: the repository validates (`src/lib/validate`, every check),
 * the tracked tree is clean (unless `allowDirty`), HEAD is on the configured branch, and the
 * branch is pushed to the configured remote (or, with `push: false`, verified to be there).
 * `validate: false` skips the checks. With `dryRun` nothing is pushed or fetched.
 * @throws PreflightError naming what to fix.
 */
export async function preflight(options: {homelab: Homelab; allowDirty: boolean; push: boolean; dryRun: boolean; validate?: boolean; env?: Record<string, string | undefined>}): Promise<PreflightResult> {
  const {config, root} = options.homelab
  const started = performance.now()
  const [git, validate] = await Promise.all([readLocalGit(root, options.env), options.validate === false ? Promise.resolve('skipped (--no-validate)') : runValidate(root, options.env?.PATH)])
  if (validate !== 'passed' && !validate.startsWith('skipped'))
    throw new PreflightError(`the repository does not validate: ${validate}`, {suggestions: ['run `homelab validate` and fix what it reports']})
  if (git.dirty.length > 0 && !options.allowDirty)
    throw new PreflightError(`uncommitted changes in ${git.dirty.length} tracked file(s): ${git.dirty.slice(0, 3).map((l) => l.slice(3)).join(', ')}`, {
      suggestions: ['commit them (deploy ships the pushed commit, not your working tree), or pass --allow-dirty'],
    })
  if (git.branch !== config.git.branch)
    throw new PreflightError(`on branch ${git.branch}, but homelab.yaml deploys ${config.git.branch}`, {suggestions: [`git switch ${config.git.branch}`]})
  if (!options.dryRun) await pushOrVerify({branch: config.git.branch, commit: git.commit, env: options.env, push: options.push, remote: config.git.remote, root})
  return {branch: git.branch, commit: git.commit, dirty: git.dirty, durationMs: Math.round(performance.now() - started), pushed: options.push && !options.dryRun, validate}
}

async function runValidate(root: string, pathEnv: string | undefined): Promise<string> {
  let mod: {validateRepo?: (o: {root: string; path?: string}) => Promise<{ok: boolean; checks: Array<{findings: Array<{file: string; line: number; message: string; severity: string}>}>}>}
  try {
    mod = await import('../validate/index.js')
  } catch {
    return 'skipped: the validate library is not available'
  }

  if (!mod.validateRepo) return 'skipped: the validate library is not available'
  const report = await mod.validateRepo({path: pathEnv, root})
  if (report.ok) return 'passed'
  const first = report.checks.flatMap((c) => c.findings).find((f) => f.severity === 'error')
  return first ? `${first.file}:${first.line}: ${first.message}` : 'errors found'
}

export {PreflightError} from './local-git.js'
