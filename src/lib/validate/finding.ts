/** The nine checks of `homelab validate`, in the order they are reported. */
export const CHECK_IDS = ['yaml', 'kustomize', 'storage', 'backup', 'sops', 'nix', 'config', 'schema', 'map'] as const

/** Identifier of one check (stable: it appears in `--json` output). */
export type CheckId = (typeof CHECK_IDS)[number]

/**
 * `error` fails validation (exit 1); `warning` is reported but does not; `info` is a notice that
 * neither fails nor counts as a warning (e.g. an object the schema check could not check).
 */
export type Severity = 'error' | 'warning' | 'info'

/**
 * One problem found by a check.
 * `file` is relative to the repository root (POSIX separators); `line` is 1-based (1 when the
 * problem concerns the whole file).
 */
export interface Finding {
  check: CheckId
  file: string
  line: number
  message: string
  severity: Severity
}

/**
 * Outcome of one check:
 * - `failed`: at least one error finding;
 * - `skipped`: no error, but part or all of the check could not run (a tool is missing); `skipped`
 *   says what and why, e.g. "kubectl not found";
 * - `passed`: everything ran and no error was found (warnings and info findings may be present).
 */
export type CheckStatus = 'passed' | 'failed' | 'skipped'

/** What one check reports. `durationMs` is wall time in milliseconds. */
export interface CheckResult {
  id: CheckId
  title: string
  status: CheckStatus
  /** Why (part of) the check did not run, e.g. "skipped: kubectl not found"; absent when it all ran. */
  skipped?: string
  findings: Finding[]
  durationMs: number
}

/** Collects findings for one check; `file` relative to the repository root. */
export class FindingList {
  readonly findings: Finding[] = []
  constructor(readonly check: CheckId) {}

  error(file: string, line: number, message: string): void {
    this.findings.push({check: this.check, file, line, message, severity: 'error'})
  }

  warning(file: string, line: number, message: string): void {
    this.findings.push({check: this.check, file, line, message, severity: 'warning'})
  }

  info(file: string, line: number, message: string): void {
    this.findings.push({check: this.check, file, line, message, severity: 'info'})
  }
}
