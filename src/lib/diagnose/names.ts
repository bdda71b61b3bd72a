import {UsageError} from '../errors.js'

/**
 * Strict patterns for the names that reach a remote command line (issue 15): they are also
 * shell-quoted when the command is built, but a name that does not look like one is refused
 * before anything connects (exit 3), so a typo or a `;` never reaches the host at all.
 */
export const NAME_PATTERNS = {
  /** An app folder name (as `homelab app new` makes them: a DNS-1123 label). */
  app: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
  /** A container name (DNS-1123 label, Kubernetes' rule for container names). */
  container: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
  /** A namespace (DNS-1123 label). */
  namespace: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
  /**
   * A systemd unit name (systemd.unit(5) "valid unit names": ASCII letters, digits, `:-_.\`,
   * and `@` for templates), optionally with its type suffix; at most 255 characters.
   */
  unit: /^[A-Za-z0-9:_.\\@-]{1,255}$/,
} as const

/** Which kind of remote name {@link assertRemoteName} checks. */
export type RemoteNameKind = keyof typeof NAME_PATTERNS

/**
 * Refuses a remote name that does not match its strict pattern ({@link NAME_PATTERNS}).
 * @param flag how the person gave it, for the message (`UNIT`, `--container`)
 * @throws UsageError (exit 3) naming the value and the allowed characters
 */
export function assertRemoteName(kind: RemoteNameKind, value: string, flag: string): string {
  if (NAME_PATTERNS[kind].test(value) && !value.startsWith('-')) return value
  const allowed = kind === 'unit' ? 'letters, digits and :-_.\\@ (a systemd unit name)' : 'lowercase letters, digits and - (a DNS-1123 label, at most 63 characters)'
  throw new UsageError(`${flag} ${JSON.stringify(value)} is not a valid ${kind} name: only ${allowed} are allowed`)
}

/** A `--since` duration: a whole number and a unit s, m, h or d (`90s`, `15m`, `1h`, `2d`). */
export interface SinceDuration {
  seconds: number
  /** As kubectl's `--since` (a Go duration; days as hours): `1h`, `48h`. */
  kubectl: string
  /** As journalctl's `--since` (systemd.time(7), relative to now): `-1h`, `-15min`, `-2d`. */
  journalctl: string
}

/**
 * Parses `--since` (`30s`, `15m`, `1h`, `2d`).
 * @throws UsageError (exit 3) for anything else
 */
export function parseSince(value: string): SinceDuration {
  const m = /^(\d{1,7})([smhd])$/.exec(value)
  if (!m || Number(m[1]) === 0) throw new UsageError(`--since ${JSON.stringify(value)}: give a duration such as 30s, 15m, 1h or 2d`)
  const n = Number(m[1])
  const unit = m[2] as 'd' | 'h' | 'm' | 's'
  const seconds = n * {d: 86_400, h: 3600, m: 60, s: 1}[unit]
  return {
    journalctl: `-${n}${{d: 'd', h: 'h', m: 'min', s: 's'}[unit]}`,
    kubectl: unit === 'd' ? `${n * 24}h` : `${n}${unit}`,
    seconds,
  }
}

/** journalctl's priority names (journalctl(1) `-p`), most severe first. */
export const PRIORITIES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const
