import {execa} from 'execa'
import {mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {buildFlakeText} from '../../../src/lib/host/install/plan.js'
import {withTestNixConfig} from '../../helpers/nix-config.js'

const temps: string[] = []
afterAll(() => {
  for (const dir of temps) rmSync(dir, {force: true, recursive: true})
})

const GIT_ENV = {GIT_AUTHOR_EMAIL: 't@t', GIT_AUTHOR_NAME: 't', GIT_COMMITTER_EMAIL: 't@t', GIT_COMMITTER_NAME: 't'}

describe('the flake host install builds (real nix, offline)', () => {
  it('evaluates the bootstrap flake against the work tree (uncommitted change included) and a hardware file written after the wrapper', async () => {
    const base = realpathSync(mkdtempSync(path.join(tmpdir(), 'homelab-build-flake-')))
    temps.push(base)
    // The homelab repository: a flake whose value comes from a tracked file, changed but not committed.
    const repo = path.join(base, 'repo')
    mkdirSync(repo)
    writeFileSync(path.join(repo, 'flake.nix'), '{ outputs = { self }: { value = builtins.readFile ./nixos/secret.txt; }; }\n')
    mkdirSync(path.join(repo, 'nixos'))
    writeFileSync(path.join(repo, 'nixos/secret.txt'), 'committed\n')
    await execa('git', ['init', '-q'], {cwd: repo})
    await execa('git', ['add', '-A'], {cwd: repo})
    await execa('git', ['commit', '-qm', 'x'], {cwd: repo, env: GIT_ENV})
    writeFileSync(path.join(repo, 'nixos/secret.txt'), 'written by host install\n')
    // The bootstrap flake as copied to <extra>/etc/nixos: input homelab is an unreachable git+ssh URL.
    const hostFlake = path.join(base, 'extra/etc/nixos')
    mkdirSync(hostFlake, {recursive: true})
    writeFileSync(
      path.join(hostFlake, 'flake.nix'),
      '{ inputs.homelab.url = "git+ssh://git@github.invalid/nobody/homelab?ref=main";\n  outputs = { homelab, ... }: { nixosConfigurations.h = { v = homelab.value; hw = builtins.readFile ./hardware-configuration.nix; }; }; }\n',
    )
    const build = path.join(base, 'build')
    mkdirSync(build)
    writeFileSync(path.join(build, 'flake.nix'), buildFlakeText(hostFlake, `git+file://${repo}`, 'homelab'))
    // nixos-anywhere writes the hardware configuration after the wrapper exists, before the build.
    writeFileSync(path.join(hostFlake, 'hardware-configuration.nix'), '{ }\n')
    const r = await execa('nix', ['eval', '--no-write-lock-file', '--json', `${build}#nixosConfigurations.h`], {
      env: {NIX_CONFIG: withTestNixConfig(process.env.NIX_CONFIG)},
      reject: false,
    })
    expect(r.exitCode, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({hw: '{ }\n', v: 'written by host install\n'})
  })
})
