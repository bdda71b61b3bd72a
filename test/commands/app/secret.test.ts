import {promises as fs, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {decryptSops} from 'sops-age'
import {parseAllDocuments} from 'yaml'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {decryptSopsFile, loadIdentities, readSopsMetadata} from '../../../src/lib/sops/index.js'
import {validateRepo} from '../../../src/lib/validate/run.js'
import {REPO_ROOT, runCli} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'
import {kustomizeBuild, treeSnapshot} from '../../lib/app/tree-snapshot.js'

const KEY_FILE = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const DEMO_RECIPIENT = 'age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6'
const APPS = 'flux/clusters/azalab-0/manifests/apps'
let root: string

beforeAll(() => {
  root = copyBundledHomelab('homelab-app-secret-')
})

afterAll(() => {
  rmSync(root, {force: true, recursive: true})
})

async function validateErrors(): Promise<string[]> {
  const report = await validateRepo({path: process.env.PATH, root})
  return report.checks.flatMap((c) => c.findings.filter((f) => f.severity === 'error').map((f) => `${f.file}: ${f.message.replace(/:\d+:/g, ':')}`))
}

describe('homelab app new with a volume, a secret and a hostname', {timeout: 180_000}, () => {
  it('encrypts the Secret with the creation rule (the engine and sops-age decrypt it), builds, validates, and app remove restores the tree', async () => {
    const before = await treeSnapshot(root)
    expect(await validateErrors()).toEqual([])
    const env = {SOPS_AGE_KEY_FILE: KEY_FILE}
    const secrets = 'ADMIN_TOKEN=s3cret-admin-token\nDB_PASSWORD="pa ss#word"\n'
    const result = await runCli(
      ['app', 'new', 'wiki', '--image', 'ghcr.io/requarks/wiki:2.5', '--port', '3000', '--storage', '5Gi', '--mount', '/wiki/data', '--hostname', 'docs.aza.network',
        '--secret', 'ADMIN_TOKEN', '--secret', 'DB_PASSWORD', '--secrets-from-stdin', '--repo', root],
      {env, input: secrets},
    )
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).not.toContain('s3cret')
    expect(result.stderr).not.toContain('s3cret')
    expect(result.stdout).toContain(`  created  ${APPS}/wiki/secret.sops.yaml`)
    expect(result.stdout).toContain('Next: commit, then homelab deploy.')

    // The Secret: encrypted to the rule's recipient, only data/stringData encrypted, no plaintext on disk.
    const secretFile = path.join(root, APPS, 'wiki/secret.sops.yaml')
    const text = await fs.readFile(secretFile, 'utf8')
    expect(text).not.toContain('s3cret')
    expect(readSopsMetadata(text, secretFile)?.recipients).toEqual([DEMO_RECIPIENT])
    const identities = await loadIdentities({env, homeDir: os.tmpdir()})
    const decrypted = await decryptSopsFile({file: secretFile, identities})
    expect(decrypted.values[0]).toMatchObject({
      kind: 'Secret',
      metadata: {name: 'wiki-secrets', namespace: 'wiki'},
      stringData: {ADMIN_TOKEN: 's3cret-admin-token', DB_PASSWORD: 'pa ss#word'},
    })
    const secretKey = (await fs.readFile(KEY_FILE, 'utf8')).split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'))!
    const independent = await decryptSops(text, {fileType: 'yaml', secretKey})
    expect(independent.stringData).toEqual({ADMIN_TOKEN: 's3cret-admin-token', DB_PASSWORD: 'pa ss#word'})

    // The folder builds; the workload reads the Secret and mounts the volume.
    const built = parseAllDocuments(await kustomizeBuild(root, `${APPS}/wiki`)).map((d) => d.toJS())
    expect(built.map((o) => o.kind).sort()).toEqual(['Deployment', 'Namespace', 'PersistentVolumeClaim', 'Secret', 'Service'])
    const container = built.find((o) => o.kind === 'Deployment').spec.template.spec.containers[0]
    expect(container.envFrom).toEqual([{secretRef: {name: 'wiki-secrets'}}])
    expect(container.volumeMounts).toEqual([{mountPath: '/wiki/data', name: 'data'}])
    await kustomizeBuild(root, 'flux/clusters/azalab-0/manifests/cluster')
    await kustomizeBuild(root, `${APPS}/cloudflared`)
    expect(await validateErrors()).toEqual([])
    await kustomizeBuild(root, APPS)

    const list = JSON.parse((await runCli(['app', 'list', '--json', '--repo', root])).stdout).apps.find((a: {name: string}) => a.name === 'wiki')
    expect(list).toEqual({
      backedUp: true,
      hostnames: ['docs.aza.network'],
      image: 'ghcr.io/requarks/wiki:2.5',
      kind: 'Deployment',
      name: 'wiki',
      namespace: 'wiki',
      port: 3000,
      secret: true,
      volume: {path: '/srv/wiki', size: '5Gi'},
    })

    const removed = await runCli(['app', 'remove', 'wiki', '--yes', '--json', '--repo', root])
    expect(removed.exitCode).toBe(0)
    expect(JSON.parse(removed.stdout)).toMatchObject({
      deleteDataCommand: 'ssh aiden@azalab-0 sudo rm -rf /srv/wiki',
      hostnames: ['docs.aza.network'],
      keptData: ['/srv/wiki'],
      volumes: ['wiki-data'],
    })
    expect(await treeSnapshot(root)).toEqual(before)
  })

  it('refuses stdin that lacks a --secret key, without echoing any value', async () => {
    const before = await treeSnapshot(root)
    const result = await runCli(['app', 'new', 'wiki', '--image', 'nginx:1.27', '--secret', 'A', '--secret', 'B', '--secrets-from-stdin', '--repo', root], {input: 'A=value-of-a\n'})
    expect(result.exitCode).toBe(3)
    expect(result.stderr).toContain('--secrets-from-stdin: no B=… line on stdin')
    expect(result.stderr).not.toContain('value-of-a')
    expect(await treeSnapshot(root)).toEqual(before)
  })
})
