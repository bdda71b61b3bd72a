import {promises as fs} from 'node:fs'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {runCli} from '../../helpers/cli.js'
import {copyHomelab, DEMO_RECIPIENT, HOST_SECRETS, TUNNEL_SECRET} from './helpers.js'
import {generateIdentity, listSopsFilesForTest} from './sops-test-api.js'

describe('secrets updatekeys / check: a creation rule that matches nothing is not skipped in silence', () => {
  let repo: Awaited<ReturnType<typeof copyHomelab>>
  beforeEach(async () => {
    repo = await copyHomelab()
  })
  afterEach(async () => {
    await repo.cleanup()
  })
  const cli = (args: string[]) => runCli(args, {cwd: repo.dir, env: repo.env})

  it('a typo in the flux path_regex plus a new recipient: updatekeys refuses (exit 1, nothing written), check fails and warns', async () => {
    const other = await generateIdentity()
    const sopsYaml = path.join(repo.dir, '.sops.yaml')
    const config = await fs.readFile(sopsYaml, 'utf8')
    await fs.writeFile(sopsYaml, config.replace('^flux/clusters/', '^flux/cluster/').replaceAll(`age: ${DEMO_RECIPIENT}`, `age: ${DEMO_RECIPIENT},${other.recipient}`))
    const flux = (await listSopsFilesForTest(repo.dir)).filter((rel) => rel.startsWith('flux/'))
    expect(flux.length).toBeGreaterThan(1)
    const before = await fs.readFile(path.join(repo.dir, HOST_SECRETS), 'utf8')

    const update = await cli(['secrets', 'updatekeys'])
    expect(update.exitCode).toBe(1)
    expect(update.stderr).toContain(`${flux.length} SOPS files (${flux.join(', ')}) match no creation rule of .sops.yaml`)
    expect(update.stderr).toMatch(/Warning: \.sops\.yaml:\d+: creation rule 2 \(path_regex \^flux\/cluster\/[^)]*\) matches no file of the repository/)
    expect(update.stderr).not.toMatch(/\n\s+at /)
    expect(await fs.readFile(path.join(repo.dir, HOST_SECRETS), 'utf8')).toBe(before)

    const check = await cli(['secrets', 'check'])
    expect(check.exitCode).toBe(1)
    for (const rel of flux) expect(check.stdout).toContain(`${rel} is a SOPS file that no creation rule of .sops.yaml matches`)
    expect(check.stdout).toMatch(/warning: \.sops\.yaml:\d+: creation rule 2 \(path_regex \^flux\/cluster\/[^)]*\) matches no file of the repository/)
  })

  it('check reports a *.sops.yaml that is a symbolic link out of the repository (exit 1, naming the link)', async () => {
    const outside = path.join(repo.home, 'elsewhere.sops.yaml')
    await fs.copyFile(path.join(repo.dir, TUNNEL_SECRET), outside)
    const link = 'flux/clusters/azalab-0/manifests/apps/linked.sops.yaml'
    await fs.symlink(outside, path.join(repo.dir, link))
    const check = await cli(['secrets', 'check'])
    expect(check.exitCode).toBe(1)
    expect(check.stdout).toContain(`${link} is a symbolic link to ${await fs.realpath(outside)}, outside the repository: it is not checked`)
    const json = JSON.parse((await cli(['secrets', 'check', '--json'])).stdout)
    expect(json.findings).toContainEqual(expect.objectContaining({file: link, kind: 'outside-repo'}))
  })

  it('an empty .sops.yaml is an error naming the file', async () => {
    await fs.writeFile(path.join(repo.dir, '.sops.yaml'), '# rules go here\n')
    for (const args of [['secrets', 'check'], ['secrets', 'updatekeys']]) {
      const r = await cli(args)
      expect(r.exitCode, args.join(' ')).toBe(1)
      expect(r.stderr).toContain(`${path.join(repo.dir, '.sops.yaml')}:1: no creation_rules: no file can be encrypted`)
    }
  })
})
