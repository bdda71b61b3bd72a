import {existsSync} from 'node:fs'
import path from 'node:path'

import {CONFIG_FILE, type Homelab, loadHomelab, loadStorageFile} from '../config/load.js'
import type {StorageFile} from '../config/schema.js'
import {ConfigError} from '../errors.js'
import type {Check} from './check.js'
import {backupCheck} from './checks/backup.js'
import {configCheck} from './checks/config.js'
import {kustomizeCheck} from './checks/kustomize.js'
import {mapCheck} from './checks/map.js'
import {nixCheck} from './checks/nix.js'
import {schemaCheck} from './checks/schema.js'
import {sopsCheck} from './checks/sops.js'
import {storageCheck} from './checks/storage.js'
import {yamlCheck} from './checks/yaml.js'
import {collectObjects, loadYamlFiles, type ValidateContext} from './context.js'
import type {CheckResult} from './finding.js'
import {kustomizationEntries} from './kustomizations.js'
import {listRepoFiles} from './repo-files.js'
import {findExecutable} from './tools.js'

/** The nine checks, in report order. */
export const CHECKS: readonly Check[] = [yamlCheck, kustomizeCheck, storageCheck, backupCheck, sopsCheck, nixCheck, configCheck, schemaCheck, mapCheck]

/** Options of {@link validateRepo}. */
export interface ValidateOptions {
  /** Repository root (the folder holding homelab.yaml). */
  root: string
  /** PATH used to find kubectl and nix-instantiate (default: none found, so those parts are skipped). */
  path?: string
}

/**
 * The result of `homelab validate` (also its `--json` output):
 * `ok` is false when any check has an error finding; `errors`/`warnings` count error/warning
 * findings (info findings, such as objects the schema check could not check, count in neither).
 */
export interface ValidateReport {
  ok: boolean
  /** Absolute repository root. */
  root: string
  errors: number
  warnings: number
  checks: CheckResult[]
  /** Wall time of the whole validation, in milliseconds. */
  durationMs: number
}

/**
 * Loads everything the checks read once: the homelab's files, parsed YAML, Kubernetes objects,
 * homelab.yaml and the storage file (their errors are kept for the config check).
 * @throws NodeJS.ErrnoException when the root cannot be read
 */
export async function buildContext(options: ValidateOptions): Promise<ValidateContext> {
  const root = path.resolve(options.root)
  const files = await listRepoFiles(root)
  const yaml = await loadYamlFiles(root, files)
  const listed = new Set(kustomizationEntries(yaml).flatMap((e) => (e.target ? [e.target] : [])))
  const objects = collectObjects(yaml, listed)

  let homelab: Homelab | undefined
  let homelabError: ConfigError | undefined
  let storage: StorageFile | undefined
  let storageError: ConfigError | undefined
  if (existsSync(path.join(root, CONFIG_FILE))) {
    try {
      homelab = await loadHomelab({cwd: root, repo: root})
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      homelabError = error
    }
  }

  if (homelab) {
    try {
      storage = await loadStorageFile(homelab)
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      storageError = error
    }
  }

  const tools = new Map<string, Promise<string | undefined>>()
  return {
    files,
    homelab,
    homelabError,
    objects,
    root,
    storage,
    storageError,
    storageRoot: homelab?.config.storage.root ?? '/srv',
    tool(name) {
      if (!tools.has(name)) tools.set(name, findExecutable(name, options.path))
      return tools.get(name)!
    },
    yaml,
  }
}

/**
 * Runs the nine checks of `homelab validate` on the repository at `options.root`, concurrently
 * (kubectl builds, nix parses and schema model imports run in parallel), and returns every finding grouped by check.
 * Never throws for problems in the homelab: they are findings. A check that crashes becomes an
 * error finding of its own.
 * @throws NodeJS.ErrnoException when the root cannot be read
 */
export async function validateRepo(options: ValidateOptions): Promise<ValidateReport> {
  const started = performance.now()
  const context = await buildContext(options)
  const checks = await Promise.all(
    CHECKS.map(async (check): Promise<CheckResult> => {
      const begin = performance.now()
      let outcome
      try {
        outcome = await check.run(context)
      } catch (error) {
        outcome = {findings: [{check: check.id, file: '.', line: 1, message: `check crashed: ${(error as Error).message}`, severity: 'error' as const}]}
      }

      const hasError = outcome.findings.some((f) => f.severity === 'error')
      return {
        durationMs: Math.round(performance.now() - begin),
        findings: outcome.findings,
        id: check.id,
        ...(outcome.skipped ? {skipped: outcome.skipped} : {}),
        status: hasError ? 'failed' : outcome.skipped ? 'skipped' : 'passed',
        title: check.title,
      }
    }),
  )
  const all = checks.flatMap((c) => c.findings)
  const errors = all.filter((f) => f.severity === 'error').length
  return {
    checks,
    durationMs: Math.round(performance.now() - started),
    errors,
    ok: errors === 0,
    root: context.root,
    warnings: all.filter((f) => f.severity === 'warning').length,
  }
}
