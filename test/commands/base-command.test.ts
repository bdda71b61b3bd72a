import {describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'

describe('errors every command shares (src/base-command.ts)', () => {
  it('keeps oclif parse errors short, exit 3 (a usage error), and one JSON error under --json', async () => {
    const plain = await runCli(['app', 'list', '--bogus'])
    expect(plain.exitCode).toBe(3)
    expect(plain.stderr.trimEnd()).toBe('Error: Nonexistent flag: --bogus\n  → see homelab app list --help')
    const json = await runCli(['app', 'list', '--bogus', '--json'])
    expect(json.exitCode).toBe(3)
    expect(JSON.parse(json.stdout)).toEqual({
      schemaVersion: 1,
      error: {exitCode: 3, message: 'Nonexistent flag: --bogus', name: 'UsageError', suggestions: ['see homelab app list --help']},
    })
  })

  it('turns file-system errors into one sentence naming the path', async () => {
    const result = await runCli(['validate', '--repo', '/nonexistent-homelab'])
    expect(result.exitCode).toBe(1)
    expect(result.stderr.split('\n')[0]).toBe('Error: /nonexistent-homelab: no such file or folder')
    expect(result.stderr).not.toMatch(/ENOENT|\n\s+at /)
  })

  it('prints a long error on one line, unwrapped, when stderr is not a terminal', async () => {
    const name = 'a'.repeat(64)
    const result = await runCli(['app', 'new', name, '--image', 'nginx:1.27'])
    expect(result.exitCode).toBe(3)
    const line = result.stderr.split('\n')[0]
    expect(line.length).toBeGreaterThan(80)
    expect(line).toContain(name)
  })
})
