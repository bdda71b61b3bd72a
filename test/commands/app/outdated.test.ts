import {promises as fs, rmSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {parseImageRef} from '../../../src/lib/registry/reference.js'
import {runCli} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'
import {expectMatchesSchema} from '../../helpers/json-schema.js'
import {closedPort, startTestRegistry, type TestRegistry} from '../../helpers/oci-registry.js'

const CLUSTER = 'flux/clusters/azalab-0'
let root: string
let registry: TestRegistry
let dead: number

/** Every image: line of the bundled tree, repointed to `host` (same repository path, tag and digest). */
async function repointImages(dir: string, host: (repository: string) => string): Promise<string[]> {
  const repositories: string[] = []
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await fs.readdir(path.join(dir, rel), {withFileTypes: true})) {
      const child = `${rel}/${entry.name}`
      if (entry.isDirectory()) await walk(child)
      else if (/\.ya?ml$/.test(entry.name) && !entry.name.endsWith('.sops.yaml')) {
        const text = await fs.readFile(path.join(dir, child), 'utf8')
        const next = text.replace(/^(\s*(?:- )?image:\s*)(\S+)$/gm, (_, lead: string, ref: string) => {
          const r = parseImageRef(ref)!
          repositories.push(r.repository)
          return `${lead}${host(r.repository)}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`
        })
        if (next !== text) await fs.writeFile(path.join(dir, child), next)
      }
    }
  }

  await walk(CLUSTER)
  return [...new Set(repositories)]
}

beforeAll(async () => {
  root = copyBundledHomelab('homelab-outdated-')
  dead = await closedPort()
  // The tree's real images, served on loopback with a few newer tags; kopia's registry is down.
  registry = await startTestRegistry({
    'cloudflare/cloudflared': {tags: ['2025.11.1', '2025.12.0', '2026.1.0-rc.1', 'latest']},
    'immich-app/immich-server': {auth: true, tags: ['v2.4.1', 'v2.5.0', 'v2.10.0-beta']},
    'immich-app/postgres': {
      auth: true,
      tags: ['14-vectorchord0.4.3-pgvectors0.2.0', '15-vectorchord0.4.3-pgvectors0.2.0', '17-vectorchord0.5.0-pgvectors0.3.0'],
    },
    'library/busybox': {tags: ['1.36.1', '1.37.0', 'latest', 'musl']},
    'matrix-construct/tuwunel': {tags: ['v1.5.1']},
    'tursodatabase/libsql-server': {tags: ['v0.24.32', 'v0.24.33', 'v0.25.0-pre.1']},
    'valkey/valkey': {tags: ['9.0.1', '9.0.2-alpine']},
    'vaultwarden/server': {tags: ['1.34.3', '1.35.0', '1.35.0-alpine']},
    'zeroclaw-labs/zeroclaw': {tags: ['v0.7.5', 'v0.8.0']},
  })
  const repos = await repointImages(root, (repository) => (repository === 'kopia/kopia' ? `127.0.0.1:${dead}` : registry.host))
  expect(repos).toContain('kopia/kopia')
}, 60_000)

afterAll(async () => {
  await registry?.close()
  rmSync(root, {force: true, recursive: true})
})

