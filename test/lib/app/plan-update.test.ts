import {promises as fs, rmSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {planUpdateApp} from '../../../src/lib/app/plan-update.js'
import {loadHomelab} from '../../../src/lib/config/load.js'
import {UsageError} from '../../../src/lib/errors.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'

const APPS = 'flux/clusters/azalab-0/manifests/apps'
let root: string

beforeAll(() => {
  root = copyBundledHomelab('homelab-plan-update-')
})
afterAll(() => rmSync(root, {force: true, recursive: true}))

const plan = async (spec: Partial<Parameters<typeof planUpdateApp>[0]['spec']> & {name: string}) =>
  planUpdateApp({homelab: await loadHomelab({cwd: root, repo: root}), spec: {env: [], ...spec}})
const after = (p: Awaited<ReturnType<typeof plan>>, rel: string) => p.set.files.find((f) => f.path === rel)?.after ?? ''

describe('planUpdateApp', () => {
  it('writes env values YAML would read as another type or misparse in double quotes, others plain', async () => {
    const p = await plan({env: [{name: 'A', value: '8080'}, {name: 'B', value: 'yes: no'}, {name: 'C', value: 'plain-text'}, {name: 'D', value: 'true'}, {name: 'E', value: ''}], name: 'kopia'})
    const text = after(p, `${APPS}/kopia/deployment.yaml`)
    expect(text).toMatch(/- name: A\n\s+value: "8080"\n\s+- name: B\n\s+value: "yes: no"\n\s+- name: C\n\s+value: plain-text\n\s+- name: D\n\s+value: "true"\n\s+- name: E\n\s+value: ""\n/)
    expect(p.changes.map((c) => c.from)).toEqual([null, null, null, null, null])
  })

  it('keeps the quoting of a value it replaces', async () => {
    const p = await plan({env: [{name: 'ROCKET_PORT', value: '8081'}, {name: 'DOMAIN', value: 'https://vw.example.org'}], name: 'vaultwarden'})
    const text = after(p, `${APPS}/vaultwarden/deployment.yaml`)
    expect(text).toContain('- name: ROCKET_PORT\n              value: "8081"\n')
    expect(text).toContain('- name: DOMAIN\n              value: https://vw.example.org\n')
    expect(p.changes.map((c) => [c.from, c.to])).toEqual([
      ['8080', '8081'],
      ['https://vault.aza.network', 'https://vw.example.org'],
    ])
  })

  it('moves a numeric probe port and a Service\'s numeric targetPort with the container port; a named one stays', async () => {
    const rel = `${APPS}/libsql`
    const deployment = await fs.readFile(path.join(root, rel, 'deployment.yaml'), 'utf8')
    const service = await fs.readFile(path.join(root, rel, 'service.yaml'), 'utf8')
    await fs.writeFile(path.join(root, rel, 'service.yaml'), service.replace('targetPort: http', 'targetPort: 8080'))
    try {
      const p = await plan({name: 'libsql', port: 9090})
      expect(after(p, `${rel}/service.yaml`)).toContain('targetPort: 9090')
      expect(after(p, `${rel}/service.yaml`)).toContain('port: 8080\n') // the Service's own port (and the tunnel route) stay
      expect(after(p, `${rel}/deployment.yaml`)).toContain('containerPort: 9090')
      expect(p.changes.map((c) => c.target)).toEqual(['Deployment/libsql container libsql containerPort', 'Service targetPort'])
      expect(deployment).toContain('containerPort: 8080')
    } finally {
      await fs.writeFile(path.join(root, rel, 'service.yaml'), service)
    }
  })

  it('a value already set is a note, not a change', async () => {
    const p = await plan({image: 'docker.io/kopia/kopia:0.21.1', name: 'kopia', storage: '20Gi'})
    expect(p.set.files).toEqual([])
    expect(p.notes).toEqual(['image is already docker.io/kopia/kopia:0.21.1', 'volume kopia-data is already 20Gi'])
  })

  it('refuses --port on a container without ports (app update changes a port, it does not add a Service)', async () => {
    const file = path.join(root, APPS, 'kopia/deployment.yaml')
    const text = await fs.readFile(file, 'utf8')
    await fs.writeFile(file, text.replace('          ports:\n            - name: http\n              containerPort: 51515\n', ''))
    try {
      const err = await plan({name: 'kopia', port: 80}).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(UsageError)
      expect((err as Error).message).toBe(
        `app kopia has no container port (ports: of Deployment/kopia container kopia in ${APPS}/kopia/deployment.yaml): app update changes an existing port; add the port and its Service by hand`,
      )
    } finally {
      await fs.writeFile(file, text)
    }
  })
})
