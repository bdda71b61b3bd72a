import {execa} from 'execa'
import {createRequire} from 'node:module'
import {pathToFileURL} from 'node:url'

import {REPO_ROOT} from './cli.js'

/** What the contract tests need to know of one command, as oclif's loaded config has it. */
export interface ManifestCommand {
  /** oclif's id, colon-separated (`app:new`). */
  id: string
  /** As typed: `app new`. */
  words: string[]
  pluginName: string
  /** True for the CLI's own commands (src/commands), false for plugins' (help, autocomplete). */
  own: boolean
  hidden: boolean
  enableJsonFlag: boolean
  summary?: string
  description?: string
  args: Array<{name: string; required: boolean}>
  flags: Array<{name: string; type: 'boolean' | 'option'; required: boolean; helpGroup?: string; description?: string; summary?: string}>
}

const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href

/**
 * Every command of the CLI and its plugins from oclif's own config (`config.commands`), loaded
 * as bin/dev.js loads it (the TypeScript sources, the manifest ignored) — or, with
 * HOMELAB_TEST_BUILT=1, as bin/run.js does (dist/ and oclif.manifest.json). So a command any
 * helper adds is in every table test without anyone listing it. Sorted by id.
 */
export async function manifestCommands(): Promise<ManifestCommand[]> {
  const script = `
    import {Config, Plugin} from '@oclif/core'
    const root = ${JSON.stringify(REPO_ROOT)}
    let config
    if (process.env.HOMELAB_TEST_BUILT === '1') config = await Config.load(root)
    else {
      const rootPlugin = new Plugin({ignoreManifest: true, isRoot: true, root})
      await rootPlugin.load()
      config = await Config.load({plugins: new Map([[rootPlugin.name, rootPlugin]]), root})
    }
    const out = config.commands.map((c) => ({
      id: c.id, words: c.id.split(':'), pluginName: c.pluginName, own: c.pluginName === config.pjson.name, hidden: Boolean(c.hidden),
      enableJsonFlag: Boolean(c.enableJsonFlag), summary: c.summary, description: c.description,
      args: Object.entries(c.args ?? {}).map(([name, a]) => ({name, required: Boolean(a.required)})),
      flags: Object.entries(c.flags ?? {}).map(([name, f]) => ({name, type: f.type, required: Boolean(f.required), helpGroup: f.helpGroup, description: f.description, summary: f.summary})),
    })).sort((a, b) => a.id.localeCompare(b.id))
    process.stdout.write(JSON.stringify(out))
  `
  const child = await execa(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    env: {NODE_ENV: process.env.HOMELAB_TEST_BUILT === '1' ? undefined : 'development'},
    extendEnv: true,
    reject: false,
  })
  if (child.exitCode !== 0) throw new Error(`loading the oclif config failed (exit ${child.exitCode}): ${child.stderr}`)
  return JSON.parse(child.stdout) as ManifestCommand[]
}
