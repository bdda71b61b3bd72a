// `homelab host add` / `host remove` (src/lib/host/add): temp copies of the bundled homelab, the
// real SOPS engine with the demo identity, the real transaction; the SSH connections are fakes
// that answer like the transport (a token on `sudo cat`, a pinned line in the known_hosts given).
import {createHash} from 'node:crypto'
import {promises as fs, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type AgeIdentity, generateIdentity, parseIdentities} from '../../../src/lib/age/identities.js'
import {type Homelab, loadHomelab} from '../../../src/lib/config/load.js'
import type {HostConfig} from '../../../src/lib/config/schema.js'
import {HostUnreachableError, UsageError} from '../../../src/lib/errors.js'
import {type AddConnection, addHost, type HostAddRequest, K3S_SERVER_TOKEN_FILE} from '../../../src/lib/host/add/add.js'
import {readHostToken} from '../../../src/lib/host/add/host-secrets.js'
import type {HostAddSpec} from '../../../src/lib/host/add/plan.js'
import {checkHostRemove, drainNode, PinnedStorageError, removeHostFiles} from '../../../src/lib/host/add/remove.js'
import {addHostRecipient, removeHostRecipient} from '../../../src/lib/host/add/sops-recipient.js'
import {readSopsMetadata} from '../../../src/lib/sops/metadata.js'
import {UnknownHostKeyError} from '../../../src/lib/ssh/errors.js'
import {REPO_ROOT} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'

const DEMO_KEY = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const SECRETS = 'nixos/secrets/host-secrets.sops.yaml'
const SERVER_TOKEN = 'K10aaaabbbbccccdddd::server:0123456789abcdef'
const HOST_KEY_LINE = '10.0.0.21 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMZ5b9bVpJ6sPq9Yx1V2u3w4x5y6z7A8B9C0D1E2F3G4'
let demo: AgeIdentity[]
let other: AgeIdentity
const temps: string[] = []

beforeAll(async () => {
  demo = await parseIdentities(readFileSync(DEMO_KEY, 'utf8'), DEMO_KEY)
  other = await generateIdentity()
})
afterAll(() => {
  for (const dir of temps) rmSync(dir, {force: true, recursive: true})
})

async function copy(): Promise<Homelab> {
  const dir = copyBundledHomelab('homelab-host-add-')
  temps.push(dir)
  return loadHomelab({cwd: dir, repo: dir})
}

/** Every file of the tree with its sha256 (and mode): "byte-identical" made checkable. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const abs = path.join(d, name)
      const st = statSync(abs)
      if (st.isDirectory()) walk(abs)
      else out[path.relative(dir, abs)] = `${st.mode.toString(8)} ${createHash('sha256').update(readFileSync(abs)).digest('hex')}`
    }
  }

  walk(dir)
  return out
}

const spec = (over: Partial<HostAddSpec> = {}): HostAddSpec => ({
  diskDevice: '/dev/sda',
  labels: {'homelab.dev/gpu': 'true'},
  name: 'azalab-1',
  nodeInterfaces: ['enp2s0'],
  role: 'agent',
  ssh: 'aiden@10.0.0.21',
  tags: ['ml'],
  ...over,
})

interface Calls {
  server: string[]
  newHost: string[]
}

/** A request whose server answers `sudo cat` with SERVER_TOKEN and whose new host pins HOST_KEY_LINE. */
function request(homelab: Homelab, over: Partial<HostAddRequest> = {}, calls: Calls = {newHost: [], server: []}): HostAddRequest {
  const fake = (log: string[]): AddConnection => ({
    async close() {},
    async exec(command) {
      log.push(`exec ${command}`)
      return {exitCode: 1, stderr: '', stdout: ''}
    },
    hostKeyFingerprint: 'SHA256:fake',
    async sudo(command) {
      log.push(`sudo ${command}`)
      return command === `cat ${K3S_SERVER_TOKEN_FILE}` ? {exitCode: 0, stderr: '', stdout: `${SERVER_TOKEN}\n`} : {exitCode: 1, stderr: 'no', stdout: ''}
    },
  })
  return {
    async connect(host: HostConfig) {
      calls.server.push(`connect ${host.name}`)
      return fake(calls.server)
    },
    async connectNew(shadow: Homelab, host: HostConfig) {
      calls.newHost.push(`connect ${host.name} ${host.ssh}`)
      // What connectHost does with an accepted unknown key: append it to the homelab's known_hosts.
      const file = path.join(shadow.root, shadow.config.knownHosts)
      expect(file).not.toBe(path.join(homelab.root, homelab.config.knownHosts))
      await fs.appendFile(file, `${HOST_KEY_LINE}\n`)
      return fake(calls.newHost)
    },
    homelab,
    identities: demo,
    newToken: false,
    pin: true,
    serverNodeInterfaces: ['enp1s0'],
    spec: spec(),
    ...over,
  }
}

