import {promises as fs} from 'node:fs'
import path from 'node:path'

import {serverHost} from '../../config/hosts.js'
import {backupSources, type Homelab} from '../../config/load.js'
import type {Check} from '../check.js'
import {describeObject} from '../check.js'
import {isRecord, lineOf} from '../context.js'
import {FindingList} from '../finding.js'
import {isUnder} from '../../fs/path-under.js'
import {checkCaptures} from './capture.js'

/**
 * Check 4: every hostPath under the storage root — in PersistentVolumes and in pod volumes of any
 * workload — is covered by a backup source (an app path or extra source of the storage file,
 * `backupSources` in src/lib/config/load.ts), so no app data escapes the Kopia snapshots; and
 * each app's consistent capture (storage file `apps[].backup`) fits its workloads (./capture.ts).
 */
export const backupCheck: Check = {
  id: 'backup',
  title: 'every hostPath under the storage root is a backup source',
  async run(context) {
    const out = new FindingList('backup')
    if (!context.storage || !context.homelab) return {findings: [], skipped: 'the storage file did not load (see the config check)'}
    const sources = backupSources(context.storage)
    const storageFile = context.homelab.config.storage.file
    for (const object of context.objects) {
      for (const {keyPath, value} of hostPaths(object.value)) {
        const hp = path.posix.normalize(value)
        if (!isUnder(hp, context.storageRoot)) continue
        if (sources.some((source) => isUnder(hp, source))) continue
        out.error(object.file.rel, lineOf(object, [...keyPath, 'path']), `${describeObject(object)}: hostPath ${value} is not a backup source (add it to ${storageFile})`)
      }
    }

    const storageText = await fs.readFile(path.resolve(context.root, storageFile), 'utf8').catch(() => undefined)
    checkCaptures(out, {apps: context.storage.apps, objects: context.objects, storageFile, storageText})
    await checkOffsitePrefix(out, context.root, context.homelab)
    return {findings: out.findings}
  },
}

/**
 * With more than one host, the backup file's `prefix` must not be "": each host syncs its own Kopia
 * repository to its own prefix (the k3s server to `prefix`, any other host to a sibling
 * "<prefix>-<host>/", src/lib/backup/offsite-target.ts), and a server repository at the bucket
 * root would list every other host's blobs as its own. A backup file that does not load is the
 * backup commands' matter (they name the error), not reported here.
 */
async function checkOffsitePrefix(out: FindingList, root: string, homelab: Homelab): Promise<void> {
  const backupFile = homelab.config.backup.file
  const hosts = homelab.config.hosts.map((h) => h.name)
  if (hosts.length < 2) return
  const text = await fs.readFile(path.resolve(root, backupFile), 'utf8').catch(() => undefined)
  if (text === undefined) return
  let prefix: unknown
  try {
    prefix = (JSON.parse(text) as {prefix?: unknown}).prefix ?? ''
  } catch {
    return
  }

  if (prefix !== '') return
  const index = text.split('\n').findIndex((l) => /"prefix"\s*:/.test(l))
  const others = hosts.filter((h) => h !== serverHost(homelab).name).map((h) => `${h}/`)
  out.error(
    backupFile,
    index === -1 ? 1 : index + 1,
    `prefix is "" with ${hosts.length} hosts: the k3s server's Kopia repository would sit at the bucket root, where its listing sees the other hosts' off-site copies (${others.join(', ')}); set backup.json prefix, e.g. "kopia/" (each other host then syncs to its sibling "kopia-<host>/")`,
  )
}

/** Every `hostPath: {path}` anywhere in an object, with the key path of the hostPath map. */
export function hostPaths(value: unknown, keyPath: Array<string | number> = []): Array<{keyPath: Array<string | number>; value: string}> {
  if (Array.isArray(value)) return value.flatMap((item, i) => hostPaths(item, [...keyPath, i]))
  if (!isRecord(value)) return []
  return Object.entries(value).flatMap(([key, child]) =>
    key === 'hostPath' && isRecord(child) && typeof child.path === 'string' ? [{keyPath: [...keyPath, key], value: child.path}] : hostPaths(child, [...keyPath, key]),
  )
}
