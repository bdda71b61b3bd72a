import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {MANIFEST_ACCEPT, nextLink, parseBearerChallenge, RegistryClient} from '../../../src/lib/registry/client.js'
import {checkOutdated} from '../../../src/lib/registry/outdated.js'
import {isLoopbackRegistry, parseImageRef, registryBaseUrl} from '../../../src/lib/registry/reference.js'
import {newestInScheme} from '../../../src/lib/registry/tags.js'
import {closedPort, startTestRegistry, type TestRegistry} from '../../helpers/oci-registry.js'

describe('image references', () => {
  it.each([
    ['nginx', {registry: 'docker.io', repository: 'library/nginx', tag: 'latest'}],
    ['nginx:1.27', {registry: 'docker.io', repository: 'library/nginx', tag: '1.27'}],
    ['docker.io/library/busybox:1.37.0', {registry: 'docker.io', repository: 'library/busybox', tag: '1.37.0'}],
    ['index.docker.io/vaultwarden/server:1.34.3', {registry: 'docker.io', repository: 'vaultwarden/server', tag: '1.34.3'}],
    ['traefik/whoami:v1.10', {registry: 'docker.io', repository: 'traefik/whoami', tag: 'v1.10'}],
    ['ghcr.io/owner/app:1.2.3', {registry: 'ghcr.io', repository: 'owner/app', tag: '1.2.3'}],
    ['localhost/app:1', {registry: 'localhost', repository: 'app', tag: '1'}],
    ['127.0.0.1:5000/team/app:2.0', {registry: '127.0.0.1:5000', repository: 'team/app', tag: '2.0'}],
    [`ghcr.io/a/b:14-x@sha256:${'a'.repeat(64)}`, {digest: `sha256:${'a'.repeat(64)}`, registry: 'ghcr.io', repository: 'a/b', tag: '14-x'}],
  ])('%s', (ref, expected) => {
    expect(parseImageRef(ref)).toMatchObject(expected)
  })

  it('refuses what is not a reference', () => {
    expect(parseImageRef('${IMAGE}')).toBeUndefined()
    expect(parseImageRef('Nginx:1')).toBeUndefined()
    expect(parseImageRef('a@sha256:short')).toBeUndefined()
  })

  it('asks Docker Hub at registry-1.docker.io over HTTPS, loopback over HTTP only', () => {
    expect(registryBaseUrl('docker.io')).toBe('https://registry-1.docker.io')
    expect(registryBaseUrl('ghcr.io')).toBe('https://ghcr.io')
    expect(registryBaseUrl('127.0.0.1:5000')).toBe('http://127.0.0.1:5000')
    expect(isLoopbackRegistry('localhost:5000')).toBe(true)
    expect(isLoopbackRegistry('127.evil.example')).toBe(false)
    expect(isLoopbackRegistry('registry.lan:5000')).toBe(false)
  })
})

describe('tag schemes', () => {
  const tags = ['1.2.3', '1.2.4', '1.10.0', '2.0.0-rc.1', '1.2', '1.3', 'v1.2.3', 'v1.9.0', 'v2.0.0', '1.2.3-alpine', '1.4.0-alpine', '1.9.9-slim', 'latest', '2.0.0-beta', '1.11.0-rc1']
  it.each([
    ['1.2.3', '1.10.0'], // numeric, not lexical; 2.0.0-rc.1 and 1.11.0-rc1 are pre-releases
    ['v1.2.3', 'v2.0.0'],
    ['1.2', '1.3'], // two parts stay two parts
    ['1.2.3-alpine', '1.4.0-alpine'], // the suffix stays
    ['2.0.0-beta', '2.0.0-rc.1'], // a pre-release may move to a later pre-release (beta < rc)
    ['1.11.0-rc1', '2.0.0-rc.1'], // a pre-release current: pre-releases (and releases) of later versions count
    ['latest', undefined],
  ])('%s → %s', (current, newest) => {
    expect(newestInScheme(current, tags)).toBe(newest)
  })

  it('a release outranks its pre-releases', () => {
    expect(newestInScheme('2.0.0-rc.1', ['2.0.0-rc.1', '2.0.0', '2.0.0-rc.2'])).toBe('2.0.0')
    expect(newestInScheme('2.0.0-rc.2', ['2.0.0-rc.10', '2.0.0-rc.2'])).toBe('2.0.0-rc.10')
  })
})

describe('WWW-Authenticate and Link headers', () => {
  it('reads a Bearer challenge', () => {
    expect(parseBearerChallenge('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull"')).toEqual({
      realm: 'https://ghcr.io/token',
      scope: 'repository:a/b:pull',
      service: 'ghcr.io',
    })
    expect(parseBearerChallenge('Basic realm="x"')).toBeUndefined()
  })

  it('reads rel="next"', () => {
    expect(nextLink('</v2/a/tags/list?n=2&last=b>; rel="next"')).toBe('/v2/a/tags/list?n=2&last=b')
    expect(nextLink('<https://x/y>; rel="prev"')).toBeUndefined()
  })
})

