import {existsSync} from 'node:fs'
import path from 'node:path'
import {parseDocument} from 'yaml'
import type {z} from 'zod'

import {ConfigError} from '../errors.js'
import {homelabConfigSchema, type HomelabConfig, storageFileSchema, type StorageFile} from './schema.js'
import {NotRegularFileError, readRegularFile} from '../fs/read-regular.js'
import {parseYamlDocuments, yamlToJS} from '../yaml/parse.js'
import {formatKeyPath, lineOfPath} from './yaml-location.js'

/** The file name that marks a homelab repository's root. */
export const CONFIG_FILE = 'homelab.yaml'

/** A loaded homelab: its repository root and its validated configuration. */
export interface Homelab {
  /** Absolute path of the repository root (the folder holding homelab.yaml). */
  root: string
  config: HomelabConfig
}

/**
 * Walks up from `cwd` to the first folder holding `homelab.yaml`.
 * @throws ConfigError when there is none up to the file system root.
 */
export function findRepoRoot(cwd: string): string {
  let dir = path.resolve(cwd)
  for (;;) {
    if (existsSync(path.join(dir, CONFIG_FILE))) return dir
    const parent = path.dirname(dir)
    if (parent === dir)
      throw new ConfigError(`no ${CONFIG_FILE} in ${cwd} or any folder above it`, {
        suggestions: ['run the command inside a homelab repository, pass --repo DIR, or create one with `homelab init`'],
      })
    dir = parent
  }
}

/**
 * Parses YAML text and validates it against a zod schema; every problem is reported as
 * `<file>:<line>: <key.path>: <message>` (the first one in the error message, all in suggestions).
 * Parsing is linear in the text's length (see parseYamlDocuments).
 * @throws ConfigError for a YAML syntax error, more than one document, an alias bomb or a schema violation.
 */
export function parseYamlWithSchema<S extends z.ZodType>(text: string, file: string, schema: S): z.infer<S> {
  const {docs, lineCounter} = parseYamlDocuments(text)
  const doc = docs[0] ?? parseDocument('')
  if (docs.length > 1) throw new ConfigError(`${file}:${lineCounter.linePos(docs[1].range[0]).line}: invalid YAML: holds more than one document`, {suggestions: [`keep one document in ${file}`]})
  if (doc.errors.length > 0) {
    const err = doc.errors[0]
    const line = err.linePos?.[0]?.line ?? 1
    const reason = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')
    throw new ConfigError(`${file}:${line}: invalid YAML: ${reason}`, {
      suggestions: [`fix the YAML syntax in ${file} at line ${line}`],
    })
  }

  const result = schema.safeParse(yamlToJS(doc, lineCounter, file) ?? {})
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const line = lineOfPath(doc, lineCounter, issue.path)
      const message = /received undefined$/.test(issue.message) ? 'is missing (required)' : issue.message
      return `${file}:${line}: ${formatKeyPath(issue.path)}: ${message}`
    })
    const more = lines.length > 1 ? ` (and ${lines.length - 1} more: ${lines.slice(1).join('; ')})` : ''
    throw new ConfigError(`${lines[0]}${more}`, {suggestions: [`fix ${file} and run the command again`]})
  }

  return result.data
}

/**
 * Loads and validates `homelab.yaml` of the repository at or above `cwd` (or exactly at `repo`).
 * @throws ConfigError naming file, line and key for any problem.
 */
export async function loadHomelab(options: {cwd: string; repo?: string}): Promise<Homelab> {
  const root = options.repo ? path.resolve(options.repo) : findRepoRoot(options.cwd)
  const file = path.join(root, CONFIG_FILE)
  let text: string
  try {
    text = await readRegularFile(root, CONFIG_FILE)
  } catch (error) {
    if (error instanceof NotRegularFileError) throw error
    throw new ConfigError(`${file}: cannot read it`, {suggestions: ['pass --repo pointing at a homelab repository']})
  }

  const relative = path.relative(options.cwd, file)
  const shown = relative === '' || relative.startsWith('..') ? file : relative
  return {config: parseYamlWithSchema(text, shown, homelabConfigSchema), root}
}

/**
 * Reads the storage file (app storage paths and extra backup sources) named by `homelab.yaml`.
 * @throws ConfigError when it is missing, not JSON, or fails its schema.
 */
export async function loadStorageFile(homelab: Homelab): Promise<StorageFile> {
  const rel = homelab.config.storage.file
  let text: string
  try {
    text = await readRegularFile(homelab.root, rel)
  } catch (error) {
    if (error instanceof NotRegularFileError) throw error
    throw new ConfigError(`${rel}: missing (homelab.yaml storage.file names it)`, {
      suggestions: ['create it with {"apps": [], "extraBackupSources": ["/etc/nixos"]}'],
    })
  }

  // JSON is YAML: parsing it as YAML gives line numbers for schema errors.
  return parseYamlWithSchema(text, rel, storageFileSchema)
}

/** Every Kopia backup source: each app's storage path, then the extra sources, in file order. */
export function backupSources(storage: StorageFile): string[] {
  return [...storage.apps.map((app) => app.path), ...storage.extraBackupSources]
}
