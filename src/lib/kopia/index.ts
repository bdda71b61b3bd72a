/**
 * Reading kopia's JSON output (kopia 0.23, `cli/json_output.go` and the commands' own files).
 * Real samples: test/fixtures/kopia/.
 */
export {KopiaOutputError} from './errors.js'
export {
  kopiaTime,
  latestByPath,
  parseSnapshotCreate,
  parseSnapshotList,
  type SnapshotFigures,
  snapshotFigures,
  type SnapshotManifest,
} from './manifest.js'
export {parseRepositoryStatus, type RepositoryStatus} from './repository-status.js'
export {parseSnapshotVerify, type SnapshotVerifyResult} from './verify.js'
