import {promises as fs} from 'node:fs'
import path from 'node:path'

import type {Homelab} from '../config/load.js'
import {describeChange, pinnedKeyLines, pushOrVerify, PreflightError, readLocalGit} from './local-git.js'

/** What the local preflight found (and, once {@link publish} ran, whether it pushed). */
export interface PreflightResult {
  branch: string
  commit: string
  /** True once this run pushed; false with --no-push (verified instead), --dry-run, or when it stopped before the push. */
  pushed: boolean
  /** `passed`, or `skipped: <why>` when the validate library is unavailable. */
  validate: string
  /** Tracked files with uncommitted changes (paths relative to the repository's top folder; allowed with --allow-dirty). */
  dirty: string[]
  /**
   * Host keys pinned into the repo's known_hosts and not committed yet: the file (relative to
   * the repository's top folder) and the added lines. Such a change does not make the tree dirty.
   */
  pinnedHostKeys?: {file: string; lines: string[]}
  /** Wall time of the local checks, in milliseconds. */
  durationMs: number
}

/**
 * Deploy step 1, on this machine, contacting nothing: the repository validates (`src/lib/validate`,
 * every check), the tracked tree is clean (unless `allowDirty`) and HEAD is on the configured
 * branch. `validate: false` skips the checks. The push is a separate step ({@link publish}) that
 * runs only once every host is connected and locked.
 *
 * Host keys that `--accept-new-host-key` (or the prompt) pinned into the repo's known_hosts do not
 * count as a dirty tree: when the only uncommitted change of known_hosts is ADDED key lines, they
 * are reported in `pinnedHostKeys` instead. (Chosen over offering to commit at pin time because a
 * pin happens mid-deploy, often without a terminal; the file is read here on this machine, never
 * from the pushed commit, so leaving it uncommitted changes nothing the deploy ships. An edited
 * or removed line still makes the tree dirty.)
 * @throws PreflightError naming what to fix.
 */
export async function preflight(options: {homelab: Homelab; allowDirty: boolean; validate?: boolean; env?: Record<string, string | undefined>}): Promise<PreflightResult> {
  const {config, root} = options.homelab
  const started = performance.now()
  const [git, validate] = await Promise.all([readLocalGit(root, options.env), options.validate === false ? Promise.resolve('skipped (--no-validate)') : runValidate(root, options.env?.PATH)])
  if (validate !== 'passed' && !validate.startsWith('skipped'))
    throw new PreflightError(`the repository does not validate: ${validate}`, {suggestions: ['run `homelab validate` and fix what it reports']})
  const knownHosts = path.relative(git.topLevel, path.join(await fs.realpath(root), config.knownHosts))
  let changes = git.changes
  let pinnedHostKeys: PreflightResult['pinnedHostKeys']
  const knownHostsChange = changes.find((c) => c.path === knownHosts && c.from === undefined)
  if (knownHostsChange) {
    const lines = await pinnedKeyLines(root, path.join(root, config.knownHosts), options.env)
    if (lines) {
      pinnedHostKeys = {file: knownHosts, lines}
      changes = changes.filter((c) => c !== knownHostsChange)
    }
  }

  const dirty = changes.map((c) => describeChange(c))
  if (dirty.length > 0 && !options.allowDirty)
    throw new PreflightError(`uncommitted changes in ${dirty.length} tracked file(s): ${dirty.slice(0, 3).join(', ')}${dirty.length > 3 ? ` and ${dirty.length - 3} more` : ''}`, {
      suggestions: ['commit them (deploy ships the pushed commit, not your working tree), or pass --allow-dirty'],
    })
  if (git.branch !== config.git.branch)
    throw new PreflightError(`on branch ${git.branch}, but homelab.yaml deploys ${config.git.branch}`, {suggestions: [`git switch ${config.git.branch}`]})
  return {branch: git.branch, commit: git.commit, dirty, durationMs: Math.round(performance.now() - started), pinnedHostKeys, pushed: false, validate}
}

/**
 * Deploy's push step, run once every host is connected and locked: pushes HEAD to the configured
 * remote branch, or with `push: false` verifies the remote branch already is HEAD. Marks
 * `pre.pushed` when it pushed.
 * @throws PreflightError naming the remote and what git said.
 */
export async function publish(options: {homelab: Homelab; pre: PreflightResult; push: boolean; env?: Record<string, string | undefined>}): Promise<void> {
  const {config, root} = options.homelab
  await pushOrVerify({branch: config.git.branch, commit: options.pre.commit, env: options.env, push: options.push, remote: config.git.remote, root})
  options.pre.pushed = options.push
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
