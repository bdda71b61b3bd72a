/**
 * The persistent kustomize build cache of `homelab diff` (src/lib/diff/build-cache.ts): a second
 * run reads what the first built, a changed Kustomization is the only build that runs, a corrupt
 * entry is rebuilt and replaced, nothing substituted from a Secret reaches the disk, another
 * kubectl misses, --no-cache touches nothing, an unwritable cache folder is only a warning.
 * Temporary git repositories per test, real git, real kubectl (counted through a wrapper that runs
 * the real one), every cache in a temp XDG_CACHE_HOME (or a temp folder given to diffCluster).
 */
import {execFileSync} from 'node:child_process'
import {chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {parseIdentities} from '../../../src/lib/age/identities.js'
import {BUILD_CACHE_FORMAT, BuildCache, defaultBuildCacheDir, holdsPlainSecret, pruneBuildCache} from '../../../src/lib/diff/build-cache.js'
import {diffCluster, type DiffReport} from '../../../src/lib/diff/index.js'
import {decryptSopsFile, setSopsValues} from '../../../src/lib/sops/index.js'
import {REPO_ROOT, runCli} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'
import {commit, flux, git, initialCommit, kustomization, write} from './git-fixture.js'
import {kubectlFixture} from './kubectl-fixture.js'

const k8s = kubectlFixture()
const {temp} = k8s

const service = (name: string, port: string) =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: default\nspec:\n  ports:\n    - port: ${port}\n  selector:\n    app: ${name}\n`

/** cluster/ (the root) defines the leaf Flux Kustomizations `web` (apps/web) and `db` (apps/db), one Service each. */
function repo(): string {
  const dir = temp('homelab-diff-cache-')
  initialCommit(dir, 'initial', {
    'cluster/kustomization.yaml': kustomization('web.yaml', 'db.yaml'),
    'cluster/web.yaml': flux('web', './apps/web'),
    'cluster/db.yaml': flux('db', './apps/db'),
    'apps/web/kustomization.yaml': kustomization('service.yaml'),
    'apps/web/service.yaml': service('web', '80'),
    'apps/db/kustomization.yaml': kustomization('service.yaml'),
    'apps/db/service.yaml': service('db', '5432'),
  })
  return dir
}

/** The cache folder's entries (name → bytes). */
function entries(cache: string): Map<string, Buffer> {
  if (!existsSync(cache)) return new Map()
  return new Map(readdirSync(cache).map((name) => [name, readFileSync(path.join(cache, name))]))
}

/** A report without its build counts (what the person sees must not depend on the cache). */
const withoutBuilds = (report: DiffReport) => ({...report, builds: undefined})

describe('homelab diff: the persistent kustomize build cache', () => {
  it('a second identical run builds nothing and reports the same; a changed app runs only its new side; a corrupt entry is rebuilt and replaced', async () => {
    const dir = repo()
    const cache = path.join(temp('homelab-diff-cache-home-'), 'kustomize-builds')
    const k = k8s.counting()
    write(dir, 'apps/web/service.yaml', service('web', '81'))
    const run = () => diffCluster({buildCache: cache, clusterPath: 'cluster', identities: [], path: k.path, root: dir})

    // Cold: the root once (the same at both sides), web at both sides; db is the same at both and not built.
    const first = await run()
    expect(first.objects.map((o) => `${o.action} ${o.object}`)).toEqual(['changed Service/default/web'])
    expect(first.builds).toEqual({cached: 0, run: 3})
    expect(k.runs()).toEqual(['apps/web', 'apps/web', 'cluster'])
    const stored = entries(cache)
    expect(stored.size).toBe(3)
    expect(statSync(cache).mode & 0o777).toBe(0o700)
    for (const [name, bytes] of stored) {
      expect(name).toMatch(/^[0-9a-f]{64}$/)
      expect(statSync(path.join(cache, name)).mode & 0o777).toBe(0o600)
      expect(bytes.toString('utf8')).toMatch(new RegExp(`^homelab-kustomize-build ${BUILD_CACHE_FORMAT} sha256:[0-9a-f]{64}\\n(apiVersion|kind)`))
    }

    // Warm: every build read back, none run, the same report; each hit refreshes its entry's mtime (what a prune keeps).
    const past = new Date(Date.now() - 86_400_000)
    for (const name of stored.keys()) utimesSync(path.join(cache, name), past, past)
    const second = await run()
    for (const name of stored.keys()) expect(statSync(path.join(cache, name)).mtimeMs).toBeGreaterThan(past.getTime() + 3_600_000)
    expect(second.builds).toEqual({cached: 3, run: 0})
    expect(k.runs()).toEqual([])
    expect(withoutBuilds(second)).toEqual(withoutBuilds(first))
    expect(entries(cache)).toEqual(stored)

    // web changes again: only its new side runs (its old side and the root come from the cache).
    write(dir, 'apps/web/service.yaml', service('web', '82'))
    const third = await run()
    expect(third.objects[0].diff).toContain('-    - port: 80\n+    - port: 82')
    expect(third.builds).toEqual({cached: 2, run: 1})
    expect(k.runs()).toEqual(['apps/web'])

    // A truncated entry and an overwritten one are misses: rebuilt (the report as before) and replaced.
    const now = entries(cache)
    expect(now.size).toBe(4)
    const [truncated, overwritten] = [...stored.keys()]
    writeFileSync(path.join(cache, truncated), stored.get(truncated)!.subarray(0, stored.get(truncated)!.length - 20))
    const flipped = Buffer.from(stored.get(overwritten)!)
    flipped[flipped.length - 2] ^= 1 // the same length, one byte of the body changed
    writeFileSync(path.join(cache, overwritten), flipped)
    write(dir, 'apps/web/service.yaml', service('web', '81'))
    const fourth = await run()
    expect(fourth.builds).toEqual({cached: 1, run: 2})
    expect(withoutBuilds(fourth)).toEqual(withoutBuilds(first))
    expect(entries(cache).get(truncated)).toEqual(stored.get(truncated))
    expect(entries(cache).get(overwritten)).toEqual(stored.get(overwritten))
    expect((await run()).builds).toEqual({cached: 3, run: 0})
  }, 180_000)

  it('another kubectl binary (same path, another mtime) misses; an output naming the folder it was built in is never kept', async () => {
    const dir = repo()
    const cache = temp('homelab-diff-cache-home-')
    const k = k8s.counting()
    write(dir, 'apps/web/service.yaml', service('web', '81'))
    const run = () => diffCluster({buildCache: cache, clusterPath: 'cluster', identities: [], path: k.path, root: dir})
    expect((await run()).builds).toEqual({cached: 0, run: 3})
    expect((await run()).builds).toEqual({cached: 3, run: 0})
    // An upgraded kubectl is another file: its mtime (and usually size) differ.
    const past = new Date(Date.now() - 86_400_000)
    utimesSync(k.bin, past, past)
    expect((await run()).builds).toEqual({cached: 0, run: 3})
    expect(entries(cache).size).toBe(6)
    k.runs()

    // An output naming the folder it was built in (here the working tree; a commit's or an
    // overlay's temp folder likewise) would not be the same output next time: never kept.
    write(dir, 'apps/web/service.yaml', service('web', '81').replace('  name: web\n', `  annotations:\n    source: ${dir}/apps/web\n  name: web\n`))
    for (let i = 0; i < 2; i++) {
      const named = await run()
      expect(named.objects.map((o) => `${o.action} ${o.object}`)).toEqual(['changed Service/default/web'])
      expect(named.builds).toEqual({cached: 2, run: 1})
      expect(k.runs()).toEqual(['apps/web'])
      expect(entries(cache).size).toBe(6)
    }
  }, 180_000)

  it('a script kubectl (a shim) is identified by the version it runs: another version behind the same script misses', async () => {
    const dir = repo()
    const cache = temp('homelab-diff-cache-home-')
    const bin = temp('homelab-diff-cache-shim-')
    // A shim like asdf's or mise's: the same file whatever kubectl it runs; here `version --client` tells which.
    const shim = (version: string) => writeFileSync(path.join(bin, 'kubectl'), `#!/bin/sh\nif [ "$1" = version ]; then echo 'Client Version: ${version}'; exit 0; fi\nexec '${k8s.kubectl}' "$@"\n`, {mode: 0o755})
    shim('v1.31.0')
    const past = new Date(Date.now() - 86_400_000)
    utimesSync(path.join(bin, 'kubectl'), past, past)
    write(dir, 'apps/web/service.yaml', service('web', '81'))
    const run = () => diffCluster({buildCache: cache, clusterPath: 'cluster', identities: [], path: `${bin}:${process.env.PATH}`, root: dir})
    expect((await run()).builds).toEqual({cached: 0, run: 3})
    expect((await run()).builds).toEqual({cached: 3, run: 0})
    shim('v1.32.0') // same size, same mtime: only the version differs
    utimesSync(path.join(bin, 'kubectl'), past, past)
    expect((await run()).builds).toEqual({cached: 0, run: 3})
  }, 180_000)

  it('keeps no output holding a plaintext Secret (a secretGenerator, a plain Secret); SOPS-encrypted ones are kept', async () => {
    expect(holdsPlainSecret('apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\ndata:\n  password: aHVudGVyMg==\n')).toBe(true)
    expect(holdsPlainSecret('apiVersion: v1\nkind: Secret\ndata:\n  password: ENC[AES256_GCM,data:x]\nsops:\n  mac: ENC[AES256_GCM,data:y]\n---\nkind: Service\n')).toBe(false)
    expect(holdsPlainSecret('apiVersion: v1\nkind: ConfigMap\ndata:\n  kind: Secret\n')).toBe(false)
    const dir = repo()
    const cache = temp('homelab-diff-cache-home-')
    write(dir, 'apps/db/kustomization.yaml', `${kustomization('service.yaml')}secretGenerator:\n  - name: db\n    namespace: default\n    files:\n      - password.txt\n`)
    write(dir, 'apps/db/password.txt', 'hunter2-generated')
    const report = await diffCluster({buildCache: cache, clusterPath: 'cluster', identities: [], path: process.env.PATH, root: dir})
    expect(report.objects.map((o) => `${o.action} ${o.object}`)).toEqual([expect.stringMatching(/^added Secret\/default\/db-/)])
    const kept = [...entries(cache).values()].map((b) => b.toString('utf8')).join('\n')
    expect(entries(cache).size).toBeGreaterThan(0) // the root and apps/db at HEAD are kept
    expect(kept).not.toContain('hunter2-generated')
    expect(kept).not.toContain(Buffer.from('hunter2-generated').toString('base64'))
  }, 180_000)

  it('the working tree changed while kubectl read it: the output is not kept under the old content\'s key', async () => {
    const dir = repo()
    const cache = temp('homelab-diff-cache-home-')
    const file = path.join(dir, 'apps/web/service.yaml')
    write(dir, 'apps/web/service.yaml', service('web', '81'))
    // A save just as the working tree's apps/web builds (as an editor might): planned with port 81, built with 99; then undone to 81.
    const marker = path.join(temp('homelab-diff-cache-race-'), 'race')
    const racing = k8s.wrapper((real) => `[ -f '${marker}' ] && [ "$last" = '${dir}/apps/web' ] && sed -i 's/port: 81/port: 99/' '${file}'\nexec '${real}' "$@"`)
    writeFileSync(marker, '')
    const raced = await diffCluster({buildCache: cache, clusterPath: 'cluster', identities: [], path: racing.path, root: dir})
    rmSync(marker)
    expect(raced.objects[0].diff).toContain('+    - port: 99')
    write(dir, 'apps/web/service.yaml', service('web', '81'))
    // The next run (the file as it is now, 81) builds the working tree's web again and shows 81, never the 99 of the race.
    const next = await diffCluster({buildCache: cache, clusterPath: 'cluster', identities: [], path: racing.path, root: dir})
    expect(next.objects[0].diff).toContain('+    - port: 81')
    expect(next.builds).toEqual({cached: 2, run: 1})
  }, 180_000)

  it('a cache folder that is a symlink or another user\'s is not used (one warning); a group-writable one of ours is narrowed to 0700', async () => {
    const dir = repo()
    write(dir, 'apps/web/service.yaml', service('web', '81'))
    const home = temp('homelab-diff-cache-trust-')
    const real = path.join(home, 'real')
    mkdirSync(real, {mode: 0o700})
    const link = path.join(home, 'link')
    execFileSync('ln', ['-s', real, link])
    const viaLink = await diffCluster({buildCache: link, clusterPath: 'cluster', identities: [], path: process.env.PATH, root: dir})
    expect(viaLink.warnings).toEqual([`the kustomize build cache ${link} is not a folder (a symlink or a file): it is not used (remove it, or pass --no-cache)`])
    expect(readdirSync(real)).toEqual([])

    const loose = path.join(home, 'loose')
    mkdirSync(loose)
    chmodSync(loose, 0o777)
    const narrowed = await diffCluster({buildCache: loose, clusterPath: 'cluster', identities: [], path: process.env.PATH, root: dir})
    expect(narrowed.warnings).toEqual([])
    expect(statSync(loose).mode & 0o777).toBe(0o700)
    expect(readdirSync(loose).length).toBeGreaterThan(0)

    if (process.getuid?.() === 0) {
      // Another user's folder (as root: one given to nobody): never read, never written.
      const theirs = path.join(home, 'theirs')
      mkdirSync(theirs, {mode: 0o777})
      execFileSync('chown', ['65534', theirs])
      const other = await diffCluster({buildCache: theirs, clusterPath: 'cluster', identities: [], path: process.env.PATH, root: dir})
      expect(other.warnings).toEqual([`the kustomize build cache ${theirs} is owned by uid 65534, not you: it is not used (remove it, or pass --no-cache)`])
      expect(readdirSync(theirs)).toEqual([])
    }

    // BuildCache.put with a confirmation that fails writes nothing.
    const store = new BuildCache(path.join(home, 'confirm'), k8s.kubectl)
    store.put('k', 'apiVersion: v1\nkind: Service\n', async () => false)
    await store.close()
    expect(existsSync(path.join(home, 'confirm'))).toBe(false)
  }, 180_000)

  it('prunes oldest-first to its bounds, and temp files of writes that never finished', async () => {
    const cache = temp('homelab-diff-cache-prune-')
    const now = Date.now()
    const names = ['a', 'b', 'c', 'd'].map((c) => c.repeat(64))
    names.forEach((name, i) => {
      writeFileSync(path.join(cache, name), Buffer.alloc(100))
      const t = new Date(now - (10 - i) * 60_000) // a is the oldest
      utimesSync(path.join(cache, name), t, t)
    })
    writeFileSync(path.join(cache, `.${names[0]}.123.tmp`), 'x')
    utimesSync(path.join(cache, `.${names[0]}.123.tmp`), new Date(now - 2 * 3_600_000), new Date(now - 2 * 3_600_000))
    writeFileSync(path.join(cache, `.${names[1]}.456.tmp`), 'x') // a write under way
    writeFileSync(path.join(cache, 'README'), 'not an entry')
    expect(await pruneBuildCache(cache, {bytes: 250, entries: 100}, now)).toBe(3)
    expect(readdirSync(cache).sort()).toEqual([`.${names[1]}.456.tmp`, 'README', names[2], names[3]].sort())
    expect(await pruneBuildCache(cache, {bytes: 1000, entries: 1}, now)).toBe(1)
    expect(readdirSync(cache)).toContain(names[3])
    expect(await pruneBuildCache(path.join(cache, 'missing'))).toBe(0)
  })

  it('lives in $XDG_CACHE_HOME/homelab/kustomize-builds, else ~/.cache (a relative XDG_CACHE_HOME is ignored)', () => {
    expect(defaultBuildCacheDir({XDG_CACHE_HOME: '/x/cache'}, '/home/me')).toBe('/x/cache/homelab/kustomize-builds')
    expect(defaultBuildCacheDir({}, '/home/me')).toBe('/home/me/.cache/homelab/kustomize-builds')
    expect(defaultBuildCacheDir({XDG_CACHE_HOME: 'rel'}, '/home/me')).toBe('/home/me/.cache/homelab/kustomize-builds')
  })
})