describe('homelab host add (lib)', () => {
  it('writes the host, its files, the server\'s own token and the pinned key, all together', async () => {
    const homelab = await copy()
    const calls: Calls = {newHost: [], server: []}
    const before = readFileSync(path.join(homelab.root, 'known_hosts'), 'utf8')
    const out = await addHost(request(homelab, {}, calls))
    expect(out.created.sort()).toEqual(['nixos/hosts/azalab-1/configuration.nix', 'nixos/hosts/azalab-1/flake.nix'])
    expect(out.changed.sort()).toEqual(['homelab.yaml', 'known_hosts', SECRETS, 'nixos/hosts.json'].sort())
    expect(out.token).toEqual({server: 'azalab-0', source: 'server'})
    expect(out.hostKey).toEqual({fingerprint: 'SHA256:fake', line: HOST_KEY_LINE, pinned: true})
    expect(out.nixos).toBe(false)
    expect(out.next).toBe('homelab host install azalab-1, then homelab deploy')
    expect(calls.server).toEqual(['connect azalab-0', `sudo cat ${K3S_SERVER_TOKEN_FILE}`])
    // The stored token is the server's, SOPS-encrypted (not in the file as plain text).
    expect(await readHostToken(homelab.root, demo)).toBe(SERVER_TOKEN)
    expect(readFileSync(path.join(homelab.root, SECRETS), 'utf8')).not.toContain(SERVER_TOKEN)
    expect(readFileSync(path.join(homelab.root, 'known_hosts'), 'utf8')).toBe(`${before}${HOST_KEY_LINE}\n`)
    const after = await loadHomelab({cwd: homelab.root, repo: homelab.root})
    expect(after.config.hosts.map((h) => [h.name, h.role, h.nodeInterfaces])).toEqual([
      ['azalab-0', 'server', ['enp1s0']],
      ['azalab-1', 'agent', ['enp2s0']],
    ])
    expect(JSON.parse(readFileSync(path.join(homelab.root, 'nixos/hosts.json'), 'utf8')).hosts[0].nodeInterfaces).toEqual(['enp1s0'])
  })

  it('keeps a token already stored, and refuses --new-token then', async () => {
    const homelab = await copy()
    await addHost(request(homelab, {newToken: true, pin: false}))
    const token = await readHostToken(homelab.root, demo)
    expect(token).toMatch(/^[0-9a-f]{64}$/)
    // A second agent: the token is kept, the server is not asked.
    const calls: Calls = {newHost: [], server: []}
    const next = await loadHomelab({cwd: homelab.root, repo: homelab.root})
    const out = await addHost(request(next, {pin: false, spec: spec({name: 'azalab-2', ssh: 'aiden@10.0.0.22'})}, calls))
    expect(out.token.source).toBe('kept')
    expect(calls.server).toEqual([])
    expect(await readHostToken(homelab.root, demo)).toBe(token)
    const third = await loadHomelab({cwd: homelab.root, repo: homelab.root})
    await expect(addHost(request(third, {newToken: true, pin: false, spec: spec({name: 'azalab-3', ssh: 'aiden@10.0.0.23'})}))).rejects.toThrow(/already has k3s\/token.*leave out --new-token/)
  })

  it('says what is missing: --node-interface, and the server\'s interface', async () => {
    const homelab = await copy()
    await expect(addHost(request(homelab, {spec: spec({nodeInterfaces: []})}))).rejects.toThrow(UsageError)
    await expect(addHost(request(homelab, {serverNodeInterfaces: []}))).rejects.toThrow(/azalab-0 \(the k3s server\) names no nodeInterfaces.*--server-node-interface/)
  })

  const failures: Array<[string, (homelab: Homelab) => Partial<HostAddRequest>, RegExp]> = [
    [
      'the server is unreachable',
      () => ({
        async connect() {
          throw new HostUnreachableError('azalab-0: cannot reach it (azalab-0:22): ENOTFOUND')
        },
      }),
      /azalab-0: cannot reach it/,
    ],
    [
      'the server has no token file (k3s never ran)',
      () => ({
        async connect() {
          return {async close() {}, async exec() {
            return {exitCode: 0, stderr: '', stdout: ''}
          }, hostKeyFingerprint: 'x', async sudo() {
            return {exitCode: 1, stderr: `cat: ${K3S_SERVER_TOKEN_FILE}: No such file or directory`, stdout: ''}
          }}
        },
      }),
      /cannot read \/var\/lib\/rancher\/k3s\/server\/token.*k3s has not run there/,
    ],
    [
      'the new host\'s key is refused',
      () => ({
        async connectNew() {
          throw new UnknownHostKeyError('10.0.0.21: unknown host key ssh-ed25519 SHA256:x; refused')
        },
      }),
      /unknown host key/,
    ],
    ['no identity decrypts the host secrets', () => ({identities: [other]}), /host-secrets|decrypt|identit/i],
    [
      'the write fails half-way',
      () => {
        let n = 0
        return {
          fs: {
            async rename(from: string, to: string) {
              if (++n === 3) throw Object.assign(new Error('ENOSPC: no space left on device'), {code: 'ENOSPC'})
              await fs.rename(from, to)
            },
          },
        }
      },
      /no space left|ENOSPC/,
    ],
  ]
  for (const [what, over, message] of failures) {
    it(`leaves the repository byte-identical when ${what}`, async () => {
      const homelab = await copy()
      const before = snapshot(homelab.root)
      await expect(addHost(request(homelab, {ageRecipient: other.recipient, ...over(homelab)}))).rejects.toThrow(message)
      expect(snapshot(homelab.root)).toEqual(before)
    })
  }

  it('--age-recipient: the host secrets rule gets it (marked for the host) and the file is wrapped for it; remove takes both out', async () => {
    const homelab = await copy()
    const sopsBefore = readFileSync(path.join(homelab.root, '.sops.yaml'), 'utf8')
    const recipientsBefore = readSopsMetadata(readFileSync(path.join(homelab.root, SECRETS), 'utf8'), SECRETS)!.recipients
    const knownBefore = readFileSync(path.join(homelab.root, 'known_hosts'), 'utf8')
    const out = await addHost(request(homelab, {ageRecipient: other.recipient}))
    expect(out.ageRecipient).toBe(other.recipient)
    const sops = readFileSync(path.join(homelab.root, '.sops.yaml'), 'utf8')
    expect(sops).toContain(`# host azalab-1 (homelab host add): ${other.recipient}`)
    // Only the host secrets rule: the cluster secrets rule keeps the demo recipient alone.
    expect(sops.split('\n').filter((l) => l.includes(other.recipient))).toHaveLength(2)
    expect(readSopsMetadata(readFileSync(path.join(homelab.root, SECRETS), 'utf8'), SECRETS)!.recipients).toEqual([...recipientsBefore, other.recipient])
    // The host's own identity opens the file now, with the token in it.
    expect(await readHostToken(homelab.root, [other])).toBe(SERVER_TOKEN)

    const next = await loadHomelab({cwd: homelab.root, repo: homelab.root})
    const removed = await removeHostFiles({checked: await checkHostRemove(next, 'azalab-1'), env: {HOME: homelab.root, USER: 'aiden'}, homelab: next, identities: demo})
    expect(removed).toMatchObject({ageRecipient: other.recipient, tokenRemoved: true})
    expect(removed.deleted.sort()).toEqual(['nixos/hosts/azalab-1/configuration.nix', 'nixos/hosts/azalab-1/flake.nix'])
    expect(readFileSync(path.join(homelab.root, '.sops.yaml'), 'utf8')).toBe(sopsBefore)
    expect(readFileSync(path.join(homelab.root, 'known_hosts'), 'utf8')).toBe(knownBefore)
    expect(readSopsMetadata(readFileSync(path.join(homelab.root, SECRETS), 'utf8'), SECRETS)!.recipients).toEqual(recipientsBefore)
    expect(await readHostToken(homelab.root, demo)).toBeUndefined()
    await expect(fs.stat(path.join(homelab.root, 'nixos/hosts'))).rejects.toThrow(/ENOENT/)
    const final = await loadHomelab({cwd: homelab.root, repo: homelab.root})
    expect(final.config.hosts.map((h) => h.name)).toEqual(['azalab-0'])
  })
})

