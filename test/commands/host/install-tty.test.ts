import {execa} from 'execa'
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterAll, describe, expect, it} from 'vitest'

import {parseIdentities} from '../../../src/lib/age/identities.js'
import {verifyPassword} from '../../../src/lib/host/install/password-hash.js'
import {encryptDecrypted} from '../../../src/lib/sops/engine.js'
import {decryptSopsFile} from '../../../src/lib/sops/files.js'
import {REPO_ROOT} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'

// `homelab host install` in a terminal: util-linux `script` gives it a real pseudo-terminal, and
// each answer is typed once its question is on the screen (as test/commands/init-prompts.test.ts).
const DEMO_KEY = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const SECRETS = 'nixos/secrets/host-secrets.sops.yaml'
const base = realpathSync(mkdtempSync(path.join(tmpdir(), 'homelab-host-install-tty-')))
const repo = copyBundledHomelab('homelab-host-install-tty-repo-')
afterAll(() => {
  rmSync(base, {force: true, recursive: true})
  rmSync(repo, {force: true, recursive: true})
})

function cliCommand(args: string[]): string {
  const built = process.env.HOMELAB_TEST_BUILT === '1'
  const entry = path.join(REPO_ROOT, built ? 'bin/run.js' : 'bin/dev.js')
  const loader = built ? [] : ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href]
  return [process.execPath, ...loader, entry, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ')
}

describe('homelab host install in a terminal', () => {
  it('names target and disk, asks to erase, asks the password hidden twice (again when they differ)', {timeout: 180_000}, async () => {
    const [demo] = await parseIdentities(readFileSync(DEMO_KEY, 'utf8'), DEMO_KEY)
    const secrets = await decryptSopsFile({file: path.join(repo, SECRETS), identities: [demo]})
    secrets.documents[0].delete('admin') // start without a stored hash, so the password is asked
    writeFileSync(path.join(repo, SECRETS), encryptDecrypted(secrets, {inPlace: true}))
    const git = {GIT_AUTHOR_EMAIL: 't@t', GIT_AUTHOR_NAME: 't', GIT_COMMITTER_EMAIL: 't@t', GIT_COMMITTER_NAME: 't'}
    await execa('git', ['init', '-q', '-b', 'main'], {cwd: repo})
    await execa('git', ['add', '-A'], {cwd: repo})
    await execa('git', ['commit', '-qm', 'homelab'], {cwd: repo, env: git})
    const bin = path.join(base, 'bin')
    mkdirSync(bin)
    copyFileSync(path.join(REPO_ROOT, 'test/e2e/stand-ins/nixos-anywhere'), path.join(bin, 'nixos-anywhere'))
    mkdirSync(path.join(base, 'home'))

    const password = 'typed-secret-7'
    const child = execa('script', ['-qec', cliCommand(['host', 'install', 'azalab-0', '--target', 'root@192.168.1.50', '--age-key-file', DEMO_KEY, '--repo', repo]), '/dev/null'], {
      env: {...git, CI: undefined, HOME: path.join(base, 'home'), NO_COLOR: '1', PATH: `${bin}:${process.env.PATH}`, SOPS_AGE_KEY_FILE: undefined, STANDIN_ROOT: path.join(base, 'installed'), TERM: 'xterm'},
      reject: false,
      stdin: 'pipe',
    })
    const answers: Array<[string, string]> = [
      ['Erase /dev/nvme0n1 on root@192.168.1.50 and install azalab-0?', 'y\r'],
      ['New password of the admin user', `${password}\r`],
      ['The same password again', 'something-else\r'],
      ['New password of the admin user', `${password}\r`],
      ['The same password again', `${password}\r`],
    ]
    let all = ''
    let screen = ''
    let next = 0
    child.stdout!.on('data', (chunk: Buffer) => {
      // eslint-disable-next-line no-control-regex
      const text = chunk.toString('utf8').replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '')
      all += text
      screen += text
      while (next < answers.length && screen.includes(answers[next][0])) {
        screen = screen.slice(screen.indexOf(answers[next][0]) + answers[next][0].length)
        child.stdin!.write(answers[next][1])
        next++
      }

      if (next === answers.length && /installed azalab-0/.test(screen)) child.stdin!.end()
    })
    const result = await child
    expect(next, `answered ${next} questions; screen: ${all}`).toBe(answers.length)
    expect(result.exitCode, all).toBe(0)
    expect(all).toContain('About to install azalab-0 on root@192.168.1.50: this ERASES /dev/nvme0n1 on that machine.')
    expect(all).toContain('The two passwords differ; again.')
    expect(all).not.toContain(password) // hidden: masked with *
    const after = (await decryptSopsFile({file: path.join(repo, SECRETS), identities: [demo]})).values[0] as {admin: {password_hash: string}}
    expect(await verifyPassword(password, after.admin.password_hash)).toBe(true)
  })
})
