import {execFileSync} from 'node:child_process'

/** True when `tool` is on PATH (`command -v`). */
export function haveTool(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}
