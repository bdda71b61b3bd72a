import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {expandProxyCommand, hostKeyNames, parseConnectTimeout, parseSshSpec, resolveSshTarget} from '../../../src/lib/ssh/index.js'

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

  it('reads ProxyCommand with its %-tokens expanded; `none` means none', async () => {
    const dir = home('Host azalab-0\n  HostName 10.0.0.5\n  User ops\n  Port 2222\n  ProxyCommand cloudflared access ssh --hostname %h --url %n:%p --user %r --x %%h\n\nHost plain\n  ProxyCommand none\n\nHost *\n  ProxyCommand nc %h %p\n')
    const t = await resolveSshTarget({homeDir: dir, localUser: 'me', spec: 'azalab-0'})
    expect(t.proxyCommand).toBe('cloudflared access ssh --hostname 10.0.0.5 --url azalab-0:2222 --user ops --x %h')
    expect(t.proxyJump).toBeUndefined()
    expect((await resolveSshTarget({homeDir: dir, localUser: 'me', spec: 'plain'})).proxyCommand).toBeUndefined()
    expect((await resolveSshTarget({homeDir: dir, localUser: 'me', spec: 'other'})).proxyCommand).toBe('nc other 22')
  })

  it('ProxyJump and ProxyCommand: the one set first wins, even when it is `none`', async () => {
    const dir = home('Host a\n  ProxyJump bastion\n\nHost b\n  ProxyCommand nc %h %p\n\nHost c\n  ProxyJump none\n\nHost *\n  ProxyCommand nc -X 5 %h %p\n  ProxyJump other\n')
    expect(await resolveSshTarget({homeDir: dir, localUser: 'me', spec: 'a'})).toMatchObject({proxyCommand: undefined, proxyJump: 'bastion'})
    expect(await resolveSshTarget({homeDir: dir, localUser: 'me', spec: 'b'})).toMatchObject({proxyCommand: 'nc b 22', proxyJump: undefined})
    expect(await resolveSshTarget({homeDir: dir, localUser: 'me', spec: 'c'})).toMatchObject({proxyCommand: undefined, proxyJump: undefined})
  })

  it('keywords are case-insensitive (ssh_config(5))', async () => {
    const dir = home('Host box\n  hostname 10.1.1.1\n  PROXYCOMMAND nc %h %p\n  connecttimeout 7\n')
    expect(await resolveSshTarget({homeDir: dir, localUser: 'me', spec: 'box'})).toMatchObject({connectTimeoutSeconds: 7, hostName: '10.1.1.1', proxyCommand: 'nc 10.1.1.1 22'})
  })

  it('reads ConnectTimeout in OpenSSH time format; 0 leaves the default; anything else is an error', async () => {
    expect(parseConnectTimeout('30')).toBe(30)
    expect(parseConnectTimeout('1m30s')).toBe(90)
    expect(parseConnectTimeout('2M')).toBe(120)
    expect(parseConnectTimeout('0')).toBeUndefined()
    expect(() => parseConnectTimeout('soon')).toThrow('ConnectTimeout "soon" is not a time')
    // Past 2^31-1 ms a Node timer fires at once: refused rather than a limit of 1 ms.
    expect(parseConnectTimeout('2147483')).toBe(2_147_483)
    expect(() => parseConnectTimeout('4w')).toThrow('longer than 2147483 s')
    const dir = home('Host box\n  ConnectTimeout 5\n')
    expect((await resolveSshTarget({homeDir: dir, localUser: 'me', spec: 'box'})).connectTimeoutSeconds).toBe(5)
    expect((await resolveSshTarget({homeDir: dir, localUser: 'me', spec: 'other'})).connectTimeoutSeconds).toBeUndefined()
  })
})

describe('ProxyCommand %-expansion (as OpenSSH)', () => {
  const tokens = {d: '/home/me', h: '10.0.0.5', k: 'lab', n: 'azalab-0', p: '22', r: 'aiden', u: 'me'}

  it('expands %h %p %r %n %k %u %d and %% once, left to right', () => {
    expect(expandProxyCommand('ssh -W %h:%p -l %r jump # %n %k %u %d', tokens)).toBe('ssh -W 10.0.0.5:22 -l aiden jump # azalab-0 lab me /home/me')
    expect(expandProxyCommand('printf %%h%%%%', tokens)).toBe('printf %h%%')
    expect(expandProxyCommand('cloudflared access ssh --hostname %h', {...tokens, h: '%p'})).toBe('cloudflared access ssh --hostname %p')
  })

  it('refuses an unknown token or a lone % at the end, as OpenSSH does', () => {
    expect(() => expandProxyCommand('nc %h %x', tokens)).toThrow('has the unknown token %x')
    expect(() => expandProxyCommand('nc %h 100%', tokens)).toThrow('has a lone % at the end')
  })
})
