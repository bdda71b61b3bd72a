import {constants} from 'node:os'

/**
 * The exit code of a command ended by `signal`, by the shell convention 128 + the signal's
 * number (POSIX numbers, as `os.constants.signals` gives them): SIGHUP 129, SIGINT 130,
 * SIGTERM 143.
 */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal]
}
