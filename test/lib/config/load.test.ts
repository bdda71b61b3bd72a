import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {backupSources, loadHomelab, loadStorageFile} from '../../../src/lib/config/load.js'
import {ConfigError} from '../../../src/lib/errors.js'

const repoRoot = path.resolve(import.meta.dirname, '../../..')

const tempDirs: string[] = []
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, {force: true, recursive: true})
})

function tempRepo(homelabYaml: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'homelab-config-'))
  tempDirs.push(dir)
  writeFileSync(path.join(dir, 'homelab.yaml'), homelabYaml)
  return dir
}

describe('loadHomelab', () => {
  it('loads the bundled homelab.yaml with defaults applied', async () => {
    const homelab = await loadHomelab({cwd: path.join(repoRoot, 'nixos')})
    expect(homelab.root).toBe(repoRoot)
    expect(homelab.config.hosts[0]).toMatchObject({name: 'azalab-0', flakeDir: '/etc/nixos', flakeInput: 'homelab'})
    expect(homelab.config.git).toEqual({branch: 'main', hostAccess: 'nixos/git-access.json', remote: 'origin'})
    expect(homelab.config.storage.root).toBe('/srv')
  })

  it('names file, line and key of a schema violation', async () => {
    const text = readFileSync(path.join(repoRoot, 'homelab.yaml'), 'utf8').replace('ssh: aiden@azalab-0', 'ssh: "not a target"')
    const dir = tempRepo(text)
    const line = text.split('\n').findIndex((l) => l.includes('not a target')) + 1
    await expect(loadHomelab({cwd: dir})).rejects.toThrow(new RegExp(`^homelab.yaml:${line}: hosts.0.ssh: must be \\[user@\\]host`))
  })

  it('refuses a node label the kubelet or k3s set on every start, naming it; accepts node-role labels (set by kubectl)', async () => {
    const base = readFileSync(path.join(repoRoot, 'homelab.yaml'), 'utf8')
    const owned = base.replace('    flakeInput: homelab       # the input that pins this repository', '    flakeInput: homelab\n    labels: {kubernetes.io/hostname: other}')
    await expect(loadHomelab({cwd: tempRepo(owned)})).rejects.toThrow(/^homelab.yaml:\d+: hosts.0.labels.kubernetes.io\/hostname: is set by the kubelet or k3s on every start/)
    const role = base.replace('    flakeInput: homelab       # the input that pins this repository', '    flakeInput: homelab\n    labels: {node-role.kubernetes.io/worker: "true"}')
    expect((await loadHomelab({cwd: tempRepo(role)})).config.hosts[0].labels).toEqual({'node-role.kubernetes.io/worker': 'true'})
  })

  it('names the line of a YAML syntax error', async () => {
    const dir = tempRepo('version: 1\ndomain: [unclosed\n')
    await expect(loadHomelab({cwd: dir})).rejects.toBeInstanceOf(ConfigError)
    await expect(loadHomelab({cwd: dir})).rejects.toThrow(/^homelab.yaml:\d+: invalid YAML/)
  })

  it('rejects unknown keys, naming them', async () => {
    const text = readFileSync(path.join(repoRoot, 'homelab.yaml'), 'utf8') + 'colour: blue\n'
    await expect(loadHomelab({cwd: tempRepo(text)})).rejects.toThrow(/homelab.yaml:\d+: .*colour/)
  })

  it('fails outside a homelab repository', async () => {
    await expect(loadHomelab({cwd: tmpdir()})).rejects.toThrow(/no homelab.yaml in/)
  })
})

describe('storage file', () => {
  it('lists every app path plus /etc/nixos as backup sources', async () => {
    const homelab = await loadHomelab({cwd: repoRoot})
    const sources = backupSources(await loadStorageFile(homelab))
    expect(sources).toContain('/srv/vaultwarden')
    expect(sources.at(-1)).toBe('/etc/nixos')
  })
})
