import {HomelabError} from '../../errors.js'

/** The steps of an in-place restore, as the final state line and `--json` name them. */
export type RestoreStep = 'suspend' | 'scale-down' | 'move-aside' | 'restore' | 'owner' | 're-import' | 'scale-up' | 'resume'

/** A step of a restore failed on the host; `message` is the host's one-line reason. */
export class RestoreStepError extends HomelabError {
  constructor(
    readonly step: RestoreStep,
    message: string,
  ) {
    super(message)
  }
}

/** The last non-empty line of a command's stderr (else stdout), or `exit N`. */
export function lastLine(r: {exitCode: number; stdout: string; stderr: string}): string {
  return r.stderr.trim().split('\n').at(-1)?.trim() || r.stdout.trim().split('\n').at(-1)?.trim() || `exit ${r.exitCode}`
}