describe('homelab diff: the build cache never holds a value substituted from a Secret', () => {
  it('a postBuild.substituteFrom SOPS Secret: its plaintext (old and new) is in no cache file; the cached output is kubectl\'s, before substitution', async () => {
    const KEY_FILE = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
    const CLUSTER = 'flux/clusters/azalab-0'
    const identities = await parseIdentities(readFileSync(KEY_FILE, 'utf8'), KEY_FILE)
    const dir = copyBundledHomelab('homelab-diff-cache-sops-')
    k8s.removeAfter(dir)
    // A Kustomization in namespace immich whose ConfigMap takes DB_PASSWORD from the SOPS Secret immich/immich-secret.
    write(dir, `${CLUSTER}/kustomization.yaml`, readFileSync(path.join(dir, CLUSTER, 'kustomization.yaml'), 'utf8').replace('  - apps.yaml\n', '  - apps.yaml\n  - db-url.yaml\n'))
    write(dir, `${CLUSTER}/db-url.yaml`, flux('db-url', `./${CLUSTER}/manifests/db-url`, '  postBuild:\n    substituteFrom:\n      - kind: Secret\n        name: immich-secret\n').replace('namespace: flux-system\nspec', 'namespace: immich\nspec').replace('name: flux-system\n', 'name: flux-system\n    namespace: flux-system\n'))
    write(dir, `${CLUSTER}/manifests/db-url/kustomization.yaml`, kustomization('configmap.yaml'))
    write(dir, `${CLUSTER}/manifests/db-url/configmap.yaml`, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db-url\n  namespace: immich\ndata:\n  url: postgres://immich:${DB_PASSWORD}@immich-postgres/immich\n')
    git(dir, ['init', '-q', '-b', 'main'])
    commit(dir, 'initial')
    const file = path.join(dir, CLUSTER, 'manifests/apps/immich/secret.sops.yaml')
    const old = String((await decryptSopsFile({file, identities})).documents[0].toJS().stringData.DB_PASSWORD)
    const plaintext = 'CachePlaintextPassw0rdQ'
    await setSopsValues({file, identities, values: {'stringData.DB_PASSWORD': plaintext}})

    const home = temp('homelab-diff-cache-home-')
    const env = {CI: process.env.CI, SOPS_AGE_KEY_FILE: KEY_FILE, XDG_CACHE_HOME: home, XDG_CONFIG_HOME: '/nonexistent'}
    const result = await runCli(['diff', '--repo', dir, '--offline', '--json'], {env})
    expect(result.exitCode).toBe(0)
    const report = JSON.parse(result.stdout) as DiffReport
    expect(report.objects.map((o) => `${o.action} ${o.object}`).sort()).toEqual(['changed ConfigMap/immich/db-url', 'changed Secret/immich/immich-secret'])
    expect(report.objects.find((o) => o.kind === 'ConfigMap')!.diff).toMatch(/url: postgres:\/\/immich:<secret value [^>]+>@immich-postgres/)
    expect(report.builds.run).toBeGreaterThan(0)

    const cache = path.join(home, 'homelab', 'kustomize-builds')
    const all = Buffer.concat([...entries(cache).values()])
    expect(entries(cache).size).toBe(report.builds.run)
    for (const value of [plaintext, old]) {
      expect(all.includes(Buffer.from(value)), value).toBe(false)
      expect(all.includes(Buffer.from(Buffer.from(value).toString('base64'))), `${value} in base64`).toBe(false)
    }

    expect(all.toString('utf8')).toContain('url: postgres://immich:${DB_PASSWORD}@immich-postgres/immich')
    expect(all.toString('utf8')).toContain('DB_PASSWORD: ENC[AES256_GCM,')
    for (const out of [result.stdout, result.stderr]) expect(out).not.toContain(plaintext)
  }, 180_000)
})

/** A homelab.yaml for the small repository: one host, the cluster folder `cluster`. */
const HOMELAB_YAML = 'version: 1\ndomain: example.invalid\nhosts:\n  - name: node-0\n    ssh: root@node-0\ngit:\n  remote: origin\n  branch: main\ncluster:\n  name: test\n  path: cluster\nstorage:\n  root: /srv\n  file: storage.json\nbackup:\n  file: backup.json\n  offsite:\n    endpoint: example.invalid\n    credentialsFile: creds.sops.yaml\n'

describe('homelab diff --no-cache, and a cache folder that cannot be written', () => {
  it('--no-cache creates nothing; an unwritable cache is one warning and the same report, exit 0; a warm run prints byte for byte what a cold one does', async () => {
    const dir = repo()
    write(dir, 'homelab.yaml', HOMELAB_YAML)
    commit(dir, 'homelab.yaml')
    write(dir, 'apps/web/service.yaml', service('web', '81'))
    const home = temp('homelab-diff-cache-xdg-')
    const base = {CI: process.env.CI, XDG_CONFIG_HOME: '/nonexistent'}
    const args = ['diff', '--repo', dir, '--offline']

    const none = await runCli([...args, '--no-cache', '--json'], {env: {...base, XDG_CACHE_HOME: path.join(home, 'none')}})
    expect(none.exitCode, none.stderr).toBe(0)
    expect((JSON.parse(none.stdout) as DiffReport).builds).toEqual({cached: 0, run: 3})
    expect(existsSync(path.join(home, 'none'))).toBe(false)

    // Cold, then warm: the same text, byte for byte (the counts are only in --json).
    const env = {...base, XDG_CACHE_HOME: path.join(home, 'cache')}
    const cold = await runCli(args, {env})
    const warm = await runCli(args, {env})
    const json = await runCli([...args, '--json'], {env})
    expect(cold.exitCode).toBe(0)
    expect(cold.stdout).toContain('Service/default/web  changed')
    expect(warm.stdout).toBe(cold.stdout)
    expect(warm.stderr).toBe(cold.stderr)
    expect((JSON.parse(json.stdout) as DiffReport).builds).toEqual({cached: 3, run: 0})
    expect(withoutBuilds(JSON.parse(json.stdout) as DiffReport)).toEqual(withoutBuilds(JSON.parse(none.stdout) as DiffReport))

    // XDG_CACHE_HOME under a regular file (ENOTDIR; root ignores folder modes, this does not): one warning, same diff.
    const blocker = path.join(home, 'file')
    writeFileSync(blocker, '')
    const blocked = await runCli([...args, '--json'], {env: {...base, XDG_CACHE_HOME: blocker}})
    expect(blocked.exitCode, blocked.stderr).toBe(0)
    const report = JSON.parse(blocked.stdout) as DiffReport
    expect(report.warnings).toEqual([expect.stringMatching(new RegExp(`^the kustomize build cache ${blocker}/homelab/kustomize-builds cannot be written \\(ENOTDIR\\); .*--no-cache`))])
    expect({...withoutBuilds(report), warnings: []}).toEqual({...withoutBuilds(JSON.parse(none.stdout) as DiffReport), warnings: []})
    const text = await runCli(args, {env: {...base, XDG_CACHE_HOME: blocker}})
    expect(text.exitCode).toBe(0)
    expect(text.stdout.split('\n').filter((l) => l.startsWith('warning:'))).toHaveLength(1)

    if (process.getuid?.() !== 0) {
      // A read-only cache folder (not for root, who writes anyway): read, not written, one warning.
      const ro = path.join(home, 'ro')
      mkdirSync(ro, {mode: 0o500})
      const r = await runCli([...args, '--json'], {env: {...base, XDG_CACHE_HOME: ro}})
      expect(r.exitCode).toBe(0)
      expect((JSON.parse(r.stdout) as DiffReport).warnings).toHaveLength(1)
      chmodSync(ro, 0o700)
    }
  }, 240_000)
})
