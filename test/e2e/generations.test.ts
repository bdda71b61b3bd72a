// `homelab generations` and `homelab rollback --to N` end to end on the e2e test host: real sshd
// and sudo, real nix-built generations and real `nix-env --switch-generation` (nixos-rebuild
// stand-in; its systems carry bin/switch-to-configuration like a real NixOS system), and host
// selection with --on (@tag, glob) through homelab.yaml tags.
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {parseDocument} from 'yaml'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {REPO_ROOT, runCli} from '../helpers/cli.js'
import {startTestHost, type TestHost, type TestRepo} from './host/test-host.js'

let host: TestHost
let repo: TestRepo
let deployed: string

const cli = (args: string[], password = true) =>
  runCli([...args, '--repo', repo.dir, ...(password ? ['--sudo-password-stdin'] : [])], {env: host.env, input: password ? `${host.sudoPassword}\n` : '', timeout: 150_000})
const running = () => host.runOnHost('readlink -f /run/current-system')
const profileLink = (n: number) => host.runOnHost(`readlink -f /nix/var/nix/profiles/system-${n}-link`)

beforeAll(async () => {
  host = await startTestHost({standIns: ['nixos-rebuild', 'nixos-version']})
  repo = await host.homelabRepo({hostName: 'azalab-0'})
  // Tag the host (homelab.yaml `tags:`) so that --on @tag has something to select.
  const file = path.join(repo.dir, 'homelab.yaml')
  const doc = parseDocument(await fs.readFile(file, 'utf8'))
  doc.setIn(['hosts', 0, 'tags'], ['storage', 'k3s'])
  await fs.writeFile(file, doc.toString())
  await repo.git(['add', 'homelab.yaml'])
  await repo.git(['commit', '-q', '-m', 'tag the host'])
  deployed = await repo.commit('nixos/README-generations-test.md', 'second generation\n', 'a second generation')
  const r = await runCli(['deploy', '--repo', repo.dir, '--on', '@storage', '--yes', '--no-validate', '--confirm-timeout', '30', '--sudo-password-stdin'], {env: host.env, input: `${host.sudoPassword}\n`, timeout: 170_000})
  if (r.exitCode !== 0) throw new Error(`deploy --on @storage failed:\n${r.stdout}\n${r.stderr}`)
}, 180_000)
afterAll(async () => host?.stop())

describe('homelab generations / rollback --to (e2e)', {timeout: 180_000}, () => {
  it('generations --json: newest first, the running one current, its configuration revision the deployed commit (schemaVersion 1)', async () => {
    const r = await cli(['generations', '--json'], false)
    expect(r.exitCode, r.stderr).toBe(0)
    const json = JSON.parse(r.stdout)
    expect(json.schemaVersion).toBe(1)
    expect(json.hosts).toHaveLength(1)
    const [h] = json.hosts
    expect(h).toMatchObject({host: 'azalab-0', ok: true})
    expect(h.generations.map((g: {number: number}) => g.number)).toEqual([2, 1])
    expect(Object.keys(h.generations[0]).sort()).toEqual(['configurationRevision', 'current', 'date', 'kernelVersion', 'nixosVersion', 'number', 'specialisations'])
    expect(h.generations[0]).toMatchObject({configurationRevision: deployed, current: true, number: 2})
    expect(h.generations[0].nixosVersion).toMatch(new RegExp(`^25\\.11\\.\\d{8}\\.${deployed.slice(0, 7)}$`))
    expect(h.generations[0].date).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
    expect(h.generations[1].current).toBe(false)
    // schemas/generations.schema.json names exactly these keys (validated with ajv once test/helpers/json-schema.ts lands).
    const schema = JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'schemas/generations.schema.json'), 'utf8'))
    expect(Object.keys(json).sort()).toEqual(Object.keys(schema.properties).sort())
    expect(Object.keys(h.generations[0]).sort()).toEqual(Object.keys(schema.$defs.generation.properties).sort())
  })

  it('generations (text) marks the running generation; --on takes globs and @tags; a tag no host has is a usage error', async () => {
    const r = await cli(['generations', '--on', 'azala*'], false)
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toContain('azalab-0: 2 generations')
    expect(r.stdout).toMatch(new RegExp(`^\\* +2  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  25\\.11\\.\\S+  ${deployed.slice(0, 12)}  \\(current\\)$`, 'm'))
    expect(r.stdout).toMatch(/^ {2,}1  \d{4}-/m)
    const noTag = await cli(['generations', '--on', '@gpu'], false)
    expect(noTag.exitCode).toBe(3)
    expect(noTag.stderr).toContain('--on @gpu: no host in homelab.yaml matches')
    const both = await cli(['generations', '--on', '@storage', '--host', 'azalab-0'], false)
    expect(both.exitCode).toBe(3)
  })

  it('rollback --to 1 switches to generation 1 (nix-env --switch-generation + its switch-to-configuration), with the lock and a confirming connection', async () => {
    const gen1 = await profileLink(1)
    expect(await running()).not.toBe(gen1)
    const r = await cli(['rollback', '--on', '@k3s', '--to', '1', '--yes', '--json'])
    expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(0)
    const [result] = JSON.parse(r.stdout).hosts
    expect(result).toMatchObject({action: 'rollback', generation: 1, ok: true, previousGeneration: 2})
    expect(result.steps.map((s: {step: string}) => s.step)).toEqual(['connect', 'lock', 'inspect', 'rollback', 'confirm'])
    expect(await running()).toBe(gen1)
    expect(await host.runOnHost('readlink /nix/var/nix/profiles/system')).toBe('system-1-link')
    const list = JSON.parse((await cli(['generations', '--json'], false)).stdout).hosts[0].generations
    expect(list.find((g: {current: boolean}) => g.current).number).toBe(1)
  })

  it('rollback --to names a missing or running generation in one line and changes nothing', async () => {
    const system = await running()
    const same = await cli(['rollback', '--to', '1', '--yes'])
    expect(same.exitCode).toBe(1)
    expect(same.stderr).toContain('azalab-0: inspect failed: the host already runs generation 1')
    const missing = await cli(['rollback', '--to', '9', '--yes'])
    expect(missing.exitCode).toBe(1)
    expect(missing.stderr).toContain('the host has no generation 9 (generations: 1, 2)')
    expect(await running()).toBe(system)
    // Back to 2 by number, the text report names the step.
    const back = await cli(['rollback', '--to', '2', '--yes'])
    expect(back.exitCode, `${back.stdout}\n${back.stderr}`).toBe(0)
    expect(back.stdout).toContain('switch to generation 2')
    expect(await running()).toBe(await profileLink(2))
  })
})
