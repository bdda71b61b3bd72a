// homelab map on the bundled azalab-0 homelab and on broken copies: the model (kubectl
// kustomize per app, real), the Markdown (pinned by a snapshot, byte-identical when regenerated),
// the SVG (Graphviz WASM), the one-line queries, and validate's staleness check.
import {execa} from 'execa'
import {cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {loadHomelab} from '../../../src/lib/config/load.js'
import {renderMarkdown, TOPOLOGY_DOC} from '../../../src/lib/map/markdown.js'
import {buildMap} from '../../../src/lib/map/model.js'
import {whatListensOn, whoOwnsHostname} from '../../../src/lib/map/query.js'
import {renderSvg, toDot} from '../../../src/lib/map/svg.js'
import {validateRepo} from '../../../src/lib/validate/index.js'
import {REPO_ROOT} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'

const CLUSTER = 'flux/clusters/azalab-0'
const copies: string[] = []
afterEach(() => {
  for (const dir of copies.splice(0)) rmSync(dir, {force: true, recursive: true})
})

/** A copy of the bundled homelab with its committed map (copyBundledHomelab leaves docs/ out). */
function copy(): string {
  const dir = copyBundledHomelab('homelab-map-')
  copies.push(dir)
  mkdirSync(path.join(dir, 'docs'))
  cpSync(path.join(REPO_ROOT, TOPOLOGY_DOC), path.join(dir, TOPOLOGY_DOC))
  return dir
}

const mapOf = async (root: string) => buildMap({homelab: await loadHomelab({cwd: root, repo: root})})
const edit = (dir: string, rel: string, from: string | RegExp, to: string) => {
  const file = path.join(dir, rel)
  const text = readFileSync(file, 'utf8')
  const next = text.replace(from, to)
  expect(next, `${rel} changed`).not.toBe(text)
  writeFileSync(file, next)
}

describe('homelab map: the model of the bundled homelab', () => {
  it('joins every app with its Services, hostnames, claim → volume → folder, backup and secrets', async () => {
    const map = await mapOf(REPO_ROOT)
    expect(map.schemaVersion).toBe(1)
    expect(map.apps.map((a) => a.name)).toEqual(['cloudflared', 'libsql', 'immich', 'kopia', 'vaultwarden', 'tuwunel', 'zeroclaw'])
    const immich = map.apps.find((a) => a.name === 'immich')!
    expect(immich.namespace).toBe('immich')
    expect(immich.workloads.map((w) => `${w.kind}/${w.name}`).sort()).toEqual(['Deployment/immich-server', 'Deployment/immich-valkey', 'StatefulSet/immich-postgres'])
    expect(immich.hostnames).toEqual([{hostname: 'photos.aza.network', path: null, service: 'http://immich-server.immich.svc.cluster.local:2283', target: {name: 'immich-server', namespace: 'immich', port: 2283}}])
    expect(immich.volumes).toEqual([{capacity: '500Gi', claim: 'immich-data', hostPath: '/srv/immich', namespace: 'immich', node: 'azalab-0', volume: 'immich-data'}])
    expect(immich.storage).toEqual({gid: 1000, mode: '0750', node: 'azalab-0', path: '/srv/immich', uid: 1000})
    expect(immich.backup).toEqual({mode: 'postgres', source: '/srv/immich'})
    expect(immich.secrets).toEqual([{name: 'immich-secret', namespace: 'immich', sops: true}])
    // A named targetPort is resolved through the selected pod's container ports.
    const vault = map.apps.find((a) => a.name === 'vaultwarden')!
    expect(vault.services[0].ports[0]).toMatchObject({port: 80, targetPort: 8080})
    expect(vault.hostnames.map((h) => h.hostname)).toEqual(['vault.aza.network'])
    // The /admin rule answers 404 itself: a route with no target and no app.
    expect(map.tunnel!.routes.find((r) => r.path === '^/admin')).toMatchObject({app: null, service: 'http_status:404', target: null})
    expect(map.apps.find((a) => a.name === 'cloudflared')!.secrets).toEqual([{name: 'tunnel-credentials', namespace: 'cloudflared', sops: true}])
  })

  it('reads the hosts from homelab.yaml and the host module: firewall, k3s role, backup units with schedules; flake inputs', async () => {
    const map = await mapOf(REPO_ROOT)
    expect(map.hosts).toHaveLength(1)
    const [host] = map.hosts
    expect(host).toMatchObject({firewall: {file: 'nixos/homelab-module.nix', interfaces: {}, tcp: [22, 6443], udp: []}, k3sRole: 'server', name: 'azalab-0', role: 'server', ssh: 'aiden@azalab-0'})
    expect(host.units).toContainEqual({name: 'kopia-backup.timer', schedule: '*-*-* 02:30:00'})
    expect(host.units).toContainEqual({name: 'kopia-r2-sync.timer', schedule: 'every 6h'})
    expect(host.units).toContainEqual({name: 'homelab-backup-drill.timer', schedule: 'Sun *-*-* 04:00:00'})
    expect(host.units).toContainEqual({name: 'kopia-backup-source@.service', schedule: null})
    expect(map.flakeInputs).toContainEqual({flake: 'nixos/flake.nix', follows: {disko: 'disko', nixpkgs: 'nixpkgs', 'sops-nix': 'sops-nix'}, name: 'homelab', rev: null, url: 'git+ssh://git@github.com/aiden/homelab?ref=main'})
    expect(map.flakeInputs.filter((f) => f.flake === 'flake.nix').map((f) => f.name)).toEqual(['disko', 'nixpkgs', 'sops-nix'])
  })

  it('a broken copy shows what is broken: a route to a Service nobody has, a renamed volume, a pinned lock, a folder that does not build', async () => {
    const dir = copy()
    edit(dir, `${CLUSTER}/manifests/apps/cloudflared/configmap.yaml`, 'http://tuwunel.tuwunel.svc.cluster.local:8008', 'http://gone.tuwunel.svc.cluster.local:8008')
    edit(dir, `${CLUSTER}/manifests/cluster/persistent-volumes.yaml`, /name: kopia-data\n/, 'name: kopia-other\n')
    writeFileSync(path.join(dir, 'flake.lock'), JSON.stringify({nodes: {nixpkgs: {locked: {rev: 'a'.repeat(40)}}, root: {inputs: {nixpkgs: 'nixpkgs'}}}, root: 'root', version: 7}))
    const map = await mapOf(dir)
    expect(map.tunnel!.routes.find((r) => r.hostname === 'matrix.aza.network')).toMatchObject({app: null, target: {name: 'gone', namespace: 'tuwunel', port: 8008}})
    expect(map.apps.find((a) => a.name === 'tuwunel')!.hostnames).toEqual([])
    expect(map.flakeInputs.find((f) => f.flake === 'flake.nix' && f.name === 'nixpkgs')!.rev).toBe('a'.repeat(40))
    expect(map.inputs.files).toContain('flake.lock')
    const kopia = map.apps.find((a) => a.name === 'kopia')!
    // The PV's claimRef still names the claim, so it is found by that (its new name shows).
    expect(kopia.volumes[0].volume).toBe('kopia-other')
    // A claim that builds nowhere is an error naming the folder.
    edit(dir, `${CLUSTER}/manifests/apps/kopia/kustomization.yaml`, /resources:\n/, 'resources:\n  - missing.yaml\n')
    await expect(mapOf(dir)).rejects.toThrow(`${CLUSTER}/manifests/apps/kopia: kubectl kustomize failed`)
  })

  it('answers "what listens on port N" and "which app owns hostname H" in one line each', async () => {
    const map = await mapOf(REPO_ROOT)
    expect(whatListensOn(map, 2283)).toEqual(['Service immich/immich-server port 2283 → 2283/TCP → immich-server (app immich)'])
    expect(whatListensOn(map, 8080)).toEqual([
      'Service libsql/libsql port 8080 → 8080/TCP → libsql (app libsql)',
      'Service vaultwarden/vaultwarden port 80 → 8080/TCP → vaultwarden (app vaultwarden)',
    ])
    expect(whatListensOn(map, 6443)).toEqual(['host azalab-0 firewall TCP 6443 (nixos/homelab-module.nix)'])
    expect(whatListensOn(map, 9)).toEqual([])
    expect(whoOwnsHostname(map, 'Photos.aza.network')).toEqual(['photos.aza.network → Service immich/immich-server:2283 (app immich)'])
    expect(whoOwnsHostname(map, 'nope.aza.network')).toEqual([])
  })
})

describe('homelab map --format markdown', () => {
  it('is pinned by a snapshot and is the committed docs/topology.md', async () => {
    const md = renderMarkdown(await mapOf(REPO_ROOT))
    await expect(md).toMatchFileSnapshot('./__snapshots__/azalab-0-topology.md')
    expect(md).toBe(readFileSync(path.join(REPO_ROOT, TOPOLOGY_DOC), 'utf8'))
    expect(md.split('\n')[0]).toBe('<!-- Generated by `homelab map --format markdown`. Do not edit: regenerate it. -->')
  })

  it('is byte-identical when regenerated from unchanged inputs, also after a commit; an input change changes it', async () => {
    const dir = copy()
    const git = (...args: string[]) => execa('git', args, {cwd: dir, env: {GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e'}})
    await git('init', '-q')
    await git('add', '-A')
    await git('commit', '-qm', 'one')
    const first = renderMarkdown(await mapOf(dir))
    await git('commit', '-q', '--allow-empty', '-m', 'two')
    expect(renderMarkdown(await mapOf(dir))).toBe(first)
    // Re-encrypting a SOPS value changes nothing the map shows, so nothing in it.
    edit(dir, `${CLUSTER}/manifests/apps/kopia/secret.sops.yaml`, /lastmodified: .*/, 'lastmodified: "2030-01-01T00:00:00Z"')
    expect(renderMarkdown(await mapOf(dir))).toBe(first)
    edit(dir, `${CLUSTER}/manifests/apps/libsql/deployment.yaml`, /image: \S+/, 'image: ghcr.io/tursodatabase/libsql-server:v9.9.9')
    const changed = renderMarkdown(await mapOf(dir))
    expect(changed).not.toBe(first)
    expect(changed).toContain('`ghcr.io/tursodatabase/libsql-server:v9.9.9`')
  })
})

describe('homelab validate: the map check', () => {
  it('passes on a copy with the committed map, fails naming the line when an input changed, leaves a hand-written one alone', async () => {
    const dir = copy()
    const check = async () => (await validateRepo({path: process.env.PATH, root: dir})).checks.find((c) => c.id === 'map')!
    expect(await check()).toMatchObject({findings: [], status: 'passed'})
    edit(dir, `${CLUSTER}/manifests/apps/libsql/deployment.yaml`, /image: \S+/, 'image: ghcr.io/tursodatabase/libsql-server:v9.9.9')
    const stale = await check()
    expect(stale.status).toBe('failed')
    expect(stale.findings).toHaveLength(1)
    expect(stale.findings[0]).toMatchObject({file: TOPOLOGY_DOC, severity: 'error'})
    expect(stale.findings[0].message).toMatch(/^stale: the repository's map differs from line \d+ on \(it now says ".*"\); regenerate it with `homelab map --format markdown --output docs\/topology.md` and commit it$/)
    // The first differing line is the header's digest.
    const line = readFileSync(path.join(dir, TOPOLOGY_DOC), 'utf8').split('\n')[stale.findings[0].line - 1]
    expect(line).toContain('inputs digest')
    writeFileSync(path.join(dir, TOPOLOGY_DOC), '# My own notes\n')
    expect(await check()).toMatchObject({findings: [{severity: 'info'}], status: 'passed'})
    rmSync(path.join(dir, TOPOLOGY_DOC))
    expect(await check()).toMatchObject({findings: [], status: 'passed'})
  })
})

describe('homelab map --format svg', () => {
  it('draws a non-empty <svg> with one cluster per app and the chain hostname → tunnel → Service → workload → claim → volume → folder → backup', async () => {
    const map = await mapOf(REPO_ROOT)
    const dot = toDot(map)
    expect(dot).toContain('"hostname:photos.aza.network" -> "tunnel";')
    expect(dot).toContain('"tunnel" -> "immich:svc:immich-server" [label="photos.aza.network"];')
    expect(dot).toContain('"immich:svc:immich-server" -> "immich:wl:immich-server";')
    expect(dot).toContain('"immich:wl:immich-server" -> "immich:pvc:immich-data";')
    expect(dot).toContain('"immich:pvc:immich-data" -> "immich:pv:immich-data";')
    expect(dot).toContain('"immich:pv:immich-data" -> "immich:dir:/srv/immich";')
    expect(dot).toContain('"immich:dir:/srv/immich" -> "kopia" [label="postgres"];')
    const svg = await renderSvg(map)
    expect(svg).toMatch(/<svg [^>]*width="\d+pt" height="\d+pt"/)
    expect(svg.trim().endsWith('</svg>')).toBe(true)
    for (const app of map.apps) expect(svg.match(new RegExp(`<title>cluster_app_${app.name}</title>`, 'g')), app.name).toHaveLength(1)
    expect(svg.match(/<g id="clust\d+" class="cluster">/g)).toHaveLength(map.apps.length)
    // Looked at by eye once: a PNG in the test output folder when rsvg-convert is here (a local run; CI does not need it).
    const rsvg = await execa('rsvg-convert', ['--version'], {reject: false})
    if (rsvg.exitCode === 0 && process.env.CI !== 'true') {
      const out = path.join(REPO_ROOT, 'test-output')
      mkdirSync(out, {recursive: true})
      await execa('rsvg-convert', ['-o', path.join(out, 'topology.png')], {input: svg})
      expect(existsSync(path.join(out, 'topology.png'))).toBe(true)
    }
  })
})
