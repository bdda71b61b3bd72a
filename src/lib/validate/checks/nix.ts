import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {PLACEHOLDER} from '../../templates/render.js'
import type {Check} from '../check.js'
import {FindingList} from '../finding.js'
import {mapLimit} from '../tools.js'

/** Value put in place of every `{{placeholder}}` of a template before it is parsed. */
export const TEMPLATE_SAMPLE_VALUE = 'placeholder'

/**
 * Check 6: every `.nix` file parses (`nix-instantiate --parse`, no evaluation). Templates under
 * `templates/` are parsed with each `{{placeholder}}` replaced by a sample value. Skipped, and
 * said so, when nix-instantiate is not installed.
 */
export const nixCheck: Check = {
  id: 'nix',
  title: 'every .nix file parses (nix-instantiate --parse)',
  async run(context) {
    const out = new FindingList('nix')
    const files = context.files.filter((f) => f.endsWith('.nix'))
    if (files.length === 0) return {findings: []}
    const nix = await context.tool('nix-instantiate')
    if (!nix) return {findings: [], skipped: `nix-instantiate not found: ${files.length} .nix file(s) not parsed`}

    const {execa} = await import('execa')
    await mapLimit(files, Math.max(2, os.availableParallelism()), async (rel) => {
      const abs = path.join(context.root, rel)
      const template = rel.startsWith('templates/')
      const input = template ? (await fs.readFile(abs, 'utf8')).replace(PLACEHOLDER, TEMPLATE_SAMPLE_VALUE) : undefined
      const result = await execa(nix, ['--parse', template ? '-' : abs], {
        cwd: path.dirname(abs),
        input: input ?? '',
        reject: false,
        stdout: 'ignore',
        timeout: 60_000,
      })
      if (result.exitCode === 0) return
      const {line, message} = nixError(String(result.stderr ?? ''))
      out.error(rel, line, template ? `${message} (placeholders replaced by "${TEMPLATE_SAMPLE_VALUE}")` : message)
    })

    out.findings.sort((a, b) => a.file.localeCompare(b.file))
    return {findings: out.findings}
  },
}

/**
 * Reads nix's parse error: the first `error:` line and the line of the `at <file>:<line>:<col>:`
 * position that follows it (Nix 2.x error format).
 */
export function nixError(stderr: string): {line: number; message: string} {
  const first = stderr.split('\n').find((l) => l.trim()) ?? 'nix-instantiate --parse failed'
  const at = /\bat .*?:(\d+):(\d+):?\s*$/m.exec(stderr) ?? /:(\d+):(\d+)/.exec(stderr)
  return {line: at ? Number(at[1]) : 1, message: first.trim().replace(/^error: /, '')}
}
