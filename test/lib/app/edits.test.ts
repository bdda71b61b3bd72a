import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {addIngressRule, configChecksum, readTunnelConfig, removeIngressRules, setChecksumAnnotation} from '../../../src/lib/app/edit-cloudflared.js'
import {appendDocument, documentChunks, isObject, removeDocuments} from '../../../src/lib/app/edit-documents.js'
import {addResource, kustomizationResources, removeResource} from '../../../src/lib/app/edit-kustomization.js'
import {addStorageApp, formatStorageEntry, removeStorageApp} from '../../../src/lib/app/edit-storage.js'

const KUSTOMIZATION = `# Apps (comment kept)
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - secrets.sops.yaml   # tunnel credentials
  - cloudflared/
  # databases
  - libsql/
`

describe('kustomization resources', () => {
  it('adds an entry after the last item in the same style and removes it byte for byte', () => {
    const added = addResource(KUSTOMIZATION, 'wiki/', 'k.yaml')
    expect(added).toBe(KUSTOMIZATION + '  - wiki/\n')
    expect(kustomizationResources(added, 'k.yaml')).toEqual(['secrets.sops.yaml', 'cloudflared/', 'libsql/', 'wiki/'])
    expect(removeResource(added, 'wiki', 'k.yaml')).toBe(KUSTOMIZATION)
  })

  it('keeps a file without a final newline the same after add and remove', () => {
    const text = KUSTOMIZATION.trimEnd()
    const added = addResource(text, 'wiki', 'k.yaml')
    expect(added).toBe(text + '\n  - wiki')
    expect(removeResource(added, 'wiki', 'k.yaml')).toBe(text)
  })

  it('writes a list when there is none and leaves text alone when the entry is absent', () => {
    const text = 'kind: Kustomization\nresources: []\n'
    expect(kustomizationResources(addResource(text, 'a/', 'k.yaml'), 'k.yaml')).toEqual(['a/'])
    expect(removeResource(KUSTOMIZATION, 'nope', 'k.yaml')).toBe(KUSTOMIZATION)
  })
})

const PV = (name: string) => `# ${name}: data
apiVersion: v1
kind: PersistentVolume
metadata:
  name: ${name}-data
spec:
  hostPath:
    path: /srv/${name}
`
const PVS = `# Header comment of the file
${PV('libsql')}---
${PV('immich')}`

describe('multi-document files', () => {
  it('splits at --- lines and keeps each comment with its document', () => {
    const chunks = documentChunks(PVS, 'pv.yaml')
    expect(chunks.map((c) => (c.value as {metadata: {name: string}}).metadata.name)).toEqual(['libsql-data', 'immich-data'])
  })

  it('appends a document and removes it byte for byte', () => {
    const added = appendDocument(PVS, PV('wiki'), 'pv.yaml')
    expect(added).toBe(`${PVS}---\n${PV('wiki')}`)
    const {removed, text} = removeDocuments(added, 'pv.yaml', (v) => isObject(v, 'PersistentVolume', 'wiki-data'))
    expect(removed).toBe(1)
    expect(text).toBe(PVS)
  })

  it('removes a middle document and the first one without breaking the rest', () => {
    const three = appendDocument(PVS, PV('wiki'), 'pv.yaml')
    const middle = removeDocuments(three, 'pv.yaml', (v) => isObject(v, 'PersistentVolume', 'immich-data')).text
    expect(documentChunks(middle, 'pv.yaml').map((c) => (c.value as {metadata: {name: string}}).metadata.name)).toEqual(['libsql-data', 'wiki-data'])
    const first = removeDocuments(three, 'pv.yaml', (v) => isObject(v, 'PersistentVolume', 'libsql-data'), () => 'libsql').text
    expect(first.startsWith('# Header comment of the file\n# immich: data\n')).toBe(true)
    expect(documentChunks(first, 'pv.yaml').map((c) => (c.value as {metadata: {name: string}}).metadata.name)).toEqual(['immich-data', 'wiki-data'])
    const unlabelled = removeDocuments(three, 'pv.yaml', (v) => isObject(v, 'PersistentVolume', 'libsql-data')).text
    expect(unlabelled.startsWith('# Header comment of the file\n# libsql: data\n# immich: data\n')).toBe(true)
  })

  it('appends to an empty file without a separator', () => {
    expect(appendDocument('', PV('a'), 'pv.yaml')).toBe(PV('a'))
    expect(appendDocument('# only a comment\n', PV('a'), 'pv.yaml')).toBe(`# only a comment\n${PV('a')}`)
  })
})

const STORAGE = `{
  "$comment": "Single source of truth.",
  "apps": [
    { "name": "libsql", "path": "/srv/libsql", "uid": 1000, "gid": 1000, "mode": "0750" },
    { "name": "kopia", "path": "/srv/kopia", "uid": 0, "gid": 0, "mode": "0750" }
  ],
  "extraBackupSources": ["/etc/nixos"]
}
`

