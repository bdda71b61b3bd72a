import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {hostKeyNames, parseSshSpec, resolveSshTarget} from '../../../src/lib/ssh/index.js'

function home(config?: string, keys: string[] = []): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sshcfg-'))
  mkdirSync(path.join(dir, '.ssh'))
  if (config !== undefined) writeFileSync(path.join(dir, '.ssh/config'), config)
  for (const k of keys) writeFileSync(path.join(dir, '.ssh', k), 'x')
  return dir
}

describe('ssh target resolution', () => {
  it('splits [user@]host[:port]', () => {
    expect(parseSshSpec('aiden@azalab-0:2222')).toEqual({host: 'azalab-0', port: 2222, user: 'aiden'})
    expect(parseSshSpec('azalab-0')).toEqual({host: 'azalab-0', port: undefined, user: undefined})
  })

  it('applies HostName, User, Port, IdentityFile from ~/.ssh/config (first value wins)', async () => {
    const dir = home('Host azalab-0\n  HostName 192.168.1.20\n  Port 2222\n  User ops\n  IdentityFile ~/.ssh/lab_%r\n  HostKeyAlias lab\n\nHost *\n  User other\n  Port 22\n  IdentityFile ~/.ssh/id_rsa\n')
    const t = await resolveSshTarget({homeDir: dir, localUser: 'me', spec: 'azalab-0'})
    expect(t).toMatchObject({alias: 'azalab-0', hostKeyAlias: 'lab', hostName: '192.168.1.20', port: 2222, user: 'ops'})
    expect(t.identityFiles).toEqual([path.join(dir, '.ssh/lab_ops'), path.join(dir, '.ssh/id_rsa')])
    expect(hostKeyNames(t)).toEqual(['[lab]:2222'])
  })

  it('lets homelab.yaml user and port win over the config, and falls back to default identities', async () => {
    const dir = home('Host azalab-0\n  User ops\n  Port 2222\n', ['id_ed25519'])
    const t = await resolveSshTarget({homeDir: dir, localUser: 'me', spec: 'aiden@azalab-0:22'})
    expect(t).toMatchObject({hostName: 'azalab-0', port: 22, user: 'aiden'})
    expect(t.identityFiles).toEqual([path.join(dir, '.ssh/id_ed25519')])
    expect(hostKeyNames(t)).toEqual(['azalab-0'])
  })

  it('works without a config file, using the local user', async () => {
    const t = await resolveSshTarget({homeDir: home(), localUser: 'me', spec: 'box:2200'})
    expect(t).toMatchObject({hostName: 'box', identityFiles: [], port: 2200, user: 'me'})
    expect(hostKeyNames(t)).toEqual(['[box]:2200'])
  })

  it('reads ProxyJump', async () => {
    const dir = home('Host azalab-0\n  ProxyJump bastion\n')
    expect((await resolveSshTarget({homeDir: dir, localUser: 'me', spec: 'azalab-0'})).proxyJump).toBe('bastion')
  })
})