describe('homelab host remove (lib)', () => {
  it('refuses the server, an unknown host, and a host holding an app\'s storage', async () => {
    const homelab = await copy()
    await expect(checkHostRemove(homelab, 'azalab-0')).rejects.toThrow(/azalab-0 is the k3s server/)
    await expect(checkHostRemove(homelab, 'nope')).rejects.toThrow(/no host "nope"/)
    await addHost(request(homelab, {newToken: true, pin: false}))
    const storageFile = path.join(homelab.root, 'nixos/storage.json')
    const storage = JSON.parse(readFileSync(storageFile, 'utf8'))
    storage.apps.find((a: {name: string}) => a.name === 'immich').node = 'azalab-1'
    writeFileSync(storageFile, JSON.stringify(storage, null, 2))
    const next = await loadHomelab({cwd: homelab.root, repo: homelab.root})
    const error = await checkHostRemove(next, 'azalab-1').catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(PinnedStorageError)
    expect((error as PinnedStorageError).message).toMatch(/azalab-1 holds the storage of immich/)
    expect((error as PinnedStorageError).suggestions.join(' ')).toContain('homelab app remove immich')
  })

  it('keeps k3s/token while other agents remain', async () => {
    const homelab = await copy()
    await addHost(request(homelab, {newToken: true, pin: false}))
    await addHost(request(await loadHomelab({cwd: homelab.root, repo: homelab.root}), {pin: false, spec: spec({name: 'azalab-2', ssh: 'aiden@10.0.0.22'})}))
    const token = await readHostToken(homelab.root, demo)
    const next = await loadHomelab({cwd: homelab.root, repo: homelab.root})
    const out = await removeHostFiles({checked: await checkHostRemove(next, 'azalab-1'), env: {HOME: homelab.root}, homelab: next, identities: demo})
    expect(out.tokenRemoved).toBe(false)
    expect(await readHostToken(homelab.root, demo)).toBe(token)
    expect(existsIn(homelab.root, 'nixos/hosts/azalab-2/flake.nix')).toBe(true)
    expect(existsIn(homelab.root, 'nixos/hosts/azalab-1')).toBe(false)
  })

  it('drains, then deletes the node on the server; a node the API does not know is skipped', async () => {
    const seen: string[] = []
    const server = (known: boolean): AddConnection => ({
      async close() {},
      async exec(command) {
        seen.push(command)
        const args = command.split('k3s kubectl ')[1]?.split(';')[0] ?? ''
        if (args.startsWith('get node')) return {exitCode: 0, stderr: '', stdout: known ? 'node/azalab-1\n' : ''}
        if (args.startsWith('drain')) return {exitCode: 0, stderr: '', stdout: 'node/azalab-1 cordoned\nnode/azalab-1 drained\n'}
        if (args.startsWith('delete')) return {exitCode: 0, stderr: '', stdout: 'node "azalab-1" deleted\n'}
        return {exitCode: 1, stderr: 'unexpected', stdout: ''}
      },
      hostKeyFingerprint: 'x',
      async sudo() {
        return {exitCode: 1, stderr: 'not used', stdout: ''}
      },
    })
    expect(await drainNode(server(true), 'azalab-1')).toEqual({output: ['node/azalab-1 cordoned', 'node/azalab-1 drained', 'node "azalab-1" deleted'], registered: true})
    expect(seen.map((c) => c.split('k3s kubectl ')[1].split(';')[0])).toEqual([
      'get node azalab-1 --ignore-not-found -o name',
      'drain azalab-1 --ignore-daemonsets --delete-emptydir-data --timeout=300s',
      'delete node azalab-1',
    ])
    seen.length = 0
    expect(await drainNode(server(false), 'azalab-1')).toEqual({output: [], registered: false})
    expect(seen).toHaveLength(1)
  })
})

