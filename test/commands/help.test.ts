import {describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {commandFiles} from '../helpers/commands.js'

const commands = commandFiles()

describe('homelab --help', () => {
  it('finds the commands', () => {
    expect(commands.map((c) => c.id)).toEqual(expect.arrayContaining(['init', 'validate']))
  })

  it('lists every command with its one-line summary', async () => {
    const result = await runCli(['--help'])
    expect(result.exitCode).toBe(0)
    const help = result.stdout.replace(/\n {4,}/g, ' ') // oclif wraps long summaries onto indented lines
    for (const {file, id} of commands) {
      const {default: command} = (await import(file)) as {default: {summary?: string}}
      expect(command.summary, `${id}: static summary`).toMatch(/\S/)
      expect(command.summary!.includes('\n'), `${id}: summary is one line`).toBe(false)
      const firstWords = command.summary!.split(/\s+/).slice(0, 4).join(' ')
      expect(help, `${id} in homelab --help`).toMatch(new RegExp(`^ {2}${escape(id)} {2,}${escape(firstWords)}`, 'm'))
    }
  })

  it('shows EXAMPLES with at least two examples in every command\'s --help', {timeout: 240_000}, async () => {
    const results = await Promise.all(commands.map(async ({id}) => ({id, result: await runCli([...id.split(' '), '--help'])})))
    const problems: string[] = []
    for (const {id, result} of results) {
      if (result.exitCode !== 0) problems.push(`${id} --help exits ${result.exitCode}: ${result.stderr.split('\n')[0]}`)
      else if (!/^EXAMPLES$/m.test(result.stdout)) problems.push(`${id} --help has no EXAMPLES section`)
      else {
        const examples = result.stdout.split(/^EXAMPLES$/m)[1].match(new RegExp(`^\\s+.*\\bhomelab ${escape(id)}\\b`, 'gm')) ?? []
        if (examples.length < 2) problems.push(`${id} --help shows ${examples.length} example(s), at least 2 wanted`)
      }
    }

    expect(problems).toEqual([])
  })
})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
