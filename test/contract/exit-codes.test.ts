import {readFileSync, rmSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type BatchResult, runCliBatch} from '../helpers/cli-batch.js'
import {REPO_ROOT} from '../helpers/cli.js'
import {copyBundledHomelab} from '../helpers/copy-homelab.js'
import {expectMatchesSchema} from '../helpers/json-schema.js'
import {type ManifestCommand, manifestCommands} from '../helpers/manifest.js'

// Issue 17, "one contract": one exit-code table for every command — 0 ok, 1 failure, 2 host
// unreachable, 3 usage, 130 interrupted — and one line on stderr. The table is every command of
// oclif's config (test/helpers/manifest.ts), so commands other helpers add are covered when merged:
// × a bad flag, an unknown command (a typo of its last word), a missing required argument, a
// prompt without a TTY, and --json where the command offers it.
// (Interrupts: test/contract/interrupt.test.ts.)

/**
 * Command lines that reach a prompt (a confirmation or a value) in the bundled homelab; without
 * a TTY each must exit 3 at once, naming the flag that answers it. A command with --repo gets
 * `--repo` a copy of the bundled homelab; `NEWDIR` is a folder that does not exist yet.
 */
const PROMPTS: Record<string, {args: string[]; flag: RegExp}> = {
  'app:new': {args: ['app', 'new', 'foo'], flag: /--image is required when not running in a terminal/},
  'app:remove': {args: ['app', 'remove', 'immich'], flag: /needs --yes when not running in a terminal/},
  'backup:restore': {args: ['backup', 'restore', 'immich'], flag: /--yes is required to restore in place/},
  deploy: {args: ['deploy'], flag: /--yes is required when not running in a terminal/},
  'host:add': {args: ['host', 'add', 'azalab-1', '--ssh', 'aiden@10.0.0.21'], flag: /--accept-new-host-key is required when not running in a terminal/},
  init: {args: ['init', 'NEWDIR'], flag: /--host is required when not running in a terminal/},
  rollback: {args: ['rollback'], flag: /--yes is required when not running in a terminal/},
  'secrets:rotate-key': {args: ['secrets', 'rotate-key'], flag: /--yes is required when not running in a terminal/},
  'secrets:set': {args: ['secrets', 'set', 'flux/clusters/azalab-0/manifests/apps/tuwunel/secret.sops.yaml', 'k'], flag: /--value-stdin is required when not running in a terminal/},
}

/** Commands whose prompts come only after a host answered, or in an editor session: their no-TTY test lives with them. */
const PROMPTS_TESTED_ELSEWHERE: Record<string, string> = {
  'cluster:bootstrap': 'test/e2e/cluster-bootstrap.test.ts (a different deploy key without --force)',
  'host:install': 'test/commands/host/install.test.ts (--password-stdin and --yes without a TTY)',
  'host:remove': 'test/commands/host/add.test.ts (--yes without a TTY; the bundled homelab has only the server, which remove refuses first)',
  'secrets:edit': 'test/commands/secrets/edit.test.ts (reopen the editor: no without a TTY)',
}

let commands: ManifestCommand[] = []
let own: ManifestCommand[] = []
let repo = ''
const results = new Map<string, BatchResult>()
const key = (args: string[]) => args.join('\u0000')

/** The typo of a command: its last word with one letter doubled (`status` → `statuss`), which no command is. */
function typo(words: string[]): string[] {
  const last = words.at(-1)!
  return [...words.slice(0, -1), `${last}${last.at(-1)}`]
}

function casesOf(c: ManifestCommand): Record<string, string[]> {
  const cases: Record<string, string[]> = {badFlag: [...c.words, '--no-such-flag'], unknownCommand: typo(c.words)}
  if (c.args.some((a) => a.required)) cases.missingArgument = [...c.words]
  if (c.enableJsonFlag) {
    cases.badFlagJson = [...c.words, '--no-such-flag', '--json']
    if (cases.missingArgument) cases.missingArgumentJson = [...c.words, '--json']
  }

  const prompt = PROMPTS[c.id]
  if (prompt) {
    const args = [...prompt.args.map((a) => (a === 'NEWDIR' ? path.join(repo, 'new-homelab') : a)), ...(c.flags.some((f) => f.name === 'repo') ? ['--repo', repo] : [])]
    cases.noTty = args
    if (c.enableJsonFlag) cases.noTtyJson = [...args, '--json']
  }

  return cases
}

beforeAll(async () => {
  commands = (await manifestCommands()).filter((c) => !c.hidden)
  own = commands.filter((c) => c.own)
  repo = copyBundledHomelab('homelab-contract-')
  const lines = own.flatMap((c) => Object.values(casesOf(c)))
  // CI unset: the no-TTY cases must be refused for want of a TTY, not because CI is set. The
  // batch's stdin is empty (not a TTY), as a cron job or a pipe gives.
  const runs = await runCliBatch(lines, {env: {CI: undefined}})
  for (const [i, args] of lines.entries()) results.set(key(args), runs[i])
}, 300_000)

afterAll(() => {
  if (repo) rmSync(repo, {force: true, recursive: true})
})

/**
 * One line's result. Node's MaxListenersExceededWarning is an artefact of the batch (every line's
 * signal listeners pile up in the one process; a real run adds them once) and is dropped.
 */