describe('homelab.yaml edited on the text (aligned comments kept)', () => {
  it('add only adds lines (the server\'s nodeInterfaces, the new host); remove takes the host\'s lines out again', async () => {
    const homelab = await copy()
    const file = path.join(homelab.root, 'homelab.yaml')
    const original = readFileSync(file, 'utf8')
    await addHost(request(homelab, {newToken: true, pin: false}))
    const added = readFileSync(file, 'utf8')
    const newLines = added.split('\n')
    // Every original line is still there, in order, unchanged; the new ones are the host's.
    const kept = newLines.filter((l) => !['    nodeInterfaces: [ enp1s0 ]', '  - name: azalab-1', '    ssh: aiden@10.0.0.21', '    role: agent', '    labels: { homelab.dev/gpu: "true" }', '    tags: [ ml ]', '    nodeInterfaces: [ enp2s0 ]'].includes(l))
    expect(kept.join('\n')).toBe(original)
    expect(newLines.length - original.split('\n').length).toBe(7)
    expect(added).toContain('    flakeInput: homelab       # the input that pins this repository\n    nodeInterfaces: [ enp1s0 ]\n  - name: azalab-1\n')

    const next = await loadHomelab({cwd: homelab.root, repo: homelab.root})
    await removeHostFiles({checked: await checkHostRemove(next, 'azalab-1'), env: {HOME: homelab.root}, homelab: next, identities: demo})
    expect(readFileSync(file, 'utf8')).toBe(original.replace('    flakeInput: homelab       # the input that pins this repository\n', '    flakeInput: homelab       # the input that pins this repository\n    nodeInterfaces: [ enp1s0 ]\n'))
  })
})