describe('against a loopback OCI distribution server', () => {
  let registry: TestRegistry
  beforeAll(async () => {
    registry = await startTestRegistry({
      'open/app': {tags: ['1.0.0', '1.1.0', '1.2.0', '1.10.0', '2.0.0-rc.1', 'latest']},
      'private/app': {auth: true, tags: ['v1.0.0', 'v1.0.1', 'v1.1.0']},
      'pinned/db': {auth: true, tags: ['14-ext0.4', '15-ext0.4', '16-ext0.5']},
    })
  })
  afterAll(() => registry.close())

  it('follows Link pagination to read every tag', async () => {
    registry.requests.length = 0
    const tags = await new RegistryClient(registry.host).tags('open/app')
    expect(tags.sort()).toEqual(['1.0.0', '1.1.0', '1.10.0', '1.2.0', '2.0.0-rc.1', 'latest'])
    expect(registry.requests.filter((r) => r.url.startsWith('/v2/open/app/tags/list')).length).toBe(3)
  })

  it('answers a Bearer challenge with an anonymous token, once per repository', async () => {
    registry.requests.length = 0
    const client = new RegistryClient(registry.host)
    expect((await client.tags('private/app')).sort()).toEqual(['v1.0.0', 'v1.0.1', 'v1.1.0'])
    expect(registry.requests.filter((r) => r.url.startsWith('/token')).length).toBe(1)
    expect(registry.requests.filter((r) => r.url.startsWith('/token'))[0].url).toContain('scope=repository%3Aprivate%2Fapp%3Apull')
    expect(registry.requests.at(-1)!.authorization).toMatch(/^Bearer [a-f0-9]{64}$/)
  })

  it('reads a digest with a manifest HEAD that accepts indexes and manifests', async () => {
    registry.requests.length = 0
    expect(await new RegistryClient(registry.host).digest('pinned/db', '16-ext0.5')).toBe(registry.digestOf('pinned/db', '16-ext0.5'))
    const head = registry.requests.find((r) => r.method === 'HEAD')!
    expect(head.accept).toBe(MANIFEST_ACCEPT)
  })

  it('reports each image: outdated with the new tag, kept digests pinned, unversioned, and not checked when unreachable', async () => {
    const dead = await closedPort()
    const pinned = `${registry.host}/pinned/db:15-ext0.4@${registry.digestOf('pinned/db', '15-ext0.4')}`
    const images = new Map([
      [`${registry.host}/open/app:1.2.0`, [{file: 'a.yaml', line: 3}]],
      [`${registry.host}/private/app:v1.1.0`, [{file: 'b.yaml', line: 4}]],
      [pinned, [{file: 'c.yaml', line: 5}]],
      [`${registry.host}/open/app:latest`, [{file: 'd.yaml', line: 6}]],
      [`127.0.0.1:${dead}/gone/app:1.0`, [{file: 'e.yaml', line: 7}]],
      [`${registry.host}/missing/app:1.0`, [{file: 'f.yaml', line: 8}]],
    ])
    const report = await checkOutdated(images)
    const by = Object.fromEntries(report.images.map((i) => [i.image, i]))
    expect(by[`${registry.host}/open/app:1.2.0`]).toMatchObject({latest: '1.10.0', latestDigest: null, status: 'outdated', update: `${registry.host}/open/app:1.10.0`})
    expect(by[`${registry.host}/private/app:v1.1.0`]).toMatchObject({latest: 'v1.1.0', status: 'up-to-date', update: null})
    // 16-ext0.5 has another suffix (-ext0.5), another scheme: nothing newer than 15-ext0.4 in -ext0.4.
    expect(by[pinned]).toMatchObject({latest: '15-ext0.4', status: 'up-to-date'})
    expect(by[`${registry.host}/open/app:latest`]).toMatchObject({status: 'unversioned', latest: null})
    expect(by[`127.0.0.1:${dead}/gone/app:1.0`].status).toBe('unchecked')
    expect(by[`127.0.0.1:${dead}/gone/app:1.0`].reason).toMatch(new RegExp(`^cannot check: 127\\.0\\.0\\.1:${dead} unreachable \\(ECONNREFUSED\\)$`))
    expect(by[`${registry.host}/missing/app:1.0`]).toMatchObject({reason: expect.stringMatching(/HTTP 404/), status: 'unchecked'})
    expect(report).toMatchObject({outdated: 1, unchecked: 2})
  })

  it('keeps the digest pinned: the update carries the new tag\'s digest', async () => {
    const pinned = `${registry.host}/pinned/db:14-ext0.4@${registry.digestOf('pinned/db', '14-ext0.4')}`
    const report = await checkOutdated(new Map([[pinned, [{file: 'c.yaml', line: 5}]]]))
    const digest = registry.digestOf('pinned/db', '15-ext0.4')
    expect(report.images[0]).toMatchObject({latest: '15-ext0.4', latestDigest: digest, status: 'outdated', update: `${registry.host}/pinned/db:15-ext0.4@${digest}`})
  })
})
