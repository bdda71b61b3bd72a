import {describe, expect, it} from 'vitest'

import {emptyRepoFlag} from '../../src/base-command.js'
import {REPO_ROOT, runCli} from '../helpers/cli.js'

describe('--repo given empty', () => {
  it('is a usage error (exit 3, one line naming --repo), not the working directory', async () => {
    for (const args of [['status', '--repo', ''], ['secrets', 'check', '--repo='], ['validate', '--repo', '', '--json']]) {
      const r = await runCli(args, {cwd: REPO_ROOT})
      expect(r.exitCode, args.join(' ')).toBe(3)
      const text = args.includes('--json') ? JSON.parse(r.stdout).error.message : r.stderr.trim()
      expect(text.replace(/^Error: /, ''), args.join(' ')).toBe(
        '--repo is empty: give the folder holding homelab.yaml (e.g. --repo ~/src/homelab), or leave --repo out to search up from the working directory',
      )
    }
  })

  it('emptyRepoFlag reads the raw arguments up to --', () => {
    expect(emptyRepoFlag(['--repo', ''])).toBe(true)
    expect(emptyRepoFlag(['--repo', ' '])).toBe(true)
    expect(emptyRepoFlag(['--repo='])).toBe(true)
    expect(emptyRepoFlag(['--repo', '.'])).toBe(false)
    expect(emptyRepoFlag(['--repo=x'])).toBe(false)
    expect(emptyRepoFlag(['--', '--repo', ''])).toBe(false)
    expect(emptyRepoFlag(['--repo'])).toBe(false)
  })
})
