/**
 * `homelab backup restore`: pick a snapshot of a source, restore it into another folder on the
 * host (`--to`) or over the live app folder (scale down, move aside, restore, owner, re-import,
 * scale up, with the data put back on any failure), and prune the folders kept aside.
 */
export {type AsideFolder, type FolderFigures, listAsideFolders, type Reimported, removeAsideFolders} from './host-steps.js'
export {asideStamp, type FluxChanges, type InPlaceCallbacks, type InPlacePlan, planInPlace, restoreInPlace} from './in-place.js'
export {listSourceSnapshots, parseAtTime, pickSnapshot, type SnapshotSummary} from './snapshots.js'
export {checkRestoreTarget, resolveRestoreSource, type RestoreSource} from './source.js'
export {RestoreStepError, type RestoreStep} from './step-error.js'
export {restoreToFolder} from './to-folder.js'
export type {RestoreResult, ScaleChange} from './types.js'
export {type KustomizationRef, selectorText, type Workload} from './workloads.js'
