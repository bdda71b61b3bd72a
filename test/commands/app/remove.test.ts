import {promises as fs, rmSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli} from '../../helpers/cli.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'
import {treeSnapshot} from '../../lib/app/tree-snapshot.js'

let root: string
const APPS = 'flux/clusters/azalab-0/manifests/apps'
const HAND = 'if you really mean it, delete the folder and its apps kustomization entry by hand and review the diff'

/** The error line oclif prints (the first stderr line naming the error). */
function errorLine(stderr: string): string {
  return stderr.split('\n').find((l) => l.includes('Error:'))?.replace(/^.*Error:\s*/, '') ?? stderr
}

/** Writes a hand-made folder `name` under the apps folder (files: name → text) and lists it in the apps kustomization. */
async function handMadeApp(name: string, files: Record<string, string>): Promise<void> {
  const dir = path.join(root, APPS, name)
  await fs.mkdir(dir)
  for (const [file, text] of Object.entries(files)) await fs.writeFile(path.join(dir, file), text)
  await fs.writeFile(
    path.join(dir, 'kustomization.yaml'),
    `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n${Object.keys(files).map((f) => `  - ${f}\n`).join('')}`,
  )
  await fs.appendFile(path.join(root, APPS, 'kustomization.yaml'), `  - ${name}\n`)
}

const NAMESPACE = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`
const CONFIGMAP = (namespace: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ${namespace}\n`

beforeAll(async () => {
  root = copyBundledHomelab('homelab-app-remove-')
  await handMadeApp('flux-system', {'namespace.yaml': NAMESPACE('flux-system')})
  await handMadeApp('metrics', {'configmap.yaml': CONFIGMAP('kube-system')})
  await handMadeApp('edge', {'namespace.yaml': NAMESPACE('cloudflared')})
  await handMadeApp('tools', {'namespace.yaml': NAMESPACE('tools'), 'configmap.yaml': CONFIGMAP('default')})
})

afterAll(() => {
  rmSync(root, {force: true, recursive: true})
})

describe('homelab app remove refuses what app new could not have written: one line, no file changed', () => {
  const cases: [string, string, string][] = [
    ['the tunnel', 'cloudflared', 'cloudflared is the Cloudflare Tunnel every hostname goes through; homelab app remove will not take it out'],
    ['a reserved name', 'flux-system', "flux-system is not an app homelab app new writes (the name is reserved: the Flux controllers' namespace); homelab app remove will not take it out"],
    ['objects in a system namespace', 'metrics', `${APPS}/metrics/configmap.yaml puts objects in namespace kube-system (a Kubernetes system namespace); homelab app remove will not take out metrics`],
    [
      'a folder declaring a platform namespace',
      'edge',
      `${APPS}/edge/namespace.yaml declares namespace cloudflared (a namespace declared outside the apps folder, in flux/clusters/azalab-0/manifests/cluster/namespaces.yaml); homelab app remove will not take out edge`,
    ],
    ['objects in the default namespace', 'tools', `${APPS}/tools/configmap.yaml puts objects in namespace default (the Kubernetes default namespace); homelab app remove will not take out tools`],
  ]

  it.each(cases)('%s', async (_label, name, message) => {
    const before = await treeSnapshot(root)
    for (const args of [['--yes'], ['--dry-run']]) {
      const result = await runCli(['app', 'remove', name, ...args, '--repo', root])
      expect(result.exitCode).toBe(3)
      expect(errorLine(result.stderr)).toBe(message)
      expect(result.stderr).toContain(HAND)
      expect(result.stdout).toBe('')
    }

    expect(await treeSnapshot(root)).toEqual(before)
  })

  it('keeps the exit code under --json', async () => {
    const result = await runCli(['app', 'remove', 'cloudflared', '--yes', '--json', '--repo', root])
    expect(result.exitCode).toBe(3)
    expect(JSON.parse(result.stdout).error.message).toMatch(/^cloudflared is the Cloudflare Tunnel/)
  })
})