describe('storage file', () => {
  const wiki = {gid: 1000, mode: '0750', name: 'wiki', path: '/srv/wiki', uid: 1000}

  it('writes one app per line in the file\'s format', () => {
    expect(formatStorageEntry(wiki)).toBe('{ "name": "wiki", "path": "/srv/wiki", "uid": 1000, "gid": 1000, "mode": "0750" }')
  })

  it('adds a line after the last app and removes it byte for byte', () => {
    const added = addStorageApp(STORAGE, wiki, 's.json')
    expect(added).toContain(`"mode": "0750" },\n    ${formatStorageEntry(wiki)}\n  ],`)
    expect(JSON.parse(added).apps.map((a: {name: string}) => a.name)).toEqual(['libsql', 'kopia', 'wiki'])
    expect(removeStorageApp(added, 'wiki', 's.json')).toBe(STORAGE)
  })

  it('removes the first and a middle app, and handles an empty list', () => {
    expect(JSON.parse(removeStorageApp(STORAGE, 'libsql', 's.json')).apps.map((a: {name: string}) => a.name)).toEqual(['kopia'])
    const empty = '{\n  "apps": [],\n  "extraBackupSources": []\n}\n'
    const one = addStorageApp(empty, wiki, 's.json')
    expect(one).toBe(`{\n  "apps": [\n    ${formatStorageEntry(wiki)}\n  ],\n  "extraBackupSources": []\n}\n`)
    expect(removeStorageApp(one, 'wiki', 's.json')).toBe(empty)
  })
})

const CONFIGMAP = `apiVersion: v1
kind: ConfigMap
metadata:
  name: cloudflared
  namespace: cloudflared
data:
  # cloudflared reads this file (--config)
  config.yaml: |
    tunnel: azalab
    credentials-file: /etc/cloudflared/creds/credentials.json
    no-autoupdate: true
    ingress:
      # the database
      - hostname: db.aza.network
        service: http://libsql.libsql.svc.cluster.local:8080
      - service: http_status:404
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cloudflared
spec:
  template:
    metadata:
      annotations:
        checksum/config: "0000"
    spec:
      containers: []
`

describe('cloudflared ingress', () => {
  const rule = ['- hostname: wiki.aza.network', '  service: http://wiki.wiki.svc.cluster.local:3000']

  it('inserts the rule before the catch-all and removes it byte for byte', () => {
    const {config, text} = addIngressRule(CONFIGMAP, 'cm.yaml', rule)
    expect(readTunnelConfig(text, 'cm.yaml').rules).toEqual([
      {hostname: 'db.aza.network', service: 'http://libsql.libsql.svc.cluster.local:8080'},
      {hostname: 'wiki.aza.network', service: 'http://wiki.wiki.svc.cluster.local:3000'},
      {service: 'http_status:404'},
    ])
    expect(config).toContain('  - hostname: wiki.aza.network\n    service: http://wiki.wiki.svc.cluster.local:3000\n  - service: http_status:404')
    expect(text).toContain('# cloudflared reads this file')
    const back = removeIngressRules(text, 'cm.yaml', (r) => r.hostname === 'wiki.aza.network')
    expect(back.removed).toEqual(['wiki.aza.network'])
    expect(back.text).toBe(CONFIGMAP)
  })

  it('refuses a list whose last rule is not the catch-all', () => {
    const broken = CONFIGMAP.replace('      - service: http_status:404\n', '')
    expect(() => addIngressRule(broken, 'cm.yaml', rule)).toThrow('cm.yaml: the last ingress rule must be the catch-all')
  })

  it('sets the checksum annotation in place, keeping its quotes', () => {
    const sum = configChecksum('x')
    const out = setChecksumAnnotation(CONFIGMAP, 'cm.yaml', 'cloudflared', sum)!
    expect(out).toBe(CONFIGMAP.replace('checksum/config: "0000"', `checksum/config: "${sum}"`))
    expect(setChecksumAnnotation(CONFIGMAP, 'cm.yaml', 'other', sum)).toBeUndefined()
  })

  it('adds the annotation through the Document API when it is missing', () => {
    const without = CONFIGMAP.replace('      annotations:\n        checksum/config: "0000"\n', '')
    const out = setChecksumAnnotation(without, 'cm.yaml', 'cloudflared', 'abc')!
    const docs = out.split(/^---$/m).map((d) => parse(d))
    expect(docs[1].spec.template.metadata.annotations['checksum/config']).toBe('abc')
    expect(docs[0].data['config.yaml']).toBe(parse(CONFIGMAP.split(/^---$/m)[0]).data['config.yaml'])
  })
})
