import {rmSync} from 'node:fs'
import {promises as fs} from 'node:fs'
import path from 'node:path'
import {parseAllDocuments} from 'yaml'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {writeChangeSet} from '../../../src/lib/app/change-set.js'
import {listApps} from '../../../src/lib/app/list.js'
import {planNewApp} from '../../../src/lib/app/plan-new.js'
import {planRemoveApp} from '../../../src/lib/app/plan-remove.js'
import {loadHomelab, loadStorageFile, type Homelab} from '../../../src/lib/config/load.js'
import {validateRepo} from '../../../src/lib/validate/run.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'
import {kustomizeBuild, specOf, treeSnapshot} from './tree-snapshot.js'

let root: string
let homelab: Homelab
const APPS = 'flux/clusters/azalab-0/manifests/apps'

/** Error findings of `homelab validate` as "file: message" (lines left out: edits shift them). */
async function validateErrors(): Promise<string[]> {
  const report = await validateRepo({path: process.env.PATH, root})
  return report.checks.flatMap((c) => c.findings.filter((f) => f.severity === 'error').map((f) => `${f.file}: ${f.message.replace(/:\d+:/g, ':')}`))
}

function objects(yamlText: string): {kind: string; name: string}[] {
  return parseAllDocuments(yamlText as string)
    .map((d) => d.toJS() as {kind: string; metadata: {name: string}})
    .filter(Boolean)
    .map((o) => ({kind: o.kind, name: o.metadata.name}))
}

beforeEach(async () => {
  root = copyBundledHomelab('homelab-app-')
  homelab = await loadHomelab({cwd: root, repo: root})
})

afterEach(() => {
  rmSync(root, {force: true, recursive: true})
})

