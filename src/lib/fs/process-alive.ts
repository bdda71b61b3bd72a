import {readFileSync} from 'node:fs'

/**
 * The start time of process `pid` as the kernel reports it (field 22 of /proc/PID/stat, clock
 * ticks since boot, as a decimal string), or null when the process does not exist or /proc is
 * not there. Together with the pid it names one process: a pid reused by a later process has
 * another start time.
 */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[19] ?? null
  } catch {
    return null
  }
}

/**
 * True when the process that recorded (`pid`, `startTime`) is still running: the pid exists and,
 * where /proc tells start times, it started at `startTime` (else the pid was reused by another
 * process, and the recorder is gone). `startTime` null (not known when recorded): the pid
 * existing is enough. Never throws.
 */
export function isProcessAlive(pid: number, startTime: string | null): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false
  }

  if (startTime === null) return true
  const now = processStartTime(pid)
  return now === null ? true : now === startTime
}
