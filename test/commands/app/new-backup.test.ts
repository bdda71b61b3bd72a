// `homelab app new --backup MODE`: the capture lands in the storage file through the existing
// edit path, valid per its schema; a missing or misplaced sub-flag is a usage error (exit 3)
// naming the flag, and changes no file.
import {promises as fs, rmSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {storageFileSchema} from '../../../src/lib/config/schema.js'
import {validateRepo} from '../../../src/lib/validate/index.js'
import {runCli} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'
import {treeSnapshot} from '../../lib/app/tree-snapshot.js'

let root: string

beforeAll(() => {
  root = copyBundledHomelab('homelab-app-backup-')
})

afterAll(() => {
  rmSync(root, {force: true, recursive: true})
})

function errorLine(stderr: string): string {
  return stderr.split('\n').find((l) => l.includes('Error:'))?.replace(/^.*Error:\s*/, '') ?? stderr
}

const storage = async () => storageFileSchema.parse(JSON.parse(await fs.readFile(path.join(root, 'nixos/storage.json'), 'utf8')))

describe('homelab app new --backup', () => {
  it('sqlite: writes apps[].backup with the databases on the app\'s line, valid per the schema', async () => {
    const r = await runCli(
      ['app', 'new', 'notes', '--image', 'ghcr.io/owner/notes:2.1', '--storage', '2Gi', '--no-hostname', '--backup', 'sqlite', '--backup-database', 'data/notes.db', '--backup-database', 'index.db', '--json', '--repo', root],
      {env: {CI: 'true'}},
    )
    expect(r.exitCode, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).backup).toEqual({databases: ['data/notes.db', 'index.db'], mode: 'sqlite'})
    const app = (await storage()).apps.find((a) => a.name === 'notes')
    expect(app?.backup).toEqual({databases: ['data/notes.db', 'index.db'], mode: 'sqlite'})
    expect(await fs.readFile(path.join(root, 'nixos/storage.json'), 'utf8')).toContain(
      '{ "name": "notes", "path": "/srv/notes", "uid": 1000, "gid": 1000, "mode": "0750", "node": "azalab-0", "backup": { "mode": "sqlite", "databases": ["data/notes.db", "index.db"] } }',
    )
  })

  it('postgres: the app\'s own StatefulSet by default, its namespace when not the name; validate accepts it without a warning', async () => {
    const r = await runCli(
      [
        'app', 'new', 'pg', '--image', 'postgres:17.2', '--kind', 'statefulset', '--namespace', 'databases', '--storage', '20Gi', '--no-hostname', '--uid', '999', '--gid', '999',
        '--backup', 'postgres', '--backup-postgres-database', 'app', '--backup-postgres-user', 'app', '--backup-postgres-data-dir', 'pgdata', '--backup-postgres-container', 'pg', '--repo', root,
      ],
      {env: {CI: 'true'}},
    )
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toContain('(capture: postgres)')
    expect((await storage()).apps.find((a) => a.name === 'pg')?.backup).toEqual({
      container: 'pg',
      dataDir: 'pgdata',
      database: 'app',
      mode: 'postgres',
      namespace: 'databases',
      user: 'app',
      workload: 'statefulset/pg',
    })
    const report = await validateRepo({path: process.env.PATH, root})
    const backup = report.checks.find((c) => c.id === 'backup')!
    expect(backup.findings).toEqual([])
  }, 120_000)

  it('stop and files: stop is written, files (the default) leaves the entry without backup', async () => {
    for (const [name, mode] of [['cache', 'stop'], ['plain', 'files']]) {
      const r = await runCli(['app', 'new', name, '--image', 'redis:7.4', '--storage', '1Gi', '--no-hostname', '--backup', mode, '--repo', root], {env: {CI: 'true'}})
      expect(r.exitCode, r.stderr).toBe(0)
    }

    const apps = (await storage()).apps
    expect(apps.find((a) => a.name === 'cache')?.backup).toEqual({mode: 'stop'})
    expect(apps.find((a) => a.name === 'plain')).not.toHaveProperty('backup')
  })

  const cases: [string, string[], string][] = [
    ['sqlite without --backup-database', ['--backup', 'sqlite'], '--backup sqlite needs --backup-database PATH (the database file inside the app folder; repeatable)'],
    ['postgres without --backup-postgres-user', ['--backup', 'postgres', '--backup-postgres-database', 'app', '--backup-postgres-data-dir', 'pgdata'], '--backup postgres needs --backup-postgres-user'],
    ['postgres without --backup-postgres-database', ['--backup', 'postgres', '--backup-postgres-user', 'app', '--backup-postgres-data-dir', 'pgdata'], '--backup postgres needs --backup-postgres-database'],
    ['postgres without --backup-postgres-data-dir', ['--backup', 'postgres', '--backup-postgres-user', 'app', '--backup-postgres-database', 'app'], '--backup postgres needs --backup-postgres-data-dir'],
    ['a database path outside the app folder', ['--backup', 'sqlite', '--backup-database', '../other/db'], '--backup-database "../other/db": must be a path inside the app folder (relative, no . or ..)'],
    ['an absolute database path', ['--backup', 'sqlite', '--backup-database', '/srv/x/db'], '--backup-database "/srv/x/db": must be a path inside the app folder (relative, no . or ..)'],
    ['a bad workload', ['--backup', 'postgres', '--backup-postgres-workload', 'pod/x', '--backup-postgres-user', 'a', '--backup-postgres-database', 'a', '--backup-postgres-data-dir', 'd'], '--backup-postgres-workload "pod/x": must be deployment/<name> or statefulset/<name>'],
    ['a sub-flag without --backup', ['--backup-database', 'db'], '--backup-database needs --backup sqlite'],
    ['a sub-flag of another mode', ['--backup', 'stop', '--backup-postgres-user', 'app'], '--backup-postgres-user does not apply to --backup stop'],
    ['--backup without a volume', ['--storage', '0', '--backup', 'stop'], '--backup stop needs a volume: without --storage (or with --storage 0) the app has no folder to back up'],
  ]

  it.each(cases)('%s: exit 3, one line naming the flag, no file changed', async (_label, args, message) => {
    const before = await treeSnapshot(root)
    const r = await runCli(['app', 'new', 'wiki', '--image', 'nginx:1.27', '--no-hostname', '--repo', root, ...args], {env: {CI: 'true'}})
    expect(r.exitCode).toBe(3)
    expect(errorLine(r.stderr)).toBe(message)
    expect(await treeSnapshot(root)).toEqual(before)
  })

  it('an unknown mode is a usage error listing the modes', async () => {
    const r = await runCli(['app', 'new', 'wiki', '--image', 'nginx:1.27', '--backup', 'snapshot', '--repo', root], {env: {CI: 'true'}})
    expect(r.exitCode).toBe(3)
    expect(r.stderr.replaceAll(/\s*›\s*/g, ' ')).toContain('Expected --backup=snapshot to be one of: files, sqlite, postgres, stop')
  })
})
