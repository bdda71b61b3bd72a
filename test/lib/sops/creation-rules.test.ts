import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {loadSopsConfig, matchCreationRule, parseSopsConfig, readSopsMetadata, isSopsFile, requireCreationRule, goRegExp} from '../../../src/lib/sops/index.js'
import {REPO_ROOT} from '../../helpers/cli.js'

const DEMO = 'age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6'
const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/sops')

describe('creation rules', () => {
  let dir: string
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-sops-rules-'))
  })
  afterEach(async () => {
    await fs.rm(dir, {force: true, recursive: true})
  })

  it('loads the bundled .sops.yaml walking up and matches the first rule', async () => {
    const config = await loadSopsConfig({dir: path.join(REPO_ROOT, 'nixos')})
    expect(config.file).toBe(path.join(REPO_ROOT, '.sops.yaml'))
    expect(config.rules).toHaveLength(2)
    const host = matchCreationRule(config, path.join(REPO_ROOT, 'nixos/secrets/host-secrets.sops.yaml'))
    expect(host?.index).toBe(0)
    expect(host?.recipients).toEqual([DEMO])
    expect(host?.encryptedRegex).toBeUndefined()
    const app = matchCreationRule(config, 'flux/clusters/azalab-0/manifests/apps/vaultwarden/secret.sops.yaml')
    expect(app?.index).toBe(1)
    expect(app?.encryptedRegex).toBe('^(data|stringData)$')
    expect(matchCreationRule(config, 'README.md')).toBeUndefined()
    expect(() => requireCreationRule(config, 'README.md')).toThrow(/no creation rule in .*\.sops\.yaml matches README\.md/)
  })

  it('reads key_groups, age lists, (?i) and rejects malformed files naming the line', async () => {
    const file = path.join(dir, '.sops.yaml')
    const config = parseSopsConfig(
      [
        'creation_rules:',
        '  - path_regex: (?i)\\.SECRET\\.yaml$',
        '    key_groups:',
        '      - age: [age1aaa, age1bbb]',
        '  - age: " age1ccc , age1ddd "',
        '    unencrypted_suffix: _plain',
        '    unknown_key: ignored',
      ].join('\n'),
      file,
    )
    expect(matchCreationRule(config, path.join(dir, 'x/a.secret.YAML'))?.recipients).toEqual(['age1aaa', 'age1bbb'])
    const other = matchCreationRule(config, 'other.yaml')
    expect(other?.recipients).toEqual(['age1ccc', 'age1ddd'])
    expect(other?.unencryptedSuffix).toBe('_plain')
    expect(() => parseSopsConfig('creation_rules:\n  - path_regex: "(unclosed"\n', file)).toThrow(/\.sops\.yaml:2: .*invalid regex/)
    expect(() => parseSopsConfig('creation_rules: {a: 1}\n', file)).toThrow(/creation_rules must be a list/)
    expect(() => parseSopsConfig('creation_rules:\n  - age: 7\n', file)).toThrow(/\.sops\.yaml:2: creation_rules\[0\]\.age/)
    expect(() => parseSopsConfig('creation_rules:\n  - age: age1x\n    encrypted_regex: a\n    unencrypted_suffix: b\n', file)).toThrow(/at most one/)
    expect(() => parseSopsConfig('creation_rules: [\n', file)).toThrow(/invalid YAML/)
    await expect(loadSopsConfig({dir})).rejects.toThrow(/no \.sops\.yaml in/)
  })

  it('translates Go regexps', () => {
    expect(goRegExp('(?i)^ABC$', 'x').test('abc')).toBe(true)
    expect(goRegExp('\\Afoo\\z', 'x').test('foo')).toBe(true)
    expect(goRegExp('^[[:digit:]]+$', 'x').test('123')).toBe(true)
  })
})

describe('readSopsMetadata', () => {
  it('reads every fixture without a key', async () => {
    const global = await fs.readFile(path.join(FIXTURES, 'flux-kc-global-secret.yaml'), 'utf8')
    const meta = readSopsMetadata(global, 'secret.yaml')
    expect(meta).toMatchObject({
      encryptedRegex: '^(data|stringData)$',
      lastmodified: '2025-07-06T17:19:51Z',
      macOnlyEncrypted: false,
      recipients: ['age1henwn645drkd3fa34t27t2w2x0nsgw3w4h62gmg5x5xflyjpy38s5cncph'],
      version: '3.10.2',
    })
    expect(isSopsFile(global)).toBe(true)
    const nix = readSopsMetadata(await fs.readFile(path.join(FIXTURES, 'sops-nix-secrets.yaml'), 'utf8'), 'secrets.yaml')
    expect(nix?.recipients).toHaveLength(2)
    expect(nix?.otherKeyCount).toBe(2)
    const rops = readSopsMetadata(await fs.readFile(path.join(FIXTURES, 'rops-age_mac_only_encrypted.yaml'), 'utf8'), 'a.yaml')
    expect(rops).toMatchObject({lastmodified: '2023-12-27T11:13:48Z', macOnlyEncrypted: true, version: ''})
  })

  it('says undefined for text that is not a SOPS file', () => {
    expect(readSopsMetadata('a: 1\n', 'a.yaml')).toBeUndefined()
    expect(readSopsMetadata('sops: {version: 3}\n', 'a.yaml')).toBeUndefined()
    expect(readSopsMetadata('a: [\n', 'a.yaml')).toBeUndefined()
    expect(isSopsFile('kind: Secret\nstringData:\n  a: b\n')).toBe(false)
    expect(readSopsMetadata('{"a": 1, "sops": {"mac": "ENC[x]", "lastmodified": "2024-01-01T00:00:00Z", "age": []}}', 'a.json')?.format).toBe('json')
  })
})

describe('editSopsConfigRecipients', () => {
  it('adds and removes recipients in flat strings, lists and key groups, keeping comments', async () => {
    const {editSopsConfigRecipients} = await import('../../../src/lib/sops/sops-config-edit.js')
    const text = ['# rules', 'creation_rules:', '  - path_regex: a', '    age: age1old, age1other # two', '  - path_regex: b', '    age: [age1old]', '  - key_groups:', '      - age:', '          - age1old', '  - age: age1unrelated', ''].join('\n')
    const added = editSopsConfigRecipients(text, '.sops.yaml', {add: 'age1new', whenAny: ['age1old']})
    expect(added.changedRules).toBe(3)
    const config = parseSopsConfig(added.text, '/x/.sops.yaml')
    expect(config.rules.map((r) => r.recipients)).toEqual([['age1old', 'age1other', 'age1new'], ['age1old', 'age1new'], ['age1old', 'age1new'], ['age1unrelated']])
    expect(added.text).toContain('# rules')
    expect(added.text).toContain('# two')
    const removed = editSopsConfigRecipients(added.text, '.sops.yaml', {remove: ['age1old'], whenAny: ['age1new']})
    expect(parseSopsConfig(removed.text, '/x/.sops.yaml').rules.map((r) => r.recipients)).toEqual([['age1other', 'age1new'], ['age1new'], ['age1new'], ['age1unrelated']])
  })
})
