import {execa} from 'execa'
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {REPO_ROOT} from '../helpers/cli.js'

// bin/run.js answers --version and the root help without loading oclif: its output must be
// byte for byte what oclif prints. A CLI root with this package.json and a hand-made manifest
// (long summaries, a topic, the help plugin) is rendered both ways.
let root: string

const command = (id: string, summary: string) => ({aliases: [], args: {}, examples: [], flags: {}, hasDynamicHelp: false, hiddenAliases: [], id, isESM: true, pluginAlias: 'homelab', pluginName: 'homelab', pluginType: 'core', strict: true, summary})

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'homelab-fastpath-'))
  mkdirSync(path.join(root, 'bin'))
  for (const f of ['run.js', 'fast-paths.js']) copyFileSync(path.join(REPO_ROOT, 'bin', f), path.join(root, 'bin', f))
  copyFileSync(path.join(REPO_ROOT, 'package.json'), path.join(root, 'package.json'))
  symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(root, 'node_modules'))
  const version = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).version
  const commands = {
    'app:new': command('app:new', 'Scaffold a new app: Flux manifests, hostPath volume, backups, SOPS secret and tunnel route, all or nothing.'),
    'app:list': command('app:list', 'List the apps.'),
    init: command('init', 'Create a new homelab repository with its own age identity.'),
    'secrets:rotate-key': command('secrets:rotate-key', 'Re-encrypt every SOPS file of the repository to a new age recipient and keep the old identity until the host has the new one.'),
    validate: command('validate', 'Check the homelab offline and report every problem as file:line.'),
  }
  writeFileSync(path.join(root, 'oclif.manifest.json'), JSON.stringify({commands, version}))
})

afterAll(() => { if (!process.env.KEEP) rmSync(root, {force: true, recursive: true}) })

async function fast(args: string[], columns: string) {
  return execa(process.execPath, [path.join(root, 'bin/run.js'), ...args], {env: {NO_COLOR: '1', OCLIF_COLUMNS: columns}})
}

async function oclif(args: string[], columns: string) {
  const script = `const {execute} = await import('@oclif/core'); await execute({dir: ${JSON.stringify(`file://${root}/bin/run.js`)}, args: ${JSON.stringify(args)}})`
  return execa(process.execPath, ['--input-type=module', '-e', script], {cwd: root, env: {NO_COLOR: '1', OCLIF_COLUMNS: columns}})
}

describe('bin/run.js fast paths', () => {
  for (const columns of ['40', '80', '132'])
    it(`prints the root help exactly as oclif does (${columns} columns)`, async () => {
      const expected = (await oclif(['--help'], columns)).stdout
      expect(expected).toContain('secrets rotate-key')
      expect((await fast(['--help'], columns)).stdout).toBe(expected)
      expect((await fast([], columns)).stdout).toBe(expected)
    })

  it('prints --version exactly as oclif does', async () => {
    const expected = (await oclif(['--version'], '80')).stdout
    expect(expected).toMatch(/^homelab\/\d+\.\d+\.\d+ \S+ node-v\d+/)
    expect((await fast(['--version'], '80')).stdout).toBe(expected)
  })
})
