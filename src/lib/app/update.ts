import os from 'node:os'

import type {Homelab} from '../config/load.js'
import {HomelabError} from '../errors.js'
import type {DiffReport} from '../diff/index.js'
import type {Finding} from '../validate/finding.js'
import {type ChangeSet, writeChangeSet} from './change-set.js'

/**
 * Writes an `app update` change set, then validates the tree (`homelab validate`'s checks) and
 * builds its cluster diff (`homelab diff`, HEAD against the working tree); when validation finds
 * an error in a file the change touched, or the diff reports an error, the change is written
 * back (journaled like the write) so that nothing has changed, and the error is thrown.
 *
 * @param diff false to skip the cluster diff (--no-diff)
 * @returns the validation counts and the cluster diff (null when skipped or when it could not be
 *   built: `diffSkipped` then says why, e.g. kubectl not installed, not a git repository)
 * @throws HomelabError (exit 1) naming the first validation finding or diff error, after undoing
 *   the write; TransactionError from the write itself (nothing changed)
 */
export async function applyUpdate(
  homelab: Homelab,
  set: ChangeSet,
  options: {command: string; diff: boolean},
): Promise<{validation: {errors: number; warnings: number}; clusterDiff: DiffReport | null; diffSkipped: string | null}> {
  await writeChangeSet(set, {command: options.command})
  const undo = async () =>
    writeChangeSet({...set, files: set.files.map((f) => ({after: f.before, before: f.after, path: f.path}))}, {command: `${options.command} (undo)`})
  try {
    const {validateRepo} = await import('../validate/run.js')
    const report = await validateRepo({path: process.env.PATH, root: homelab.root})
    const touched = new Set(set.files.map((f) => f.path))
    const findings: Finding[] = report.checks.flatMap((c) => c.findings)
    const mine = findings.filter((f) => f.severity === 'error' && touched.has(f.file))
    if (mine.length > 0) {
      await undo()
      const f = mine[0]
      throw new HomelabError(`homelab validate refuses the change: ${f.file}:${f.line}: ${f.message}; nothing was changed`, {
        suggestions: mine.length > 1 ? [`${mine.length - 1} more finding(s): run homelab validate after editing by hand`] : [],
      })
    }

    const validation = {errors: report.errors, warnings: report.warnings}
    if (!options.diff) return {clusterDiff: null, diffSkipped: '--no-diff', validation}
    let clusterDiff: DiffReport
    try {
      const {diffCluster} = await import('../diff/index.js')
      const {loadIdentities} = await import('../sops/index.js')
      const identities = await loadIdentities({env: process.env, homeDir: os.homedir()})
      clusterDiff = await diffCluster({clusterPath: homelab.config.cluster.path, identities, path: process.env.PATH, root: homelab.root})
    } catch (error) {
      if (!(error instanceof HomelabError)) throw error
      return {clusterDiff: null, diffSkipped: `homelab diff could not run: ${error.message}`, validation}
    }

    if (!clusterDiff.ok) {
      await undo()
      const e = clusterDiff.errors[0]
      throw new HomelabError(`homelab diff refuses the change: Kustomization ${e.kustomization}: ${e.message}; nothing was changed`, {
        suggestions: ['homelab diff shows it (it also covers your other uncommitted changes); --no-diff skips this check'],
      })
    }

    return {clusterDiff, diffSkipped: null, validation}
  } catch (error) {
    if (error instanceof HomelabError) throw error
    await undo()
    throw error
  }
}
