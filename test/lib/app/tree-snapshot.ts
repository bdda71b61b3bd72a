import {createHash} from 'node:crypto'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {execa} from 'execa'
import {expect} from 'vitest'

import type {AppSpec} from '../../../src/lib/app/spec.js'

/** Every file and folder under `root` (relative path → sha256 of the bytes; folders → 'dir'), for byte-for-byte tree comparisons. */
export async function treeSnapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const entry of await fs.readdir(root, {recursive: true, withFileTypes: true})) {
    const full = path.join(entry.parentPath, entry.name)
    const rel = path.relative(root, full)
    out[rel] = entry.isDirectory() ? 'dir' : createHash('sha256').update(await fs.readFile(full)).digest('hex')
  }

  return out
}

/** A spec with the defaults `homelab app new` uses, overridden by `over`. */
export function specOf(over: Partial<AppSpec> & {name: string; image: string}): AppSpec {
  return {env: [], gid: 1000, kind: 'deployment', mount: '/data', namespace: over.name, root: false, secretKeys: [], uid: 1000, ...over}
}

/**
 * Builds `dir` (repo-relative) with the real `kubectl kustomize` and returns the objects' kinds
 * and names. Under CI=true a missing kubectl fails the test (never skips).
 */
export async function kustomizeBuild(root: string, dir: string): Promise<string> {
  const result = await execa('kubectl', ['kustomize', dir], {cwd: root, reject: false})
  expect(result.exitCode, `kubectl kustomize ${dir}: ${result.stderr}`).toBe(0)
  return result.stdout
}