function run(args: string[]): BatchResult {
  const result = results.get(key(args))
  if (!result) throw new Error(`not run: ${args.join(' ')}`)
  const lines = result.stderr.split('\n')
  const kept: string[] = []
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].includes('MaxListenersExceededWarning')) {
      kept.push(lines[i])
      continue
    }

    while (i + 1 < lines.length && /^(\s+at |\(Use `node --trace-warnings)/.test(lines[i + 1])) i++
  }

  return {...result, stderr: kept.join('\n')}
}

/**
 * The one-line rule: exactly one `Error: …` line, then only `  → …` suggestion lines (what to
 * do next); no stack trace, no usage dump, nothing on stdout.
 */
function expectOneErrorLine(result: BatchResult, what: string): void {
  const lines = result.stderr.trimEnd().split('\n')
  expect(lines[0], `${what}: first stderr line`).toMatch(/^Error: \S/)
  expect(lines.filter((l) => l.startsWith('Error:')), `${what}: one Error line`).toHaveLength(1)
  expect(lines.slice(1).filter((l) => !/^ {2}→ \S/.test(l)), `${what}: only → suggestion lines after it`).toEqual([])
  expect(result.stderr, `${what}: no stack trace`).not.toMatch(/^\s+at .+:\d+/m)
  expect(result.stdout, `${what}: stdout`).toBe('')
}

/** Under --json: exit 3, nothing on stderr, one error document on stdout matching schemas/error.schema.json. */
function expectJsonUsageError(result: BatchResult, id: string, what: string): {message: string} {
  expect(result.exitCode, `${what}: ${result.stderr}`).toBe(3)
  expect(result.stderr, `${what}: stderr`).toBe('')
  const doc = JSON.parse(result.stdout) as {error: {exitCode: number; message: string}; schemaVersion: number}
  expectMatchesSchema(id, doc)
  expect(doc.error.exitCode).toBe(3)
  return doc.error
}

describe('one exit-code table for every command (issue 17)', () => {
  it('finds the commands in oclif\'s config, with and without --json', () => {
    expect(own.map((c) => c.id)).toEqual(expect.arrayContaining(['app:new', 'backup:restore', 'deploy', 'init', 'status', 'validate']))
    expect(own.filter((c) => c.enableJsonFlag).length).toBeGreaterThanOrEqual(20)
  })

  it('every command that can prompt is in the no-TTY table (or tested with its own fixture)', () => {
    const prompting = own.filter((c) => {
      const file = path.join(REPO_ROOT, 'src/commands', `${c.words.join('/')}.ts`)
      let text: string
      try {
        text = readFileSync(file, 'utf8')
      } catch {
        text = readFileSync(path.join(REPO_ROOT, 'src/commands', ...c.words, 'index.ts'), 'utf8')
      }

      return /canPrompt\(\)|valueOrPrompt\(|confirm\(|askHidden\(/.test(text)
    })
    const missing = prompting.map((c) => c.id).filter((id) => !PROMPTS[id] && !PROMPTS_TESTED_ELSEWHERE[id])
    expect(missing, 'add a command line reaching its prompt to PROMPTS').toEqual([])
  })

  // describe.each needs the table when the file is collected; the commands come from oclif's
  // config in beforeAll, so each command's cases run inside one test that names the command.
  it('bad flag, unknown command, missing argument, no TTY: exit 3 and one Error line; --json: one error document', () => {
    const problems: string[] = []
    for (const c of own) {
      const typed = c.words.join(' ')
      for (const [name, args] of Object.entries(casesOf(c))) {
        const what = `homelab ${args.join(' ').replace(repo, 'REPO')} (${name})`
        const result = run(args)
        try {
          if (name.endsWith('Json')) {
            const error = expectJsonUsageError(result, c.id, what)
            if (name === 'noTtyJson') expect(error.message).toMatch(/is required|needs --yes/)
            continue
          }

          expect(result.exitCode, `${what}: ${result.stderr}`).toBe(3)
          expectOneErrorLine(result, what)
          if (name === 'badFlag') expect(result.stderr, what).toBe(`Error: Nonexistent flag: --no-such-flag\n  → see homelab ${typed} --help`)
          if (name === 'unknownCommand') expect(result.stderr, what).toContain(`  → did you mean homelab ${typed}?\n`)
          if (name === 'missingArgument') expect(result.stderr, what).toMatch(/^Error: Missing \d+ required args?: /)
          if (name === 'noTty') expect(result.stderr, what).toMatch(PROMPTS[c.id].flag)
        } catch (error) {
          problems.push((error as Error).message.split('\n')[0])
        }
      }
    }

    expect(problems).toEqual([])
  })

  it('covers every command in each applicable case (the table is not empty by accident)', () => {
    const counts = {badFlag: 0, badFlagJson: 0, missingArgument: 0, noTty: 0, unknownCommand: 0}
    for (const c of own) for (const name of Object.keys(casesOf(c))) if (name in counts) counts[name as keyof typeof counts]++
    expect(counts.badFlag).toBe(own.length)
    expect(counts.unknownCommand).toBe(own.length)
    expect(counts.badFlagJson).toBe(own.filter((c) => c.enableJsonFlag).length)
    expect(counts.missingArgument).toBeGreaterThanOrEqual(5)
    expect(counts.noTty).toBe(Object.keys(PROMPTS).length)
  })
})