describe('.sops.yaml recipient edits', () => {
  const text = 'creation_rules:\n  # host secrets\n  - path_regex: ^nixos/secrets/\n    age: age1aaa\n  - path_regex: ^flux/\n    age: [age1aaa]\n'
  it('adds to one rule with a mark, removes by the mark, and round-trips byte for byte', () => {
    const added = addHostRecipient(text, '.sops.yaml', 0, 'azalab-1', 'age1bbb')!
    expect(added).toBe('creation_rules:\n  # host secrets\n  - path_regex: ^nixos/secrets/\n    # host azalab-1 (homelab host add): age1bbb\n    age: age1aaa,age1bbb\n  - path_regex: ^flux/\n    age: [ age1aaa ]\n')
    expect(addHostRecipient(added, '.sops.yaml', 0, 'azalab-2', 'age1bbb')).toBeNull()
    const removed = removeHostRecipient(added, '.sops.yaml', 'azalab-1')!
    expect(removed.recipient).toBe('age1bbb')
    expect(removed.text).toBe(text.replace('[age1aaa]', '[ age1aaa ]'))
    expect(removeHostRecipient(text, '.sops.yaml', 'azalab-1')).toBeNull()
  })

  it('refuses a rule with key_groups (the group is the operator\'s choice)', () => {
    expect(() => addHostRecipient('creation_rules:\n  - key_groups:\n      - age: [age1aaa]\n', '.sops.yaml', 0, 'h', 'age1bbb')).toThrow(/key_groups/)
  })
})

function existsIn(root: string, rel: string): boolean {
  try {
    statSync(path.join(root, rel))
    return true
  } catch {
    return false
  }
}
