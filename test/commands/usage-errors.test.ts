import {beforeAll, describe, expect, it} from 'vitest'

import {type BatchResult, runCliBatch} from '../helpers/cli-batch.js'
import {runCli} from '../helpers/cli.js'
import {commandFiles} from '../helpers/commands.js'

// Exit 2 means "host unreachable" (README, src/lib/errors.ts); oclif's own usage errors (parse
// errors, unknown commands) would exit 2 too. Every usage error must exit 3, and under --json
// print one JSON error document. Every command in src/commands is checked, so a new one is too.
// The lines run in one process (runCliBatch: oclif's own run/handle, exit recorded); two of them
// also run as real processes to show the batch gives what a person gets.
const commands = commandFiles().map((c) => c.id)

type Run = Pick<BatchResult, 'exitCode' | 'stderr' | 'stdout'>
const results = new Map<string, Run>()
const key = (args: string[]) => args.join(' ')

/** Extra command lines beyond "every command with an unknown flag". */
const OTHER_CASES: Record<string, string[]> = {
  badIntegerJson: ['app', 'new', 'x', '--port', 'abc', '--json'],
  badOption: ['app', 'new', 'x', '--kind', 'nope'],
  flagAtRoot: ['--no-such-flag'],
  flagWithoutValue: ['deploy', '--host'],
  helpUnknown: ['help', 'nope'],
  missingArg: ['secrets', 'get'],
  missingArgJson: ['secrets', 'get', '--json'],
  unexpectedArg: ['app', 'list', 'extra'],
  unexpectedArgJson: ['app', 'list', 'extra', '--json'],
  unknownCommand: ['nope'],
  unknownCommandJson: ['nope', '--json'],
  unknownNearCommand: ['deplyo'],
  unknownTopicCommand: ['app', 'nope'],
  unknownTopicCommandJson: ['secrets', 'rotat', '--json'],
}

beforeAll(async () => {
  const lines = [
    ...commands.flatMap((id) => [
      [...id.split(' '), '--no-such-flag'],
      [...id.split(' '), '--no-such-flag', '--json'],
    ]),
    ...Object.values(OTHER_CASES),
  ]
  // CI=true: no prompt may be reached, whatever the terminal.
  const runs = await runCliBatch(lines, {env: {CI: 'true'}})
  for (const [i, args] of lines.entries()) results.set(key(args), runs[i])
}, 300_000)

function run(args: string[]): Run {
  const result = results.get(key(args))
  if (!result) throw new Error(`not run: ${key(args)}`)
  return result
}

/** The one JSON document on stdout, with nothing else around it. */
function jsonError(result: Run): {exitCode: number; message: string; name: string; suggestions: string[]} {
  const doc = JSON.parse(result.stdout) as {error: {exitCode: number; message: string; name: string; suggestions: string[]}}
  expect(Object.keys(doc)).toEqual(['schemaVersion', 'error'])
  return doc.error
}

