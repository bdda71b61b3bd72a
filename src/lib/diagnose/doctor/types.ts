/** The id of each check of `homelab doctor`, in the order they are reported. */
export const DOCTOR_CHECKS = [
  'sops-key-file',
  'sops-key-mode',
  'sops-decrypt',
  'sops-recipients',
  'host-key',
  'ssh-login',
  'sudo',
  'repo-fetch',
  'host-age-key',
  'cluster-sops-age',
  'k3s-nodes',
  'flux-controllers',
  'flux-source',
  'backup-units',
  'backup-runs',
  'disk-storage',
  'disk-boot',
] as const

/** One check's id (see {@link DOCTOR_CHECKS}). */
export type DoctorCheckId = (typeof DOCTOR_CHECKS)[number]

/**
 * One check's outcome: `ok` ✓, `fail` ✗ (with `fix`), `skip` when it could not run because a
 * check it needs failed (named in `detail`) or --offline left the host out.
 */
export interface DoctorCheck {
  id: DoctorCheckId
  /** What is checked, for people (`sops key file exists`). */
  title: string
  status: 'ok' | 'fail' | 'skip'
  /** One line: what was found. Never a secret (recipients and fingerprints only). */
  detail: string
  /** One line: what to do, for a failed check; null otherwise. */
  fix: string | null
}

/** `homelab doctor --json` (schemas/doctor.schema.json). `ok` is false when any check failed. */
export interface DoctorReport {
  schemaVersion: 1
  /** RFC 3339 UTC. */
  checkedAt: string
  offline: boolean
  /** The host checked (homelab.yaml name and ssh), null with --offline. */
  host: {name: string; ssh: string} | null
  ok: boolean
  checks: DoctorCheck[]
}
