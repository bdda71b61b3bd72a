import {Config} from '@oclif/core'
import {existsSync, promises as fs, readdirSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {REPO_ROOT, runCli} from '../helpers/cli.js'
import {commandFiles} from '../helpers/commands.js'
import {copyHomelab, HOST_SECRETS} from './secrets/helpers.js'

// Issue 11 item 2: oclif reads piped stdin as a missing positional argument (a 10 ms race), so a
// secret piped for --value-stdin / --secrets-from-stdin became KEY_PATH or the app name. Every
// argument of every command must have ignoreStdin.

describe('every argument of every command ignores stdin', () => {
  it('the oclif manifest lists every command, and each of its args has ignoreStdin: true', async () => {
    // The manifest (oclif.manifest.json, written by `npm run build`; oclif reads dist/commands without one).
    const config = await Config.load({root: REPO_ROOT})
    const own = config.commands.filter((c) => c.pluginName === config.pjson.name) // not @oclif/plugin-help's
    const ids = own.map((c) => c.id).sort()
    expect(ids, 'the manifest is stale: run npm run build').toEqual(commandFiles().map((c) => c.id.replaceAll(' ', ':')).sort())
    const withArgs: string[] = []
    for (const loadable of own) {
      const file = path.join(REPO_ROOT, 'src/commands', `${loadable.id.replaceAll(':', '/')}.ts`)
      const {default: command} = (await import(file)) as {default: {args?: Record<string, {ignoreStdin?: boolean}>}}
      const args = command.args ?? {}
      expect(Object.keys(args).sort(), `${loadable.id}: manifest args`).toEqual(Object.keys(loadable.args).sort())
      for (const [name, arg] of Object.entries(args)) expect(arg.ignoreStdin, `${loadable.id} argument ${name}: ignoreStdin`).toBe(true)
      if (Object.keys(args).length > 0) withArgs.push(loadable.id)
    }

    expect(withArgs).toEqual(expect.arrayContaining(['secrets:set', 'secrets:get', 'app:new', 'app:remove']))
  })
})

describe('a piped secret never becomes a forgotten argument', () => {
  const TOKEN = 'piped-token-7c1e5b'
  let repo: Awaited<ReturnType<typeof copyHomelab>>
  beforeAll(async () => {
    repo = await copyHomelab()
  })
  afterAll(async () => {
    await repo.cleanup()
  })

  it('secrets set FILE --value-stdin without KEY_PATH: a usage error that does not echo the token; the file unchanged', async () => {
    const file = path.join(repo.dir, HOST_SECRETS)
    const before = await fs.readFile(file, 'utf8')
    const result = await runCli(['secrets', 'set', HOST_SECRETS, '--value-stdin'], {cwd: repo.dir, env: repo.env, input: TOKEN})
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(/Missing 1 required arg/)
    expect(result.stdout + result.stderr).not.toContain(TOKEN)
    expect(await fs.readFile(file, 'utf8')).toBe(before)
  })

  it('app new --secrets-from-stdin without NAME: a usage error that does not echo the secret line; nothing created', async () => {
    const apps = path.join(repo.dir, 'flux/clusters/azalab-0/manifests/apps')
    const before = readdirSync(apps).sort()
    const line = `ADMIN_TOKEN=${TOKEN}`
    const result = await runCli(['app', 'new', '--image', 'nginx:1', '--port', '80', '--storage', '0', '--no-hostname', '--secret', 'ADMIN_TOKEN', '--secrets-from-stdin', '--yes'], {
      cwd: repo.dir,
      env: repo.env,
      input: `${line}\n`,
    })
    expect(result.exitCode).not.toBe(0)
    expect(result.stderr).toMatch(/Missing 1 required arg/)
    expect(result.stdout + result.stderr).not.toContain(TOKEN)
    expect(readdirSync(apps).sort()).toEqual(before)
    expect(existsSync(path.join(apps, line.toLowerCase()))).toBe(false)
  })
})
