import {promises as fs} from 'node:fs'
import path from 'node:path'

import {backupSources} from '../../config/load.js'
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
    return {findings: out.findings}
  },
}

/** Every `hostPath: {path}` anywhere in an object, with the key path of the hostPath map. */
export function hostPaths(value: unknown, keyPath: Array<string | number> = []): Array<{keyPath: Array<string | number>; value: string}> {
  if (Array.isArray(value)) return value.flatMap((item, i) => hostPaths(item, [...keyPath, i]))
  if (!isRecord(value)) return []
  return Object.entries(value).flatMap(([key, child]) =>
    key === 'hostPath' && isRecord(child) && typeof child.path === 'string' ? [{keyPath: [...keyPath, key], value: child.path}] : hostPaths(child, [...keyPath, key]),
  )
}
