import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {buildContext} from '../../../src/lib/validate/index.js'
import {sopsCheck} from '../../../src/lib/validate/checks/sops.js'
import {writeMinimalHomelab} from './minimal-homelab.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, {force: true, recursive: true})
})

/** The sops check alone (validate check 5) on a minimal homelab, findings as `severity file:line: message`. */
async function sopsFindings(dir: string): Promise<string[]> {
  const {findings} = await sopsCheck.run(await buildContext({root: dir}))
  return findings.map((f) => `${f.severity} ${f.file}:${f.line}: ${f.message}`)
}

const APP_SECRET = 'flux/clusters/lab-0/manifests/apps/demo/secret.sops.yaml'

describe('validate sops check: creation rules that match nothing, SOPS files no rule matches', () => {
  it('a typo in a path_regex: the rule is a warning, the SOPS file it no longer matches an error', async () => {
    const dir = await writeMinimalHomelab()
    dirs.push(dir)
    expect(await sopsFindings(dir)).toEqual([])
    const config = path.join(dir, '.sops.yaml')
    writeFileSync(config, readFileSync(config, 'utf8').replace('^flux/clusters/', '^flux/cluster/'))
    const found = await sopsFindings(dir)
    expect(found).toContain(
      `error ${APP_SECRET}:1: a SOPS file that no creation rule of .sops.yaml matches (as ${APP_SECRET}): homelab secrets updatekeys cannot update its recipients; fix the path_regex in .sops.yaml or move the file`,
    )
    expect(found).toContain('warning .sops.yaml:4: creation rule 2 (path_regex ^flux/cluster/[^/]+/manifests/apps/.*\\.sops\\.ya?ml$) matches no file of the repository: check its path_regex for a typo')
    expect(found).toHaveLength(2)
  })

  it('an empty .sops.yaml, or one without creation_rules, is an error naming the file', async () => {
    const dir = await writeMinimalHomelab()
    dirs.push(dir)
    for (const text of ['', '# nothing here\n', 'creation_rules: []\n', 'stores: {}\n']) {
      writeFileSync(path.join(dir, '.sops.yaml'), text)
      const found = await sopsFindings(dir)
      expect(found, JSON.stringify(text)).toEqual([expect.stringMatching(/^error \.sops\.yaml:1: (no creation_rules|creation_rules is empty): no file can be encrypted$/)])
    }
  })
})
