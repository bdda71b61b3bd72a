// `homelab map` as the CLI, offline on the bundled homelab: the tree, the one-line answers, the
// outputs written atomically, --json against schemas/map.schema.json, and the usage errors.
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {REPO_ROOT, runCli} from '../helpers/cli.js'
import {expectMatchesSchema} from '../helpers/json-schema.js'

const out = mkdtempSync(path.join(tmpdir(), 'homelab-map-cli-'))
afterAll(() => rmSync(out, {force: true, recursive: true}))

/** Asserts one output matches schemas/map.schema.json (ajv, draft 2020-12, strict). */
async function matchesSchema(value: unknown): Promise<void> {
  expectMatchesSchema('map', value)
}

describe('homelab map (CLI)', () => {
  it('prints the tree without a TTY and without colour', async () => {
    const r = await runCli(['map'])
    expect(r.exitCode).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/^azalab-0 {2}domain aza\.network · storage \/srv · 7 apps$/m)
    expect(r.stdout).toContain('│  ├─ photos.aza.network → immich-server:2283')
    expect(r.stdout).toContain('│  ├─ immich-data → PV immich-data 500Gi → /srv/immich on azalab-0 (1000:1000 0750)')
    expect(r.stdout).not.toMatch(/\u001B\[/)
  })

  it('--port and --host answer in one line; no answer is exit 1 with one line on stderr', async () => {
    const port = await runCli(['map', '--port', '2283'])
    expect(port).toMatchObject({exitCode: 0, stderr: '', stdout: 'Service immich/immich-server port 2283 → 2283/TCP → immich-server (app immich)'})
    const hostname = await runCli(['map', '--host', 'photos.aza.network'])
    expect(hostname).toMatchObject({exitCode: 0, stdout: 'photos.aza.network → Service immich/immich-server:2283 (app immich)'})
    const none = await runCli(['map', '--host', 'photos.example.org'])
    expect(none).toMatchObject({exitCode: 1, stdout: '', stderr: 'no tunnel route for photos.example.org in the repository (see `homelab map`)'})
    const json = await runCli(['map', '--port', '9', '--json'])
    expect(json.exitCode).toBe(1)
    expect(JSON.parse(json.stdout)).toEqual({answers: [], query: {port: 9}, schemaVersion: 1})
    await matchesSchema(JSON.parse(json.stdout))
  })

  it('--json is the map with schemaVersion 1 and matches schemas/map.schema.json', async () => {
    const r = await runCli(['map', '--json'])
    expect(r.exitCode).toBe(0)
    const map = JSON.parse(r.stdout)
    expect(map.schemaVersion).toBe(1)
    expect(map.inputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    await matchesSchema(map)
    await matchesSchema({host: 'azalab-0', mismatches: [{app: null, kind: 'workload', message: 'x'}], ok: false, schemaVersion: 1})
    const broken = {...map, apps: [{...map.apps[0], backup: {mode: 'tape', source: '/srv/x'}}]}
    await expect(matchesSchema(broken)).rejects.toThrow()
  })

  it('--output writes markdown and svg atomically (no temp file left); markdown is docs/topology.md', async () => {
    const md = path.join(out, 'topology.md')
    writeFileSync(md, 'old\n')
    const r = await runCli(['map', '--format', 'markdown', '--output', md])
    expect(r).toMatchObject({exitCode: 0, stderr: '', stdout: ''})
    expect(readFileSync(md, 'utf8')).toBe(readFileSync(path.join(REPO_ROOT, 'docs/topology.md'), 'utf8'))
    const svg = path.join(out, 'topology.svg')
    expect((await runCli(['map', '--format', 'svg', '-o', svg])).exitCode).toBe(0)
    expect(readFileSync(svg, 'utf8')).toMatch(/<svg[\s\S]*<\/svg>\s*$/)
    expect(readdirSync(out).sort()).toEqual(['topology.md', 'topology.svg'])
    const missing = await runCli(['map', '--format', 'markdown', '--output', path.join(out, 'no/such/dir/t.md')])
    expect(missing.exitCode).toBe(1)
    expect(missing.stderr).toMatch(/^Error: cannot write .*no\/such\/dir\/t\.md: ENOENT/m)
  })

  it('usage errors exit 3 with one line', async () => {
    for (const [args, message] of [
      [['map', '--check', '--format', 'svg'], '--format goes with the map itself'],
      [['map', '--json', '--format', 'markdown'], '--json and --format both choose the output'],
      [['map', '--json', '--output', path.join(out, 'x.json')], '--output writes --format tree|markdown|svg'],
      [['map', '--port', '80', '--host', 'a.b'], '--host'],
      [['map', '--port', '0'], '--port'],
      [['map', '--node', 'azalab-0'], '--check'],
    ] as const) {
      const r = await runCli([...args])
      expect(r.exitCode, args.join(' ')).toBe(3)
      // Under --json the error is JSON on stdout; else one line on stderr.
      expect(`${r.stdout}${r.stderr}`, args.join(' ')).toContain(message)
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/\n\s+at /)
    }
  })
})
