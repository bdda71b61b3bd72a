import {execa} from 'execa'
import {existsSync, promises as fs} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createSopsFile, loadSopsConfig} from '../../../src/lib/sops/index.js'
import {REPO_ROOT, runCli} from '../../helpers/cli.js'
import {copyHomelab, HOST_SECRETS} from './helpers.js'

/**
 * `homelab secrets exec-env` / `exec-file` against a real child process: the plaintext reaches it
 * through its environment or a FIFO/temporary file only, never its argv (read from
 * /proc/<pid>/cmdline while it runs), the private folder is 0700 and gone afterwards, the exit
 * status and forwarded signals pass through.
 */
const SECRET = 'pl41n-t3xt-S3cret-4711'
const FLAT = 'nixos/secrets/app.sops.yaml'

describe('homelab secrets exec-env / exec-file', {timeout: 120_000}, () => {
  let repo: Awaited<ReturnType<typeof copyHomelab>>
  let out: string
  beforeAll(async () => {
    repo = await copyHomelab()
    out = path.join(repo.home, 'out')
    await fs.mkdir(out)
    await createSopsFile({
      config: await loadSopsConfig({dir: repo.dir}),
      file: path.join(repo.dir, FLAT),
      plaintext: `DB_PASSWORD: ${SECRET}\nDB_PORT: 5432\nDEBUG: false\nEMPTY: null\n`,
    })
  })
  afterAll(async () => {
    await repo.cleanup()
  })
  const cli = (args: string[]) => runCli(args, {cwd: repo.dir, env: repo.env})
  const read = (name: string) => fs.readFile(path.join(out, name), 'utf8')

  it('exec-env: each top-level key is a variable of the child, not in its argv; exit status 7 passes through', async () => {
    // The child records its own command line (/proc/$$/cmdline) and the variables it got.
    const script = `tr '\\0' ' ' < /proc/$$/cmdline > ${out}/env-cmdline; printf '%s|%s|%s|%s' "$DB_PASSWORD" "$DB_PORT" "$DEBUG" "\${EMPTY-unset}" > ${out}/env-values; exit 7`
    const r = await cli(['secrets', 'exec-env', FLAT, '--', 'sh', '-c', script])
    expect(r.exitCode).toBe(7)
    expect(await read('env-values')).toBe(`${SECRET}|5432|false|`)
    const cmdline = await read('env-cmdline')
    expect(cmdline).toContain('sh -c')
    expect(cmdline).not.toContain(SECRET)
    expect(r.stdout + r.stderr).not.toContain(SECRET)
  })

  it('exec-env --pristine passes only the file\'s variables; nested values are refused naming the key', async () => {
    const r = await cli(['secrets', 'exec-env', '--pristine', FLAT, '--', '/usr/bin/env'])
    expect(r.exitCode).toBe(0)
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['DB_PASSWORD=' + SECRET, 'DB_PORT=5432', 'DEBUG=false', 'EMPTY='])
    const nested = await cli(['secrets', 'exec-env', HOST_SECRETS, '--', 'true'])
    expect(nested.exitCode).toBe(1)
    expect(nested.stderr).toContain(`${HOST_SECRETS}: kopia is a map; exec-env sets only plain top-level values`)
    const noCommand = await cli(['secrets', 'exec-env', FLAT])
    expect(noCommand.exitCode).toBe(3)
    expect(noCommand.stderr).toContain('give the command after --')
  })

  it('exec-file: a FIFO in a private 0700 folder, {} replaced, plaintext not in argv, folder gone afterwards, exit 7', async () => {
    const script = `f="$1"; tr '\\0' ' ' < /proc/$$/cmdline > ${out}/file-cmdline; stat -c '%a %F' "$(dirname "$f")" > ${out}/file-dir; stat -c '%a %F' "$f" > ${out}/file-type; cat "$f" > ${out}/file-content; dirname "$f" > ${out}/file-dirname; exit 7`
    const r = await cli(['secrets', 'exec-file', FLAT, '--', 'sh', '-c', script, 'sh', '{}'])
    expect(r.exitCode).toBe(7)
    expect(await read('file-dir')).toBe('700 directory\n')
    expect(await read('file-type')).toBe('600 fifo\n')
    expect(await read('file-content')).toContain(`DB_PASSWORD: ${SECRET}`)
    const dir = (await read('file-dirname')).trim()
    expect(await read('file-cmdline')).toContain(`${dir}/app.yaml`)
    expect(await read('file-cmdline')).not.toContain(SECRET)
    expect(existsSync(dir)).toBe(false)
  })

  it('exec-file --no-fifo: a regular 0600 file with --filename; a child that never reads the FIFO does not hang; no {} is a usage error', async () => {
    const r = await cli(['secrets', 'exec-file', '--no-fifo', '--filename', 'db.yaml', FLAT, '--', 'sh', '-c', `stat -c '%a %F %n' "$1" > ${out}/nofifo; cat "$1" "$1" | grep -c DB_PASSWORD >> ${out}/nofifo`, 'sh', '{}'])
    expect(r.exitCode).toBe(0)
    const [stat, count] = (await read('nofifo')).trim().split('\n')
    expect(stat).toMatch(/^600 regular file \S+\/db\.yaml$/)
    expect(count).toBe('2') // read twice: a regular file
    expect(existsSync(path.dirname(stat.split(' ').at(-1)!))).toBe(false)
    const unread = await cli(['secrets', 'exec-file', FLAT, '--', 'sh', '-c', `dirname "$1" > ${out}/unread`, 'sh', '{}'])
    expect(unread.exitCode).toBe(0)
    expect(existsSync((await read('unread')).trim())).toBe(false)
    const noPlaceholder = await cli(['secrets', 'exec-file', FLAT, '--', 'cat'])
    expect(noPlaceholder.exitCode).toBe(3)
    expect(noPlaceholder.stderr).toContain('the command has no {} for the decrypted file\'s path')
  })

  it('--json: the command\'s stdout goes to stderr, stdout is one document {schemaVersion, exitCode} (schemas/secrets-exec-env.schema.json)', async () => {
    const r = await cli(['secrets', 'exec-env', FLAT, '--json', '--', 'sh', '-c', 'echo from-the-child; exit 7'])
    expect(r.exitCode).toBe(7)
    expect(JSON.parse(r.stdout)).toEqual({exitCode: 7, schemaVersion: 1})
    expect(r.stderr).toContain('from-the-child')
    const schema = JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'schemas/secrets-exec-env.schema.json'), 'utf8'))
    expect(schema.required).toEqual(['schemaVersion', 'exitCode'])
    const bad = await cli(['secrets', 'exec-file', 'nope.sops.yaml', '--json', '--', 'cat', '{}'])
    expect(bad.exitCode).toBe(1)
    expect(JSON.parse(bad.stdout).error.message).toContain('nope.sops.yaml does not exist')
  })

  it('SIGTERM to homelab is forwarded to the child; its exit status comes back and the folder is removed', async () => {
    const entry = process.env.HOMELAB_TEST_BUILT === '1' ? 'bin/run.js' : 'bin/dev.js'
    const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
    const script = `dirname "$1" > ${out}/sig-dir; trap 'echo got-TERM > ${out}/sig; exit 9' TERM; touch ${out}/sig-ready; while :; do sleep 0.1; done`
    const child = execa(process.execPath, [...(entry === 'bin/dev.js' ? ['--import', loader] : []), path.join(REPO_ROOT, entry), 'secrets', 'exec-file', '--no-fifo', FLAT, '--', 'sh', '-c', script, 'sh', '{}'], {
      cwd: repo.dir,
      env: {...repo.env, NO_COLOR: '1'},
      reject: false,
    })
    let ended = false
    void child.finally(() => (ended = true))
    while (!ended && !existsSync(path.join(out, 'sig-ready'))) await new Promise((resolve) => setTimeout(resolve, 100))
    child.kill('SIGTERM')
    const r = await child
    expect(await read('sig')).toBe('got-TERM\n')
    expect(r.exitCode).toBe(9)
    expect(existsSync((await read('sig-dir')).trim())).toBe(false)
  })
})
