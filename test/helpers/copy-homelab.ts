import {cpSync, mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {REPO_ROOT} from './cli.js'

/**
 * Folders of this repository that are the CLI (or build output), not the homelab; and docs/,
 * which holds the generated map (docs/topology.md): a test that changes its copy would otherwise
 * also have to regenerate it before validate passes. Map tests copy it in themselves.
 */
const NOT_HOMELAB = new Set(['node_modules', 'dist', '.git', 'coverage', 'src', 'test', 'bench', 'oclif.manifest.json', 'docs'])

/**
 * Copies the bundled homelab (this repository without node_modules, dist, .git, src, test, bench, docs)
 * into a new temp folder and returns it, so tests can break the copy and never the original.
 */
export function copyBundledHomelab(prefix = 'homelab-copy-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  cpSync(REPO_ROOT, dir, {
    filter: (src) => {
      const rel = path.relative(REPO_ROOT, src)
      return rel === '' || !NOT_HOMELAB.has(rel.split(path.sep)[0])
    },
    recursive: true,
  })
  return dir
}
