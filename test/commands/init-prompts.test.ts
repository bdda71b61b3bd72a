import {execa} from 'execa'
import {mkdirSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterAll, describe, expect, it} from 'vitest'

import {REPO_ROOT} from '../helpers/cli.js'

// `homelab init` in a terminal asks with @inquirer/prompts. util-linux `script` gives it a real
// pseudo-terminal; each answer is typed once its question is on the screen.
const base = mkdtempSync(path.join(tmpdir(), 'homelab-init-tty-'))
afterAll(() => rmSync(base, {force: true, recursive: true}))

function cliCommand(args: string[]): string {
  const built = process.env.HOMELAB_TEST_BUILT === '1'
  const entry = path.join(REPO_ROOT, built ? 'bin/run.js' : 'bin/dev.js')
  const loader = built ? [] : ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href]
  return [process.execPath, ...loader, entry, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ')
}

describe('homelab init in a terminal', () => {
  it('asks for each value, offers defaults, and creates the homelab', {timeout: 120_000}, async () => {
    const home = path.join(base, 'home')
    mkdirSync(home)
    const repo = path.join(base, 'lab')
    const child = execa('script', ['-qec', cliCommand(['init', repo]), '/dev/null'], {
      env: {CI: undefined, HOME: home, NO_COLOR: '1', SOPS_AGE_KEY_FILE: undefined, TERM: 'xterm', USER: 'tester', XDG_CONFIG_HOME: undefined},
      reject: false,
      stdin: 'pipe',
    })
    const answers: Array<[string, string]> = [
      ['Host name', 'lab-7\r'],
      ['Admin user on the host', 'ops\r'],
      ['SSH target', '\r'], // default: ops@lab-7
      ['Public domain of the apps', 'example.org\r'],
      ['Flux cluster name', '\r'], // default: the host name
    ]
    let screen = ''
    let next = 0
    child.stdout!.on('data', (chunk: Buffer) => {
      // eslint-disable-next-line no-control-regex
      screen += chunk.toString('utf8').replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '')
      while (next < answers.length && screen.includes(answers[next][0])) {
        screen = screen.slice(screen.indexOf(answers[next][0]) + answers[next][0].length)
        child.stdin!.write(answers[next][1])
        next++
      }

      if (next === answers.length && /Created homelab/.test(screen)) child.stdin!.end()
    })
    const result = await child
    expect(next, `answered ${next} questions; screen: ${screen}`).toBe(answers.length)
    expect(result.exitCode).toBe(0)
    const config = readFileSync(path.join(repo, 'homelab.yaml'), 'utf8')
    expect(config).toMatch(/- name: lab-7 .*\n {4}ssh: ops@lab-7 /)
    expect(config).toMatch(/cluster:\n {2}name: lab-7\n {2}path: flux\/clusters\/lab-7\n/)
    expect(readFileSync(path.join(repo, 'nixos/configuration.nix'), 'utf8')).toContain('adminUser = "ops";')
  })
})
