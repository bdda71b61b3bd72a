import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli} from '../../helpers/cli.js'
import {copyHomelab, HOST_SECRETS} from './helpers.js'

/** An $EDITOR that logs the temp file it got, then sends `signal` to the homelab process (its grandparent) and waits. */
const editor = (signal: string) =>
  `#!/bin/sh\necho "$1" >> "$EDIT_LOG"\nnode -e 'process.kill(Number(process.argv[1]), "${signal}")' "$(ps -o ppid= -p $PPID | tr -d ' ')"; sleep 2\n`

describe('homelab secrets edit ended by a signal exits 128 + the signal number, private folder removed', () => {
  let repo: Awaited<ReturnType<typeof copyHomelab>>
  let log: string
  beforeAll(async () => {
    repo = await copyHomelab()
    log = path.join(repo.home, 'edit.log')
    for (const signal of ['SIGHUP', 'SIGTERM']) await fs.writeFile(path.join(repo.home, `editor-${signal}.sh`), editor(signal), {mode: 0o755})
  })
  afterAll(async () => {
    await repo.cleanup()
  })

  it.each([
    ['SIGHUP', 129],
    ['SIGTERM', 143],
  ])('%s exits %i', async (signal, code) => {
    const file = path.join(repo.dir, HOST_SECRETS)
    const before = await fs.readFile(file, 'utf8')
    const r = await runCli(['secrets', 'edit', HOST_SECRETS], {cwd: repo.dir, env: {...repo.env, EDIT_LOG: log, EDITOR: path.join(repo.home, `editor-${signal}.sh`), VISUAL: ''}})
    expect(r.exitCode).toBe(code)
    const edited = (await fs.readFile(log, 'utf8')).trim().split('\n').at(-1)!
    expect(existsSync(path.dirname(edited))).toBe(false)
    expect(await fs.readFile(file, 'utf8')).toBe(before)
  })
})