describe('usage errors exit 3 (not 2, which means host unreachable)', () => {
  it('finds every command', () => {
    expect(commands).toEqual(expect.arrayContaining(['app new', 'deploy', 'init', 'secrets rotate-key', 'status', 'validate']))
    expect(commands.length).toBeGreaterThanOrEqual(21)
  })

  describe.each(commands)('homelab %s', (id) => {
    const args = [...id.split(' '), '--no-such-flag']

    it('an unknown flag: exit 3, the flag named on stderr with a --help hint, nothing on stdout', () => {
      const result = run(args)
      expect(result.exitCode, result.stderr).toBe(3)
      expect(result.stderr).toMatch(/Nonexistent flag: --no-such-flag/)
      expect(result.stderr).toMatch(/--help/)
      expect(result.stdout).toBe('')
    })

    it('an unknown flag under --json: exit 3 and one JSON error document', () => {
      const result = run([...args, '--json'])
      expect(result.exitCode, result.stderr).toBe(3)
      expect(jsonError(result)).toEqual({
        exitCode: 3,
        message: 'Nonexistent flag: --no-such-flag',
        name: 'UsageError',
        suggestions: [`see homelab ${id} --help`],
      })
    })
  })

  it('an unknown command names it, suggests the nearest, exit 3', () => {
    const unknown = run(OTHER_CASES.unknownCommand)
    expect(unknown.exitCode).toBe(3)
    expect(unknown.stderr).toBe('Error: nope is not a homelab command\n  → see homelab --help')
    const near = run(OTHER_CASES.unknownNearCommand)
    expect(near.exitCode).toBe(3)
    expect(near.stderr).toBe('Error: deplyo is not a homelab command\n  → did you mean homelab deploy?\n  → see homelab --help')
    expect(near.stdout).toBe('')
  })

  it('an unknown command under --json: exit 3 and one JSON error document', () => {
    const result = run(OTHER_CASES.unknownCommandJson)
    expect(result.exitCode).toBe(3)
    expect(jsonError(result)).toEqual({exitCode: 3, message: 'nope is not a homelab command', name: 'UsageError', suggestions: ['see homelab --help']})
    expect(result.stderr).toBe('')
  })

  it('an unknown command of a topic names the topic, exit 3, also under --json', () => {
    const plain = run(OTHER_CASES.unknownTopicCommand)
    expect(plain.exitCode).toBe(3)
    expect(plain.stderr).toBe('Error: app nope is not a homelab app command\n  → see homelab app --help')
    const json = run(OTHER_CASES.unknownTopicCommandJson)
    expect(json.exitCode).toBe(3)
    expect(jsonError(json)).toEqual({
      exitCode: 3,
      message: 'secrets rotat is not a homelab secrets command',
      name: 'UsageError',
      suggestions: ['did you mean homelab secrets rotate?', 'see homelab secrets --help'],
    })
  })

  it('an argument to a command that takes none: exit 3, also under --json', () => {
    const plain = run(OTHER_CASES.unexpectedArg)
    expect(plain.exitCode).toBe(3)
    expect(plain.stderr).toBe('Error: unexpected argument: extra (homelab app list takes none)\n  → see homelab app list --help')
    const json = run(OTHER_CASES.unexpectedArgJson)
    expect(json.exitCode).toBe(3)
    expect(jsonError(json).message).toBe('unexpected argument: extra (homelab app list takes none)')
  })

  it('a missing argument, a bad option value, a flag without its value, a flag before any command: exit 3', () => {
    const missing = run(OTHER_CASES.missingArg)
    expect(missing.exitCode).toBe(3)
    expect(missing.stderr).toMatch(/Missing 1 required arg/)
    expect(jsonError(run(OTHER_CASES.missingArgJson))).toEqual({
      exitCode: 3,
      message: 'Missing 1 required arg: file SOPS file (YAML or JSON)',
      name: 'UsageError',
      suggestions: ['see homelab secrets get --help'],
    })
    expect(run(OTHER_CASES.missingArgJson).exitCode).toBe(3)
    const option = run(OTHER_CASES.badOption)
    expect(option.exitCode).toBe(3)
    expect(option.stderr).toMatch(/Expected --kind=nope to be one of: deployment, statefulset/)
    const integer = run(OTHER_CASES.badIntegerJson)
    expect(integer.exitCode).toBe(3)
    expect(jsonError(integer).message).toBe('Parsing --port Expected an integer but received: abc')
    const noValue = run(OTHER_CASES.flagWithoutValue)
    expect(noValue.exitCode).toBe(3)
    expect(noValue.stderr).toMatch(/Flag --host expects a value/)
    const root = run(OTHER_CASES.flagAtRoot)
    expect(root.exitCode).toBe(3)
    expect(root.stderr).toBe('Error: --no-such-flag is not a homelab flag here: name a command first (homelab COMMAND [FLAGS])\n  → see homelab --help')
  })

  it('help for an unknown command: exit 3 (the help plugin\'s error when built, else the hook\'s)', () => {
    const result = run(OTHER_CASES.helpUnknown)
    expect(result.exitCode).toBe(3)
    expect(result.stderr).toMatch(/nope/)
  })

  it('the batch gives what a real process gives', {timeout: 120_000}, async () => {
    const lines = [['validate', '--no-such-flag', '--json'], OTHER_CASES.unknownTopicCommand]
    const real = await Promise.all(lines.map((args) => runCli(args, {env: {CI: 'true', NODE_ENV: undefined}})))
    // Development runs (bin/dev.js) add stack traces and warnings naming the process id (with
    // node's --trace-warnings hint on a process's first warning only).
    const same = (text: string) =>
      text
        .replaceAll(/\(node:\d+\)/g, '(node)')
        .replaceAll(/^( {4}at |\(Use `node --trace-warnings).*\n?/gm, '')
    for (const [i, args] of lines.entries()) {
      expect(real[i].exitCode).toBe(3)
      expect(real[i].exitCode).toBe(run(args).exitCode)
      expect(real[i].stdout).toBe(run(args).stdout)
      expect(same(real[i].stderr)).toBe(same(run(args).stderr))
    }
  })
})
