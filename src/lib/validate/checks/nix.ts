import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {PLACEHOLDER} from '../../templates/render.js'
import type {Check} from '../check.js'
import {FindingList} from '../finding.js'
import {mapLimit} from '../tools.js'

/** Value put in place of every `{{placeholder}}` of a template before it is parsed. */
export const TEMPLATE_SAMPLE_VALUE = 'placeholder'

/** Milliseconds one `nix-instantiate --parse` may take. */
const PARSE_TIMEOUT_MS = 60_000

/**
 * Check 6: every `.nix` file parses (`nix-instantiate --parse`, no evaluation). Templates under
 * `templates/` are parsed with each `{{placeholder}}` replaced by a sample value.
 *
 * Only nix's `error:` output of a failed parse is a finding (an error at the file and line nix
 * names). Its warnings are never errors: one that points into the file is a warning finding,
 * any other (e.g. `the group 'nixbld' specified in 'build-users-group' does not exist` on a nix
 * without its build users) is about nix's setup and is ignored. Skipped, with the reason, when
 * nix-instantiate is not installed or cannot run at all — decided by parsing the trivial
 * expression `null` alongside the files: when that fails too, nix's failures are about nix, not
 * about the files — and for the files whose run ended without an `error:` (killed, timed out).
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

    const probe = parseNix(nix, os.tmpdir(), '-', 'null')
    const unparsed: Array<{rel: string; reason: string}> = []
    const results = await mapLimit(files, Math.max(2, os.availableParallelism()), async (rel) => {
      const abs = path.join(context.root, rel)
      const template = rel.startsWith('templates/')
      const input = template ? (await fs.readFile(abs, 'utf8')).replace(PLACEHOLDER, TEMPLATE_SAMPLE_VALUE) : undefined
      return {rel, result: await parseNix(nix, path.dirname(abs), template ? '-' : abs, input ?? ''), template}
    })
    const probed = await probe
    if (!probed.ok) {
      return {findings: [], skipped: `nix-instantiate cannot run (${probed.reason}): ${files.length} .nix file(s) not parsed`}
    }

    for (const {rel, result, template} of results) {
      const note = template ? ` (placeholders replaced by "${TEMPLATE_SAMPLE_VALUE}")` : ''
      for (const warning of result.messages.filter((m) => m.level === 'warning' && m.line !== undefined)) out.warning(rel, warning.line!, warning.message + note)
      if (result.ok) continue
      const error = result.messages.find((m) => m.level === 'error')
      if (error) out.error(rel, error.line ?? 1, error.message + note)
      else unparsed.push({rel, reason: result.reason})
    }

    out.findings.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
    if (unparsed.length === 0) return {findings: out.findings}
    const [first] = unparsed
    return {findings: out.findings, skipped: `nix-instantiate did not finish: ${unparsed.length} .nix file(s) not parsed (${first.rel}: ${first.reason})`}
  },
}

/** One `error:` or `warning:` message of nix, with the line of the position it names (if any). */
export interface NixMessage {
  level: 'error' | 'warning'
  /** The message's first line without its `error: ` / `warning: ` prefix. */
  message: string
  /** 1-based line of the `at <file>:<line>:<col>` position in the message; undefined when it names none. */
  line?: number
}

/** What one nix-instantiate run said: `ok` when it exited 0; else `reason` says how it ended. */
type ParseRun = {messages: NixMessage[]; ok: true} | {messages: NixMessage[]; ok: false; reason: string}

/**
 * Runs `nix-instantiate --parse <file>` (`-` reads `input` from stdin) in `cwd`. Never throws: a
 * nix that cannot start, exits non-zero, is killed or times out gives `ok: false` with a
 * one-line reason (nix's first `error:` message when it printed one).
 */
async function parseNix(nix: string, cwd: string, file: string, input: string): Promise<ParseRun> {
  const {execa} = await import('execa')
  const result = await execa(nix, ['--parse', file], {cwd, input, reject: false, stdout: 'ignore', timeout: PARSE_TIMEOUT_MS})
  const stderr = String(result.stderr ?? '')
  const messages = nixMessages(stderr)
  if (result.exitCode === 0) return {messages, ok: true}
  const error = messages.find((m) => m.level === 'error')
  const lastLine = stderr.split('\n').map((l) => l.trim()).filter(Boolean).at(-1)
  const reason = error?.message
    ?? (result.timedOut ? `timed out after ${PARSE_TIMEOUT_MS / 1000} s` : undefined)
    ?? (result.signal ? `killed by ${result.signal}` : undefined)
    ?? (result.exitCode === undefined ? (result.shortMessage ?? 'could not start').split('\n')[0] : `exit code ${result.exitCode}${lastLine ? `: ${lastLine}` : ''}`)
  return {messages, ok: false, reason}
}

/**
 * Splits nix's stderr into its `error:` and `warning:` messages (Nix 2.x format: a message starts
 * with `error: ` or `warning: ` at the start of a line; the lines after it, up to the next message,
 * belong to it and may hold its position `at <file>:<line>:<col>:`; Nix < 2.4 puts `, at
 * <file>:<line>:<col>` on the first line). Other lines (before the first message) are ignored.
 * ANSI colour codes are removed.
 * @returns the messages in order; empty when there is none
 */
export function nixMessages(stderr: string): NixMessage[] {
  const lines = stderr.replace(/\u001B\[[0-9;]*m/g, '').split('\n')
  const messages: Array<NixMessage & {text: string}> = []
  for (const line of lines) {
    const start = /^(error|warning): (.*)$/.exec(line)
    if (start) messages.push({level: start[1] as NixMessage['level'], message: start[2].trim(), text: line})
    else if (messages.length > 0) messages.at(-1)!.text += `\n${line}`
  }

  return messages.map(({level, message, text}) => {
    const at = /\bat .*?:(\d+):(\d+):?\s*$/m.exec(text)
    return at ? {level, line: Number(at[1]), message} : {level, message}
  })
}
