import {rmSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {writeMinimalHomelab} from '../lib/validate/minimal-homelab.js'

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, {force: true, recursive: true})
})

async function minimal(): Promise<string> {
  const dir = await writeMinimalHomelab()
  dirs.push(dir)
  return dir
}

const CHECK_LINES = [
  /^✓ yaml {7}YAML parses/m,
  /^✓ kustomize {2}kustomizations resolve/m,
  /^✓ storage {4}every PVC binds/m,
  /^✓ backup {5}every hostPath/m,
  /^✓ sops {7}files matched/m,
  /^✓ nix {8}every \.nix file parses/m,
  /^✓ config {5}homelab\.yaml is valid/m,
  /^✓ schema {5}every Kubernetes and Flux object matches its API schema/m,
]

describe('homelab validate', () => {
  it('passes the bundled homelab (README command 1)', async () => {
    const result = await runCli(['validate'])
    expect(result.stderr).toBe('')
    for (const line of CHECK_LINES) expect(result.stdout).toMatch(line)
    expect(result.stdout).toMatch(/^valid: 9 checks, 9 passed, 0 failed; 0 errors, \d+ warnings? \(\d+\.\ds\)$/m)
    expect(result.exitCode).toBe(0)
  })

  it('prints ✓ per check for a valid homelab and exits 0', async () => {
    const dir = await minimal()
    const result = await runCli(['validate'], {cwd: path.join(dir, 'flux')})
    for (const line of CHECK_LINES) expect(result.stdout).toMatch(line)
    expect(result.exitCode).toBe(0)
  })

  it('prints every problem as file:line under its ✗ check and exits 1', async () => {
    const dir = await minimal()
    const pvc = path.join(dir, 'flux/clusters/lab-0/manifests/apps/demo/pvc.yaml')
    writeFileSync(pvc, readFileSync(pvc, 'utf8').replace('storage: 10Gi', 'storage: 1Ti'))
    const result = await runCli(['validate', '--repo', dir])
    expect(result.stdout).toContain(
      '✗ storage    every PVC binds to exactly one PV; hostPath PVs under the storage root, none shared\n' +
        "    flux/clusters/lab-0/manifests/apps/demo/pvc.yaml:13: PersistentVolumeClaim demo/demo-data: requests 1Ti but PersistentVolume demo-data holds 10Gi\n" +
        '✓ backup',
    )
    expect(result.stdout).toMatch(/^invalid: 9 checks, 8 passed, 1 failed; 1 error, 0 warnings/m)
    expect(result.exitCode).toBe(1)
  })

  it('says which checks were skipped when kubectl and nix are missing', async () => {
    const dir = await minimal()
    const result = await runCli(['validate', '--repo', dir], {env: {PATH: '/nonexistent'}})
    expect(result.stdout).toMatch(/^– kustomize .*\(skipped: kubectl not found: 3 Flux Kustomization path\(s\) not built\)$/m)
    expect(result.stdout).toMatch(/^– nix .*\(skipped: nix-instantiate not found: 3 \.nix file\(s\) not parsed\)$/m)
    expect(result.stdout).toMatch(/^valid: 9 checks, 7 passed, 0 failed, 2 skipped/m)
    expect(result.exitCode).toBe(0)
  })

  it('--json prints the documented report shape and keeps exit 1', async () => {
    const dir = await minimal()
    rmSync(path.join(dir, 'templates'), {recursive: true})
    const result = await runCli(['validate', '--repo', dir, '--json'])
    expect(result.exitCode).toBe(1)
    const report = JSON.parse(result.stdout)
    expect(Object.keys(report).sort()).toEqual(['checks', 'durationMs', 'errors', 'ok', 'root', 'schemaVersion', 'warnings'])
    expect(report).toMatchObject({errors: 1, ok: false, root: dir, warnings: 0})
    expect(report.checks.map((c: {id: string}) => c.id)).toEqual(['yaml', 'kustomize', 'storage', 'backup', 'sops', 'nix', 'config', 'schema', 'map'])
    for (const check of report.checks) {
      expect(Object.keys(check).sort()).toEqual(['durationMs', 'findings', 'id', 'status', 'title'])
      expect(check.status).toBe(check.id === 'config' ? 'failed' : 'passed')
    }

    expect(report.checks[6].findings).toEqual([
      {
        check: 'config',
        file: 'templates/host-bootstrap/flake.nix',
        line: 1,
        message: "missing: the host bootstrap template (a new host's /etc/nixos flake) must be present",
        severity: 'error',
      },
    ])
  })

  it('lists an object without a schema as a note, in the text report and as an info finding in --json', async () => {
    const dir = await minimal()
    const rel = 'flux/clusters/lab-0/manifests/cluster/namespaces.yaml'
    writeFileSync(path.join(dir, rel), `${readFileSync(path.join(dir, rel), 'utf8')}---\napiVersion: networking.cfargotunnel.com/v1alpha1\nkind: TunnelBinding\nmetadata:\n  name: demo\n`)
    const message = 'TunnelBinding demo: not checked: no schema for apiVersion networking.cfargotunnel.com/v1alpha1 kind TunnelBinding (a CRD or an API the bundled models do not cover)'
    const text = await runCli(['validate', '--repo', dir], {env: {PATH: '/nonexistent'}})
    expect(text.stdout).toContain(`✓ schema     every Kubernetes and Flux object matches its API schema, no unknown fields\n    ${rel}:6: note: ${message}\n`)
    expect(text.stdout).toMatch(/^valid: 9 checks, 7 passed, 0 failed, 2 skipped; 0 errors, 0 warnings, 1 note \(/m)
    expect(text.exitCode).toBe(0)

    const json = await runCli(['validate', '--repo', dir, '--json'], {env: {PATH: '/nonexistent'}})
    const report = JSON.parse(json.stdout)
    expect(report).toMatchObject({errors: 0, ok: true, warnings: 0})
    expect(report.checks.find((c: {id: string}) => c.id === 'schema')).toMatchObject({
      findings: [{check: 'schema', file: rel, line: 6, message, severity: 'info'}],
      status: 'passed',
    })
    expect(json.exitCode).toBe(0)
  })

  it('fails with one line outside a homelab repository', async () => {
    const result = await runCli(['validate'], {cwd: '/'})
    expect(result.stderr).toMatch(/no homelab.yaml in \/ or any folder above it/)
    expect(result.exitCode).toBe(1)
  })
})
