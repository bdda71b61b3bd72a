// `homelab host add` and a shared nixos/configuration.nix that sets the host name or the disk as a
// plain value (homelabs made before they were lib.mkDefault): the new host's configuration sets
// its own, which Nix would refuse as conflicting definitions, so the plan refuses first.
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {loadHomelab} from '../../../src/lib/config/load.js'
import {planHostAdd} from '../../../src/lib/host/add/plan.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'

const repo = copyBundledHomelab('homelab-plan-shared-')
afterAll(() => rmSync(repo, {force: true, recursive: true}))
const spec = {address: undefined, diskDevice: '/dev/sda', labels: {}, name: 'azalab-1', nodeInterfaces: ['enp2s0'], role: 'agent' as const, ssh: 'aiden@10.0.0.21', tags: []}

describe('planHostAdd and the shared configuration', () => {
  it('plans the host when hostName and diskDevice are defaults (the bundled homelab)', async () => {
    const plan = await planHostAdd(await loadHomelab({cwd: repo}), spec)
    expect(plan.files).toContain('nixos/hosts/azalab-1/configuration.nix')
  })

  it('refuses, naming both options, when they are plain values', async () => {
    const file = path.join(repo, 'nixos/configuration.nix')
    writeFileSync(file, readFileSync(file, 'utf8').replace('hostName = lib.mkDefault "azalab-0"', 'hostName = "azalab-0"').replace(/diskDevice = lib\.mkDefault ("[^"]*")/, 'diskDevice = $1'))
    await expect(planHostAdd(await loadHomelab({cwd: repo}), spec)).rejects.toThrow(/^nixos\/configuration\.nix sets homelab\.hostName and homelab\.diskDevice as a plain value/)
  })
})
