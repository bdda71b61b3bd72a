import {promises as fs} from 'node:fs'
import path from 'node:path'

import {REPO_ROOT} from '../../helpers/cli.js'
import type {TestHost, TestRepo} from './test-host.js'

/**
 * Backups as the host's backup scripts leave them after a good night (src/lib/backup reads them):
 * the repo copy's backup state folder points into the host's temp folder (`<hostRoot>/backup-state`,
 * working tree only, not committed); snapshots.json holds one manifest per source of storage.json
 * (shape of test/fixtures/kopia/snapshot-list.json) finished an hour ago, last-sync.json a success.
 * With `moveStorageRoot`, homelab.yaml's storage root becomes `<hostRoot>/srv` (created).
 * @returns the state folder
 */
export async function writeGoodBackups(host: TestHost, repo: TestRepo, options: {moveStorageRoot?: boolean} = {}): Promise<string> {
  const stateDir = path.join(host.hostRoot, 'backup-state')
  await fs.mkdir(stateDir, {recursive: true})
  const backupFile = path.join(repo.dir, 'nixos/backup.json')
  await fs.writeFile(backupFile, JSON.stringify({...JSON.parse(await fs.readFile(backupFile, 'utf8')), stateDir}, null, 2))
  if (options.moveStorageRoot) {
    const storageRoot = path.join(host.hostRoot, 'srv')
    await fs.mkdir(storageRoot, {recursive: true})
    const yamlFile = path.join(repo.dir, 'homelab.yaml')
    await fs.writeFile(yamlFile, (await fs.readFile(yamlFile, 'utf8')).replace(/root: \/srv/, `root: ${storageRoot}`))
  }

  const storage = JSON.parse(await fs.readFile(path.join(repo.dir, 'nixos/storage.json'), 'utf8')) as {apps: Array<{path: string}>; extraBackupSources: string[]}
  const [template] = JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'test/fixtures/kopia/snapshot-list.json'), 'utf8'))
  const end = new Date(Date.now() - 3_600_000).toISOString()
  const start = new Date(Date.now() - 3_660_000).toISOString()
  const snapshots = [...storage.apps.map((a) => a.path), ...storage.extraBackupSources].map((p, i) => ({
    ...template, endTime: end, id: `e2e${String(i).padStart(29, '0')}`, source: {...template.source, host: repo.hostName, path: p, userName: 'root'}, startTime: start,
  }))
  await fs.writeFile(path.join(stateDir, 'snapshots.json'), JSON.stringify(snapshots))
  await fs.writeFile(path.join(stateDir, 'last-sync.json'), JSON.stringify({bucket: 'azalab-kopia', end, endpoint: 'e', error: null, exitCode: 0, prefix: 'kopia/', result: 'success', start, version: 1}))
  return stateDir
}