describe('app new then app remove on a copy of the bundled homelab', () => {
  it('a stateless web app (--storage 0): folder builds, validate finds nothing new, remove restores the tree byte for byte', async () => {
    const before = await treeSnapshot(root)
    expect(await validateErrors()).toEqual([])
    const plan = await planNewApp({homelab, spec: specOf({hostname: 'whoami.aza.network', image: 'traefik/whoami:v1.10', name: 'whoami', port: 80})})
    await writeChangeSet(plan.set)

    const built = objects(await kustomizeBuild(root, `${APPS}/whoami`))
    expect(built).toEqual([
      {kind: 'Namespace', name: 'whoami'},
      {kind: 'Service', name: 'whoami'},
      {kind: 'Deployment', name: 'whoami'},
    ])
    const deployment = parseAllDocuments(await kustomizeBuild(root, `${APPS}/whoami`))[2].toJS()
    const pod = deployment.spec.template.spec
    expect(pod.securityContext).toMatchObject({runAsGroup: 1000, runAsNonRoot: true, runAsUser: 1000})
    expect(pod.containers[0].readinessProbe).toEqual({initialDelaySeconds: 5, periodSeconds: 10, tcpSocket: {port: 'http'}})
    expect(pod.containers[0].resources.requests).toEqual({cpu: '50m', memory: '128Mi'})
    expect(pod.volumes).toBeUndefined()
    expect(deployment.spec.strategy).toBeUndefined()
    await kustomizeBuild(root, `${APPS}/cloudflared`)
    expect(await validateErrors()).toEqual([])
    await kustomizeBuild(root, APPS)

    // Storage list and volumes untouched; the route is there.
    expect((await loadStorageFile(homelab)).apps.map((a) => a.name)).not.toContain('whoami')
    const listed = (await listApps({homelab})).find((a) => a.name === 'whoami')
    expect(listed).toEqual({backedUp: false, hostnames: ['whoami.aza.network'], image: 'traefik/whoami:v1.10', kind: 'Deployment', name: 'whoami', namespace: 'whoami', port: 80, secret: false, volume: null})

    await writeChangeSet((await planRemoveApp({homelab, name: 'whoami'})).set)
    expect(await treeSnapshot(root)).toEqual(before)
  })

  it('a StatefulSet with a volume and no hostname: PersistentVolume, storage entry, backups; remove restores byte for byte', async () => {
    const before = await treeSnapshot(root)
    expect(await validateErrors()).toEqual([])
    const spec = specOf({env: [{name: 'REDIS_ARGS', value: '--appendonly yes'}], gid: 999, image: 'redis:7.4', kind: 'statefulset', mount: '/data', name: 'redis', port: 6379, storage: '2Gi', uid: 999})
    const plan = await planNewApp({homelab, spec})
    expect(plan.hostPath).toBe('/srv/redis')
    await writeChangeSet(plan.set)

    const built = parseAllDocuments(await kustomizeBuild(root, `${APPS}/redis`)).map((d) => d.toJS())
    expect(built.map((o) => o.kind)).toEqual(['Namespace', 'Service', 'PersistentVolumeClaim', 'StatefulSet'])
    const sts = built[3]
    expect(sts.spec.serviceName).toBe('redis')
    expect(sts.spec.template.spec.containers[0].env).toEqual([{name: 'REDIS_ARGS', value: '--appendonly yes'}])
    expect(sts.spec.template.spec.volumes).toEqual([{name: 'data', persistentVolumeClaim: {claimName: 'redis-data'}}])
    const cluster = parseAllDocuments(await kustomizeBuild(root, 'flux/clusters/azalab-0/manifests/cluster')).map((d) => d.toJS())
    const pv = cluster.find((o) => o.kind === 'PersistentVolume' && o.metadata.name === 'redis-data')
    expect(pv.spec).toMatchObject({
      capacity: {storage: '2Gi'},
      claimRef: {name: 'redis-data', namespace: 'redis'},
      hostPath: {path: '/srv/redis', type: 'Directory'},
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: '',
    })
    expect((await loadStorageFile(homelab)).apps.at(-1)).toEqual({gid: 999, mode: '0750', name: 'redis', node: 'azalab-0', path: '/srv/redis', uid: 999})
    const storageText = await fs.readFile(path.join(root, 'nixos/storage.json'), 'utf8')
    expect(storageText).toContain('\n    { "name": "redis", "path": "/srv/redis", "uid": 999, "gid": 999, "mode": "0750", "node": "azalab-0" }\n  ],')
    expect(await validateErrors()).toEqual([])
    await kustomizeBuild(root, APPS)
    const listed = (await listApps({homelab})).find((a) => a.name === 'redis')
    expect(listed).toMatchObject({backedUp: true, hostnames: [], kind: 'StatefulSet', port: 6379, volume: {path: '/srv/redis', size: '2Gi'}})

    const removal = await planRemoveApp({homelab, name: 'redis'})
    expect(removal.keptData).toEqual(['/srv/redis'])
    expect(removal.volumes).toEqual(['redis-data'])
    await writeChangeSet(removal.set)
    expect(await treeSnapshot(root)).toEqual(before)
  })

  it('leaves every file as it was when a write fails half way', async () => {
    const before = await treeSnapshot(root)
    const plan = await planNewApp({homelab, spec: specOf({hostname: 'wiki.aza.network', image: 'ghcr.io/requarks/wiki:2.5', name: 'wiki', port: 3000, storage: '5Gi'})})
    let renames = 0
    const total = plan.set.files.length
    await expect(
      writeChangeSet(plan.set, {
        fs: {
          async rename(from, to) {
            if (++renames === total) throw Object.assign(new Error('ENOSPC: no space left on device, rename'), {code: 'ENOSPC'})
            await fs.rename(from, to)
          },
        },
      }),
    ).rejects.toThrow(/^could not write .*: ENOSPC: no space left on device, rename; no file was changed$/)
    expect(await treeSnapshot(root)).toEqual(before)
  })

  it('an app in a namespace another app declares gets no Namespace of its own, and remove leaves that namespace alone', async () => {
    const before = await treeSnapshot(root)
    const plan = await planNewApp({homelab, spec: specOf({image: 'ghcr.io/tursodatabase/libsql-admin:0.1', hostname: 'dbadmin.aza.network', name: 'libsql-admin', namespace: 'libsql', port: 8081, storage: '1Gi'})})
    await writeChangeSet(plan.set)
    const built = objects(await kustomizeBuild(root, `${APPS}/libsql-admin`))
    expect(built).toEqual([
      {kind: 'Service', name: 'libsql-admin'},
      {kind: 'PersistentVolumeClaim', name: 'libsql-admin-data'},
      {kind: 'Deployment', name: 'libsql-admin'},
    ])
    const cm = await fs.readFile(path.join(root, APPS, 'cloudflared/configmap.yaml'), 'utf8')
    expect(cm).toContain('service: http://libsql-admin.libsql.svc.cluster.local:8081')
    await writeChangeSet((await planRemoveApp({homelab, name: 'libsql-admin'})).set)
    expect(await treeSnapshot(root)).toEqual(before)
  })

  it('removes a bundled app (libsql) completely: folder, entry, PersistentVolume, storage entry, route; validate finds nothing new', async () => {
    expect(await validateErrors()).toEqual([])
    const plan = await planRemoveApp({homelab, name: 'libsql'})
    expect(plan.hostnames).toEqual(['db.aza.network'])
    expect(plan.volumes).toEqual(['libsql-data'])
    expect(plan.keptData).toEqual(['/srv/libsql'])
    await writeChangeSet(plan.set)
    await expect(fs.stat(path.join(root, APPS, 'libsql'))).rejects.toThrow('ENOENT')
    expect((await loadStorageFile(homelab)).apps.map((a) => a.name)).not.toContain('libsql')
    const cluster = objects(await kustomizeBuild(root, 'flux/clusters/azalab-0/manifests/cluster'))
    expect(cluster.map((o) => o.name)).not.toContain('libsql-data')
    expect(await fs.readFile(path.join(root, APPS, 'cloudflared/configmap.yaml'), 'utf8')).not.toContain('db.aza.network')
    expect((await listApps({homelab})).map((a) => a.name)).not.toContain('libsql')
    expect(await validateErrors()).toEqual([])
  })
})
