/**
 * Kopia backups of the host and their off-site copy: settings (nixos/backup.json + homelab.yaml),
 * the host's status files, the judged status (`readBackupStatus`, also used by `homelab status`),
 * and the R2 check.
 */
export {type BackupHost, type HostExecOptions, type HostExecResult, shellQuote, systemdEscapePath} from './host.js'
export {pickHost} from '../config/hosts.js'
export {loadR2Credentials, type R2Credentials} from './credentials.js'
export {
  checkOffsite,
  endpointUrl,
  type OffsiteCheckOptions,
  type OffsiteCredentials,
  OffsiteCredentialsError,
  type OffsiteRestoreTest,
  type OffsiteStatus,
} from './offsite.js'
export {
  type BlobRecord,
  judgeProtection,
  OFFSITE_MARKER_KEY,
  type OffsiteMarker,
  offsiteMarkerSchema,
  type OffsiteProtection,
} from './offsite-protection.js'
export {offsiteTarget, type OffsiteTarget} from './offsite-target.js'
export {backupUnitFor, runBackupUnit, startUnit, type UnitRunResult, type UnitStart} from './run-unit.js'
export {schedulePeriodSeconds} from './schedule.js'
export {type BackupFile, backupFileSchema, type BackupSettings, loadBackupSettings} from './settings.js'
export {type HostBackupState, type LastRun, type LastSync, readHostBackupState} from './state-files.js'
export {DRILL_UNIT, type DrillRunResult, drillUnitsFor, resolveDrillSources, runDrill} from './drill.js'
export {type LastDrill, type LastDrillSource, lastDrillSchema} from './drill-state.js'
export {
  type BackupStatus,
  type DrillState,
  evaluateBackupStatus,
  formatAge,
  readBackupStatus,
  type SourceDrill,
  type SourceState,
  type SourceStatus,
  type SyncState,
} from './status.js'
export {parseTimers, type TimerTimes} from './timers.js'
export {type SourceVerify, verifyBackups, type VerifyReport} from './verify.js'
