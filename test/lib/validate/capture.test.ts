// validate's capture rules (part of the `backup` check): a database image captured as plain
// files warns, naming the app, the image and what to set; a postgres capture naming a workload
// the app does not have is an error; the bundled homelab gives neither.
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {databaseOfImage} from '../../../src/lib/validate/checks/capture.js'
import {validateRepo} from '../../../src/lib/validate/index.js'
import {REPO_ROOT} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'

const copies: string[] = []
afterEach(() => {
  for (const dir of copies.splice(0)) rmSync(dir, {force: true, recursive: true})
})

const STORAGE = 'nixos/storage.json'

function editStorage(dir: string, change: (apps: Array<Record<string, unknown>>) => void): void {
  const file = path.join(dir, STORAGE)
  const json = JSON.parse(readFileSync(file, 'utf8')) as {apps: Array<Record<string, unknown>>}
  change(json.apps)
  // One app a line, the way the file is written, so line numbers mean something.
  writeFileSync(file, `{\n  "apps": [\n${json.apps.map((a) => `    ${JSON.stringify(a)}`).join(',\n')}\n  ],\n  "extraBackupSources": ["/etc/nixos"]\n}\n`)
}

const backupFindings = async (root: string) =>
  (await validateRepo({path: process.env.PATH, root})).checks.find((c) => c.id === 'backup')!.findings.map((f) => `${f.severity} ${f.file}:${f.line}: ${f.message}`)

describe('validate: consistent capture', () => {
  it('the bundled homelab declares a capture for every database image: no warning, no error', async () => {
    expect(await backupFindings(REPO_ROOT)).toEqual([])
  })

  it('a files-mode postgres app warns (and a files-mode SQLite and RocksDB app); validation still passes', async () => {
    const dir = copyBundledHomelab('homelab-validate-capture-')
    copies.push(dir)
    editStorage(dir, (apps) => {
      for (const app of apps) if (['immich', 'vaultwarden', 'tuwunel'].includes(app.name as string)) delete app.backup
    })
    const report = await validateRepo({path: process.env.PATH, root: dir})
    const findings = report.checks.find((c) => c.id === 'backup')!.findings
    expect(findings.map((f) => f.severity)).toEqual(['warning', 'warning', 'warning'])
    const lines = findings.map((f) => `${f.file}:${f.line}: ${f.message}`).sort()
    const apps = 'flux/clusters/azalab-0/manifests/apps'
    const line = (rel: string, needle: string) => readFileSync(path.join(dir, rel), 'utf8').split('\n').findIndex((l) => l.includes(needle)) + 1
    expect(lines).toEqual([
      `${apps}/immich/postgres.yaml:${line(`${apps}/immich/postgres.yaml`, 'image: ghcr.io/immich-app/postgres')}: app immich: StatefulSet/immich-postgres runs ghcr.io/immich-app/postgres:14-vectorchord0.4.3-pgvectors0.2.0@sha256:bcf63357191b76a916ae5eb93464d65c07511da41e3bf7a8416db519b40b1c23 (PostgreSQL), but nixos/storage.json captures its folder as plain files: set apps[].backup {"mode": "postgres"…} there (homelab app new --backup postgres), or a file copy of the live database may not open`,
      `${apps}/tuwunel/deployment.yaml:${line(`${apps}/tuwunel/deployment.yaml`, 'image: ghcr.io/matrix-construct/tuwunel')}: app tuwunel: Deployment/tuwunel runs ghcr.io/matrix-construct/tuwunel:v1.5.1 (RocksDB), but nixos/storage.json captures its folder as plain files: set apps[].backup {"mode": "stop"…} there (homelab app new --backup stop), or a file copy of the live database may not open`,
      `${apps}/vaultwarden/deployment.yaml:${line(`${apps}/vaultwarden/deployment.yaml`, 'image: docker.io/vaultwarden/server')}: app vaultwarden: Deployment/vaultwarden runs docker.io/vaultwarden/server:1.34.3 (SQLite), but nixos/storage.json captures its folder as plain files: set apps[].backup {"mode": "sqlite"…} there (homelab app new --backup sqlite), or a file copy of the live database may not open`,
    ])
    expect(report.ok).toBe(true)
  }, 120_000)

  it('a postgres capture naming a workload the app does not have is an error on the storage file line', async () => {
    const dir = copyBundledHomelab('homelab-validate-capture-')
    copies.push(dir)
    editStorage(dir, (apps) => {
      const immich = apps.find((a) => a.name === 'immich')!
      immich.backup = {...(immich.backup as object), workload: 'deployment/immich-postgres'}
    })
    const findings = await backupFindings(dir)
    const line = readFileSync(path.join(dir, STORAGE), 'utf8').split('\n').findIndex((l) => l.includes('"name":"immich"')) + 1
    expect(findings).toEqual([
      `error ${STORAGE}:${line}: app immich: backup.workload deployment/immich-postgres is not a Deployment of the app (namespace immich); name the Deployment that runs PostgreSQL`,
    ])
  }, 120_000)

  it('knows database images by repository name, whatever the registry, tag or digest', () => {
    expect(databaseOfImage('postgres:17')).toMatchObject({mode: 'postgres'})
    expect(databaseOfImage('docker.io/postgis/postgis:16-3.4')).toMatchObject({mode: 'postgres'})
    expect(databaseOfImage('tensorchord/pgvecto-rs:pg16-v0.2.0')).toMatchObject({mode: 'postgres'})
    expect(databaseOfImage('localhost:5000/vaultwarden/server:1.34.3')).toMatchObject({mode: 'sqlite'})
    expect(databaseOfImage('ghcr.io/tursodatabase/libsql-server@sha256:' + 'a'.repeat(64))).toMatchObject({mode: 'sqlite'})
    expect(databaseOfImage('ghcr.io/matrix-construct/tuwunel:v1.5.1')).toMatchObject({mode: 'stop'})
    // A registry host or tag that merely mentions postgres is not the repository.
    expect(databaseOfImage('postgres.example.org/team/web:1')).toBeUndefined()
    expect(databaseOfImage('ghcr.io/immich-app/immich-server:v2.4.1')).toBeUndefined()
    expect(databaseOfImage('docker.io/valkey/valkey:9.0.1')).toBeUndefined()
  })
})