describe('homelab app outdated', () => {
  it('--json: newest tag per image in its scheme, pinned digests kept pinned, the unreachable registry named, exit 1', {timeout: 120_000}, async () => {
    const result = await runCli(['app', 'outdated', '--repo', root, '--json'], {env: {CI: 'true'}})
    expect(result.exitCode, result.stderr).toBe(1)
    const report = JSON.parse(result.stdout)
    await expectMatchesSchema('app outdated', report)
    const by = (repository: string) => report.images.find((i: {repository: string}) => i.repository === repository)
    expect(by('cloudflare/cloudflared')).toMatchObject({latest: '2025.12.0', status: 'outdated', tag: '2025.11.1'})
    expect(by('immich-app/immich-server')).toMatchObject({latest: 'v2.5.0', status: 'outdated'})
    const digest = registry.digestOf('immich-app/postgres', '15-vectorchord0.4.3-pgvectors0.2.0')
    expect(by('immich-app/postgres')).toMatchObject({
      latest: '15-vectorchord0.4.3-pgvectors0.2.0',
      latestDigest: digest,
      status: 'outdated',
      update: `${registry.host}/immich-app/postgres:15-vectorchord0.4.3-pgvectors0.2.0@${digest}`,
    })
    expect(by('library/busybox')).toMatchObject({latest: '1.37.0', status: 'up-to-date'})
    expect(by('library/busybox').uses.length).toBe(3)
    expect(by('valkey/valkey')).toMatchObject({latest: '9.0.1', status: 'up-to-date'})
    expect(by('tursodatabase/libsql-server')).toMatchObject({latest: 'v0.24.33', status: 'outdated'})
    expect(by('kopia/kopia')).toMatchObject({latest: null, status: 'unchecked'})
    expect(by('kopia/kopia').reason).toBe(`cannot check: 127.0.0.1:${dead} unreachable (ECONNREFUSED)`)
    expect(report).toMatchObject({outdated: 6, schemaVersion: 1, unchecked: 1})
    expect(result.stderr).toBe('')
  })

  it('text: a table, the update lines with file:line, and the image it could not check', {timeout: 120_000}, async () => {
    const result = await runCli(['app', 'outdated', '--repo', root], {env: {CI: 'true'}})
    expect(result.exitCode).toBe(1)
    expect(result.stdout).toMatch(/^IMAGE\s+CURRENT\s+LATEST\s+STATUS$/m)
    expect(result.stdout).toMatch(new RegExp(`^${CLUSTER}/manifests/apps/cloudflared/deployment\\.yaml:\\d+: \\S+/cloudflare/cloudflared:2025\\.11\\.1 → \\S+/cloudflare/cloudflared:2025\\.12\\.0$`, 'm'))
    expect(result.stdout).toContain(`127.0.0.1:${dead}/kopia/kopia:0.21.1: cannot check: 127.0.0.1:${dead} unreachable (ECONNREFUSED)`)
    expect(result.stdout).toMatch(/^6 outdated of 9 checked; 1 could not be checked \(their registry did not answer\): the report is incomplete$/m)
    expect(result.stdout).not.toMatch(/\u001B\[/)
  })

  it('exits 0 when every registry answered, and 1 with --exit-code when something is outdated', {timeout: 120_000}, async () => {
    const deployment = path.join(root, CLUSTER, 'manifests/apps/kopia/deployment.yaml')
    const text = await fs.readFile(deployment, 'utf8')
    await fs.writeFile(deployment, text.replace(`127.0.0.1:${dead}/kopia/kopia`, `${registry.host}/tuwunel-free/kopia`))
    try {
      const plain = await runCli(['app', 'outdated', '--repo', root, '--json'], {env: {CI: 'true'}})
      // tuwunel-free/kopia is unknown to the registry (404): still unchecked, still 1.
      expect(JSON.parse(plain.stdout).unchecked).toBe(1)
      await fs.writeFile(deployment, text.replace(`127.0.0.1:${dead}/kopia/kopia:0.21.1`, `${registry.host}/matrix-construct/tuwunel:v1.5.1`))
      const ok = await runCli(['app', 'outdated', '--repo', root, '--json'], {env: {CI: 'true'}})
      expect(ok.exitCode, ok.stderr).toBe(0)
      expect(JSON.parse(ok.stdout)).toMatchObject({outdated: 6, unchecked: 0})
      const strict = await runCli(['app', 'outdated', '--repo', root, '--exit-code'], {env: {CI: 'true'}})
      expect(strict.exitCode).toBe(1)
    } finally {
      await fs.writeFile(deployment, text)
    }
  })
})
