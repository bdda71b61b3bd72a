import {readdirSync} from 'node:fs'
import path from 'node:path'

import {REPO_ROOT} from './cli.js'

/**
 * Every command of the CLI, from the files in src/commands (`app/new.ts` → `app new`,
 * `secrets/index.ts` → `secrets`), so a new command is covered by the tests that use this
 * without anyone listing it. Sorted by id.
 */
export function commandFiles(dir = path.join(REPO_ROOT, 'src/commands'), prefix: string[] = []): Array<{id: string; file: string}> {
  return readdirSync(dir, {withFileTypes: true})
    .flatMap((entry) => {
      if (entry.isDirectory()) return commandFiles(path.join(dir, entry.name), [...prefix, entry.name])
      if (!entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) return []
      const name = entry.name.slice(0, -3)
      const id = (name === 'index' ? prefix : [...prefix, name]).join(' ')
      return [{file: path.join(dir, entry.name), id}]
    })
    .sort((a, b) => a.id.localeCompare(b.id))
}
