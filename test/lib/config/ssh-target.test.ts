import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {loadHomelab} from '../../../src/lib/config/load.js'
import {isSshTarget} from '../../../src/lib/config/schema.js'
import {parseSshSpec} from '../../../src/lib/ssh/config.js'
import {validateRepo} from '../../../src/lib/validate/run.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, {force: true, recursive: true})
})

/** A copy of the bundled homelab whose first host has `ssh: <target>`; returns it and that line. */
function withTarget(target: string): {dir: string; line: number} {
  const dir = copyBundledHomelab('homelab-ssh-target-')
  dirs.push(dir)
  const file = path.join(dir, 'homelab.yaml')
  const text = readFileSync(file, 'utf8').replace('ssh: aiden@azalab-0', `ssh: "${target}"`)
  writeFileSync(file, text)
  return {dir, line: text.split('\n').findIndex((l) => l.includes(`ssh: "${target}"`)) + 1}
}

describe('SSH targets in homelab.yaml', () => {
  it.each(['aiden@azalab-0:99999', 'aiden@azalab-0:0', 'azalab-0:65536'])('loading refuses %s with file:line and the key', async (target) => {
    const {dir, line} = withTarget(target)
    await expect(loadHomelab({cwd: dir})).rejects.toThrow(new RegExp(`^homelab.yaml:${line}: hosts.0.ssh: must be \\[user@\\]host\\[:port\\] with a port from 1 to 65535`))
  })

  it('validate reports a port out of range as a config finding at its line', async () => {
    const {dir, line} = withTarget('aiden@azalab-0:99999')
    const report = await validateRepo({root: dir})
    const config = report.checks.find((c) => c.id === 'config')!
    expect(config.status).toBe('failed')
    expect(config.findings).toContainEqual(expect.objectContaining({file: 'homelab.yaml', line, message: expect.stringMatching(/^hosts\.0\.ssh: must be \[user@\]host\[:port\]/)}))
  })

  it('accepts the forms [user@]host[:port] with ports 1 and 65535, refuses spaces', () => {
    for (const ok of ['host', 'aiden@host', 'host:1', 'aiden@10.0.0.2:65535']) expect(isSshTarget(ok), ok).toBe(true)
    for (const bad of ['host:0', 'host:99999', 'ai den@host', 'host :22', 'a@b@host', 'host:', '@host']) expect(isSshTarget(bad), bad).toBe(false)
    expect(() => parseSshSpec('host:99999')).toThrow(/port from 1 to 65535/)
  })
})
