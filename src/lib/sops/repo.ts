import {promises as fs} from 'node:fs'
import path from 'node:path'

import {listRepoFiles} from '../validate/repo-files.js'
import {isSopsFile} from './metadata.js'

/** True for the file kinds the engine reads: YAML and JSON. */
export function isSopsCandidate(rel: string): boolean {
  return /\.(ya?ml|json)$/i.test(rel)
}

/**
 * Lists the SOPS files of a homelab repository (YAML/JSON files holding a `sops` block with an
 * encrypted `mac`), as repository-relative POSIX paths, sorted. Skips the folders `validate`
 * skips (src/, test/, bench/, node_modules/, .git/ …).
 */
export async function listSopsFiles(root: string): Promise<string[]> {
  const out: string[] = []
  for (const rel of await listRepoFiles(root)) {
    if (!isSopsCandidate(rel)) continue
    const text = await fs.readFile(path.join(root, rel), 'utf8').catch(() => '')
    if (isSopsFile(text)) out.push(rel)
  }

  return out
}
