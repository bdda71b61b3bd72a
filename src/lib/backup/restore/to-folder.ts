import {HomelabError, UsageError} from '../../errors.js'
import type {BackupHost} from '../host.js'
import {folderFigures, restoreSnapshot} from './host-steps.js'
import type {SnapshotSummary} from './snapshots.js'
import type {RestoreSource} from './source.js'
import type {RestoreResult} from './types.js'

/**
 * `--to PATH`: restores `snapshot` of `source` into `target` on the host, which must not exist or
 * be an empty folder (check it with checkRestoreTarget first: never the live source). Nothing
 * live is touched: no scaling, no owner change, no re-import; the dumps stay in
 * `.homelab-backup/` of the target.
 *
 * @throws UsageError (exit 3) when the target is not empty; HomelabError when it is not a folder, or the restore fails (the
 *   partial target is then left for inspection, and named)
 */
export async function restoreToFolder(options: {connection: BackupHost; source: RestoreSource; snapshot: SnapshotSummary; target: string}): Promise<RestoreResult> {
  const {connection, snapshot, source, target} = options
  const before = await folderFigures(connection, target)
  if (before.nonEmpty)
    throw new UsageError(`--to ${target}: the folder on the host is not empty`, {suggestions: ['give a new or empty folder; a restore never overwrites']})
  try {
    await restoreSnapshot(connection, snapshot.rootObject, target)
  } catch (error) {
    throw new HomelabError(`restoring snapshot ${snapshot.id} of ${source.path} into ${target} failed: ${(error as Error).message}`, {
      suggestions: [`${target} may hold part of the files: remove it before trying again`],
    })
  }

  return {
    app: source.app?.name ?? null,
    aside: null,
    failedStep: null,
    flux: {resumed: [], suspended: []},
    mode: 'to',
    ok: true,
    reimported: [],
    scaled: [],
    snapshot: {files: snapshot.files, id: snapshot.id, size: snapshot.size, time: snapshot.time},
    source: source.path,
    state: `restored snapshot ${snapshot.id} of ${source.path} (${snapshot.time}) into ${target} on the host; the live data was not touched`,
    target,
  }
}
