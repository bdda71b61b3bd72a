import {chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {type CheckId, validateRepo, type ValidateReport} from '../../../src/lib/validate/index.js'
import {DEMO_RECIPIENT, sopsBlock, writeMinimalHomelab} from './minimal-homelab.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, {force: true, recursive: true})
})

async function homelab(): Promise<string> {
  const dir = await writeMinimalHomelab()
  dirs.push(dir)
  return dir
}

/** Replaces `from` with `to` in a file of the homelab; fails the test when `from` is not there. */
function edit(dir: string, rel: string, from: string, to: string): void {
  const file = path.join(dir, rel)
  const text = readFileSync(file, 'utf8')
  expect(text, `${rel} holds ${JSON.stringify(from)}`).toContain(from)
  writeFileSync(file, text.replace(from, to))
}

function validate(dir: string, searchPath = process.env.PATH): Promise<ValidateReport> {
  return validateRepo({path: searchPath, root: dir})
}

/** Every finding of one check as `file:line: message` (warnings prefixed `warning: `, info findings `note: `). */
function found(report: ValidateReport, check: CheckId): string[] {
  const result = report.checks.find((c) => c.id === check)!
  const prefix = {error: '', info: 'note: ', warning: 'warning: '}
  return result.findings.map((f) => `${f.file}:${f.line}: ${prefix[f.severity]}${f.message}`)
}

/** The ids of the checks that failed. */
function failed(report: ValidateReport): string[] {
  return report.checks.filter((c) => c.status === 'failed').map((c) => c.id)
}

const APPS = 'flux/clusters/lab-0/manifests/apps'
const CLUSTER = 'flux/clusters/lab-0/manifests/cluster'

describe('validateRepo on the minimal homelab', () => {
  it('passes every check, kubectl and nix included', async () => {
    const report = await validate(await homelab())
    expect(report.checks.map((c) => [c.id, c.status, c.findings])).toEqual(
      ['yaml', 'kustomize', 'storage', 'backup', 'sops', 'nix', 'config', 'schema', 'map'].map((id) => [id, 'passed', []]),
    )
    expect(report).toMatchObject({errors: 0, ok: true, warnings: 0})
  })
})

describe('check 1: yaml', () => {
  it('reports a YAML syntax error with its line', async () => {
    const dir = await homelab()
    edit(dir, `${CLUSTER}/namespaces.yaml`, 'name: cloudflared', 'name: [cloudflared')
    const report = await validate(dir)
    expect(found(report, 'yaml')).toEqual([
      `${CLUSTER}/namespaces.yaml:5: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`,
    ])
    expect(report.ok).toBe(false)
  })

  it('reports an object without apiVersion, and one without metadata.name', async () => {
    const dir = await homelab()
    edit(dir, `${APPS}/demo/deployment.yaml`, 'apiVersion: apps/v1\n', '')
    edit(dir, `${APPS}/demo/namespace.yaml`, '  name: demo\n', '  labels: {team: lab}\n')
    const report = await validate(dir)
    expect(found(report, 'yaml')).toEqual([
      `${APPS}/demo/deployment.yaml:1: Deployment demo/demo: missing apiVersion`,
      `${APPS}/demo/namespace.yaml:4: Namespace (document 1): missing metadata.name`,
    ])
  })
})

describe('check 2: kustomize', () => {
  it('reports a missing kustomization resource, and the Flux Kustomization that no longer builds', async () => {
    const dir = await homelab()
    edit(dir, `${APPS}/demo/kustomization.yaml`, '- pvc.yaml', '- pvcs.yaml')
    const findings = found(await validate(dir), 'kustomize')
    expect(findings[0]).toBe(`${APPS}/demo/kustomization.yaml:6: resources entry pvcs.yaml: no such file or folder`)
    expect(findings[1]).toBe('flux/clusters/lab-0/apps.yaml:8: Kustomization flux-system/apps: kubectl kustomize ./flux/clusters/lab-0/manifests/apps failed: flux/clusters/lab-0/manifests/apps/demo/pvcs.yaml not found')
    expect(findings).toHaveLength(2)
  })

  it('reports a spec.path that does not exist', async () => {
    const dir = await homelab()
    edit(dir, 'flux/clusters/lab-0/infrastructure.yaml', 'manifests/cluster', 'manifests/infra')
    expect(found(await validate(dir), 'kustomize')).toEqual([
      'flux/clusters/lab-0/infrastructure.yaml:8: Kustomization flux-system/infrastructure: spec.path ./flux/clusters/lab-0/manifests/infra does not exist',
    ])
  })

  it('reports a dependsOn and a sourceRef that resolve to nothing', async () => {
    const dir = await homelab()
    edit(dir, 'flux/clusters/lab-0/apps.yaml', '- name: infrastructure', '- name: infra')
    edit(dir, 'flux/clusters/lab-0/infrastructure.yaml', 'name: flux-system\n', 'name: flux\n')
    const report = await validate(dir)
    expect(found(report, 'kustomize')).toEqual([
      'flux/clusters/lab-0/apps.yaml:11: Kustomization flux-system/apps: dependsOn flux-system/infra matches no Kustomization in the tree',
      'flux/clusters/lab-0/infrastructure.yaml:12: Kustomization flux-system/infrastructure: sourceRef GitRepository flux-system/flux matches no object in the tree',
    ])
  })

  it('says the builds were skipped when kubectl is not on PATH, never passes silently', async () => {
    const report = await validate(await homelab(), '/nonexistent')
    const check = report.checks.find((c) => c.id === 'kustomize')!
    expect(check).toMatchObject({findings: [], skipped: 'kubectl not found: 3 Flux Kustomization path(s) not built', status: 'skipped'})
    expect(report.ok).toBe(true)
  })
})

describe('check 3: storage', () => {
  it('reports a PVC whose volumeName matches no PV', async () => {
    const dir = await homelab()
    edit(dir, `${APPS}/demo/pvc.yaml`, 'volumeName: demo-data', 'volumeName: demo-dat')
    expect(found(await validate(dir), 'storage')).toEqual([
      `${APPS}/demo/pvc.yaml:8: PersistentVolumeClaim demo/demo-data: volumeName demo-dat matches no PersistentVolume`,
    ])
  })

  it('reports a request larger than the PV, a missing access mode and a different storageClassName', async () => {
    const dir = await homelab()
    edit(dir, `${APPS}/demo/pvc.yaml`, 'storage: 10Gi', 'storage: 20Gi')
    edit(dir, `${APPS}/demo/pvc.yaml`, '- ReadWriteOnce', '- ReadWriteMany')
    edit(dir, `${APPS}/demo/pvc.yaml`, 'storageClassName: ""', 'storageClassName: local-path')
    expect(found(await validate(dir), 'storage')).toEqual([
      `${APPS}/demo/pvc.yaml:7: PersistentVolumeClaim demo/demo-data: storageClassName "local-path" differs from PersistentVolume demo-data's ""`,
      `${APPS}/demo/pvc.yaml:10: PersistentVolumeClaim demo/demo-data: PersistentVolume demo-data does not offer access mode ReadWriteMany (it offers ReadWriteOnce)`,
      `${APPS}/demo/pvc.yaml:13: PersistentVolumeClaim demo/demo-data: requests 20Gi but PersistentVolume demo-data holds 10Gi`,
    ])
  })

  it('reports a PVC that binds to no PV', async () => {
    const dir = await homelab()
    edit(dir, `${APPS}/demo/pvc.yaml`, '  volumeName: demo-data\n', '')
    edit(dir, `${CLUSTER}/persistent-volumes.yaml`, 'name: demo-data\n  hostPath', 'name: other\n  hostPath')
    expect(found(await validate(dir), 'storage')).toEqual([
      `${APPS}/demo/pvc.yaml:4: PersistentVolumeClaim demo/demo-data: binds to no PersistentVolume (set spec.volumeName and the PersistentVolume's claimRef)`,
    ])
  })

  it('reports a hostPath outside the storage root and two PVs sharing a path', async () => {
    const dir = await homelab()
    const pvFile = path.join(dir, CLUSTER, 'persistent-volumes.yaml')
    const pv = readFileSync(pvFile, 'utf8')
    writeFileSync(pvFile, `${pv}---\n${pv.replace('name: demo-data\nspec', 'name: spare\nspec').replace('  claimRef:\n    namespace: demo\n    name: demo-data\n', '')}`)
    edit(dir, `${CLUSTER}/persistent-volumes.yaml`, 'path: /srv/demo', 'path: /data/demo')
    edit(dir, `${CLUSTER}/persistent-volumes.yaml`, 'path: /srv/demo', 'path: /data/demo/')
    expect(found(await validate(dir), 'storage')).toEqual([
      `${CLUSTER}/persistent-volumes.yaml:16: PersistentVolume demo-data: hostPath /data/demo is not under the storage root /srv`,
      `${CLUSTER}/persistent-volumes.yaml:31: PersistentVolume spare: hostPath /data/demo/ is not under the storage root /srv`,
      `${CLUSTER}/persistent-volumes.yaml:31: PersistentVolume spare: hostPath /data/demo is also used by PersistentVolume demo-data`,
    ])
  })
})

describe('check 4: backup', () => {
  it('reports a hostPath under the storage root that is not a backup source', async () => {
    const dir = await homelab()
    edit(dir, `${CLUSTER}/persistent-volumes.yaml`, 'path: /srv/demo', 'path: /srv/demo2')
    edit(dir, `${APPS}/demo/deployment.yaml`, '      volumes:\n', '      volumes:\n        - name: cache\n          hostPath:\n            path: /srv/cache\n')
    const report = await validate(dir)
    expect(found(report, 'backup')).toEqual([
      `${CLUSTER}/persistent-volumes.yaml:16: PersistentVolume demo-data: hostPath /srv/demo2 is not a backup source (add it to nixos/storage.json)`,
      `${APPS}/demo/deployment.yaml:25: Deployment demo/demo: hostPath /srv/cache is not a backup source (add it to nixos/storage.json)`,
    ].sort())
    expect(failed(report)).toEqual(['backup'])
  })
})

describe('check 4: backup, the off-site prefix with several hosts', () => {
  const backupJson = (prefix: string) =>
    `${JSON.stringify({bucket: 'lab-kopia', prefix, repositoryPath: '/var/lib/kopia/repository', schedule: '*-*-* 02:30:00', stateDir: '/var/lib/homelab/backup', syncEveryHours: 6}, null, 2)}\n`

  it('prefix "" with two hosts: an error on backup.json\'s prefix line (the server\'s listing would see every other host\'s copy)', async () => {
    const dir = await homelab()
    writeFileSync(path.join(dir, 'nixos/backup.json'), backupJson(''))
    edit(dir, 'homelab.yaml', '    ssh: admin@lab-0\n', '    ssh: admin@lab-0\n  - name: lab-1\n    ssh: admin@lab-1\n    role: agent\n')
    const report = await validate(dir)
    expect(found(report, 'backup')).toEqual([
      'nixos/backup.json:3: prefix is "" with 2 hosts: the k3s server\'s Kopia repository would sit at the bucket root, where its listing sees the other hosts\' off-site copies (lab-1/); set backup.json prefix, e.g. "kopia/" (each other host then syncs to its sibling "kopia-<host>/")',
    ])
    expect(failed(report)).toContain('backup')

    // A prefix: each host in its own (the server kopia/, lab-1 kopia-lab-1/), nothing to report.
    writeFileSync(path.join(dir, 'nixos/backup.json'), backupJson('kopia/'))
    expect(found(await validate(dir), 'backup')).toEqual([])
  })

  it('prefix "" with one host: fine (nothing else is in the bucket)', async () => {
    const dir = await homelab()
    writeFileSync(path.join(dir, 'nixos/backup.json'), backupJson(''))
    expect(found(await validate(dir), 'backup')).toEqual([])
  })
})

describe('check 5: sops', () => {
  it('reports a plaintext file that a creation rule matches, and its plaintext Secret data', async () => {
    const dir = await homelab()
    writeFileSync(
      path.join(dir, APPS, 'demo/secret.sops.yaml'),
      'apiVersion: v1\nkind: Secret\nmetadata:\n  name: demo-secrets\n  namespace: demo\nstringData:\n  password: hunter2\n',
    )
    expect(found(await validate(dir), 'sops')).toEqual([
      `${APPS}/demo/secret.sops.yaml:1: not SOPS-encrypted, but creation rule 2 (.sops.yaml:4) matches ${APPS}/demo/secret.sops.yaml: encrypt it (homelab secrets set writes SOPS files; or sops -e -i)`,
      `${APPS}/demo/secret.sops.yaml:7: Secret demo/demo-secrets: plaintext stringData (password): encrypt the file with SOPS`,
    ])
  })

  it('reports a plaintext Secret in flux/ that no creation rule matches', async () => {
    const dir = await homelab()
    writeFileSync(path.join(dir, APPS, 'demo/token.yaml'), 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  namespace: demo\ndata:\n  token: aHVudGVyMg==\n')
    expect(found(await validate(dir), 'sops')).toEqual([`${APPS}/demo/token.yaml:7: Secret demo/token: plaintext data (token): encrypt the file with SOPS`])
  })

  it('reports a file encrypted to other recipients than its creation rule lists', async () => {
    const dir = await homelab()
    const other = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'
    const file = path.join(dir, 'nixos/secrets/host-secrets.sops.yaml')
    const head = readFileSync(file, 'utf8').split('sops:\n')[0]
    writeFileSync(file, head + (await sopsBlock([DEMO_RECIPIENT, other])).replace(DEMO_RECIPIENT, other).replace(/recipient: age1ql3z\S+\n(?=[\s\S]*recipient: age1ql3z)/, `recipient: ${other}\n`))
    const text = readFileSync(file, 'utf8')
    expect(text).not.toContain(DEMO_RECIPIENT)
    expect(found(await validate(dir), 'sops')).toEqual([
      `nixos/secrets/host-secrets.sops.yaml:7: recipients differ from creation rule 1 (.sops.yaml:2): not encrypted to ${DEMO_RECIPIENT}; encrypted to ${other} which the rule does not list (run homelab secrets updatekeys)`,
    ])
  })
})

describe('check 6: nix', () => {
  it('reports a .nix syntax error with its line, in a file and in a template', async () => {
    const dir = await homelab()
    edit(dir, 'nixos/module.nix', 'lib.types.str; };', 'lib.types.str; ;')
    edit(dir, 'templates/host-bootstrap/flake.nix', 'modules = [', 'modules = ')
    expect(found(await validate(dir), 'nix')).toEqual([
      "nixos/module.nix:3: syntax error, unexpected ';'",
      `templates/host-bootstrap/flake.nix:4: syntax error, unexpected ']', expecting ';' (placeholders replaced by "placeholder")`,
    ])
  })

  it('says it was skipped when nix-instantiate is not on PATH', async () => {
    const report = await validate(await homelab(), '/nonexistent')
    expect(report.checks.find((c) => c.id === 'nix')).toMatchObject({findings: [], skipped: 'nix-instantiate not found: 3 .nix file(s) not parsed', status: 'skipped'})
  })

  /**
   * A folder holding a fake `nix-instantiate` (a sh script with `body`; `$2` is the file it is
   * asked to parse, `-` for stdin), and the search PATH that finds it before any real one.
   */
  function fakeNix(body: string): string {
    const bin = mkdtempSync(path.join(tmpdir(), 'homelab-fake-nix-'))
    dirs.push(bin)
    writeFileSync(path.join(bin, 'nix-instantiate'), `#!/bin/sh\ncat > /dev/null\n${body}\n`)
    chmodSync(path.join(bin, 'nix-instantiate'), 0o755)
    return `${bin}${path.delimiter}${process.env.PATH}`
  }

  const NIXBLD = "echo \"warning: the group 'nixbld' specified in 'build-users-group' does not exist\" >&2"

  it('ignores warnings about nix itself (no nixbld group) when the files parse', async () => {
    const report = await validate(await homelab(), fakeNix(`${NIXBLD}\n${NIXBLD}\nexit 0`))
    expect(report.checks.find((c) => c.id === 'nix')).toMatchObject({findings: [], status: 'passed'})
  })

  it('reports a warning that points into a file as a warning of that file, never as an error', async () => {
    const report = await validate(
      await homelab(),
      fakeNix(`${NIXBLD}\ncase $2 in */module.nix) printf 'warning: URL literals are deprecated\\n\\n       at %s:2:9:\\n' "$2" >&2 ;; esac\nexit 0`),
    )
    expect(found(report, 'nix')).toEqual(['nixos/module.nix:2: warning: URL literals are deprecated'])
    expect(report.checks.find((c) => c.id === 'nix')?.status).toBe('passed')
  })

  it("reports nix's error, not the warnings before it, at the file and line of its position", async () => {
    const report = await validate(
      await homelab(),
      fakeNix(
        `${NIXBLD}\ncase $2 in */module.nix) ${NIXBLD}; printf "error: syntax error, unexpected ';'\\n\\n       at %s:3:22:\\n\\n            3| x\\n" "$2" >&2; exit 1 ;; esac\nexit 0`,
      ),
    )
    expect(found(report, 'nix')).toEqual(["nixos/module.nix:3: syntax error, unexpected ';'"])
    expect(report.checks.find((c) => c.id === 'nix')?.status).toBe('failed')
  })

  it('says the check was skipped, with the reason, when nix cannot run at all (no finding in the files)', async () => {
    const report = await validate(
      await homelab(),
      fakeNix(`${NIXBLD}\necho "error: creating directory '/nix/var/nix/profiles': Permission denied" >&2\nexit 1`),
    )
    expect(report.checks.find((c) => c.id === 'nix')).toMatchObject({
      findings: [],
      skipped: "nix-instantiate cannot run (creating directory '/nix/var/nix/profiles': Permission denied): 3 .nix file(s) not parsed",
      status: 'skipped',
    })
  })

  it('says which file nix did not finish parsing (killed), without a finding in it', async () => {
    const report = await validate(await homelab(), fakeNix(`case $2 in */module.nix) kill -9 $$ ;; esac\nexit 0`))
    expect(report.checks.find((c) => c.id === 'nix')).toMatchObject({
      findings: [],
      skipped: 'nix-instantiate did not finish: 1 .nix file(s) not parsed (nixos/module.nix: killed by SIGKILL)',
      status: 'skipped',
    })
  })
})

describe('check 7: config', () => {
  it('reports a git access file that is missing, invalid, or does not fit the bootstrap flake', async () => {
    const dir = await homelab()
    edit(dir, 'nixos/git-access.json', '"forgeHostKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]', '"forgeHostKeys": []')
    expect(found(await validate(dir), 'config')).toEqual(["nixos/git-access.json:4: forgeHostKeys: method deploy-key needs the forge's SSH host keys in forgeHostKeys"])

    writeFileSync(path.join(dir, 'nixos/git-access.json'), '{"method": "token", "forge": "github.com"}\n')
    writeFileSync(path.join(dir, 'nixos/flake.nix'), '{\n  inputs.homelab = {\n    url = "git+ssh://git@github.com/a/h?ref=main";\n  };\n  outputs = _: { };\n}\n')
    expect(found(await validate(dir), 'config')).toEqual(['nixos/flake.nix:3: input homelab is git+ssh://git@github.com/a/h?ref=main, which needs method deploy-key, but nixos/git-access.json says token: make them agree'])

    rmSync(path.join(dir, 'nixos/git-access.json'))
    expect(found(await validate(dir), 'config')).toEqual(['nixos/git-access.json:1: missing (homelab.yaml git.hostAccess names it)'])
  })

  it('reports a schema error in homelab.yaml with line and key', async () => {
    const dir = await homelab()
    edit(dir, 'homelab.yaml', 'ssh: admin@lab-0', 'ssh: "admin at lab-0"')
    expect(found(await validate(dir), 'config')).toEqual(['homelab.yaml:5: hosts.0.ssh: must be [user@]host[:port] with a port from 1 to 65535 and no spaces'])
  })

  it('reports a cluster path that does not exist and a missing host bootstrap template', async () => {
    const dir = await homelab()
    edit(dir, 'homelab.yaml', 'path: flux/clusters/lab-0', 'path: flux/clusters/lab-1')
    rmSync(path.join(dir, 'templates/host-bootstrap'), {recursive: true})
    expect(found(await validate(dir), 'config')).toEqual([
      'homelab.yaml:11: cluster.path flux/clusters/lab-1 does not exist',
      "templates/host-bootstrap/flake.nix:1: missing: the host bootstrap template (a new host's /etc/nixos flake) must be present",
    ])
  })

  it('reports a storage path outside the storage root, and a Flux branch other than git.branch', async () => {
    const dir = await homelab()
    edit(dir, 'nixos/storage.json', '"path": "/srv/demo"', '"path": "/data/demo"')
    edit(dir, 'flux/clusters/lab-0/flux-system-sync.yaml', 'branch: main', 'branch: dev')
    expect(found(await validate(dir), 'config')).toEqual([
      'flux/clusters/lab-0/flux-system-sync.yaml:10: GitRepository flux-system/flux-system: spec.ref.branch dev differs from homelab.yaml git.branch main',
      'nixos/storage.json:3: app demo: path /data/demo is not under the storage root /srv',
    ])
  })
})

describe('check 8: schema', () => {
  // kubectl and nix are not needed: the schema check runs offline on the parsed objects.
  const offline = (dir: string) => validate(dir, '/nonexistent')

  it('reports a misspelt field (contianerPort) as an unknown field at its line, with its path', async () => {
    const dir = await homelab()
    edit(dir, `${APPS}/demo/deployment.yaml`, '          image: docker.io/library/nginx:1.27\n', '          image: docker.io/library/nginx:1.27\n          ports:\n            - name: http\n              contianerPort: 80\n')
    const report = await offline(dir)
    expect(found(report, 'schema')).toEqual([
      `${APPS}/demo/deployment.yaml:20: Deployment demo/demo: spec.template.spec.containers[0].ports[0]: missing required field "containerPort"`,
      `${APPS}/demo/deployment.yaml:21: Deployment demo/demo: unknown field "spec.template.spec.containers[0].ports[0].contianerPort" (not in the apps/v1 Deployment schema)`,
    ])
    expect(report.checks.find((c) => c.id === 'schema')!.status).toBe('failed')
    expect(report.ok).toBe(false)
  })

  it('reports a field of another Flux API version: v1beta2-only in a v1 Kustomization, v1beta2+ in a v1beta1 one', async () => {
    const dir = await homelab()
    edit(dir, 'flux/clusters/lab-0/apps.yaml', '  prune: true\n', '  prune: true\n  validation: client\n')
    edit(dir, 'flux/clusters/lab-0/infrastructure.yaml', 'kustomize.toolkit.fluxcd.io/v1', 'kustomize.toolkit.fluxcd.io/v1beta1')
    edit(dir, 'flux/clusters/lab-0/infrastructure.yaml', '  prune: true\n', '  prune: true\n  wait: true\n')
    expect(found(await offline(dir), 'schema')).toEqual([
      'flux/clusters/lab-0/apps.yaml:10: Kustomization flux-system/apps: unknown field "spec.validation" in kustomize.toolkit.fluxcd.io/v1: it is a field of kustomize.toolkit.fluxcd.io/v1beta2 Kustomization',
      'flux/clusters/lab-0/infrastructure.yaml:10: Kustomization flux-system/infrastructure: unknown field "spec.wait" in kustomize.toolkit.fluxcd.io/v1beta1: it is a field of kustomize.toolkit.fluxcd.io/v1 Kustomization',
    ])
  })

  it('a Flux field no bundled version declares (newer Flux, or a typo) is a warning, so a newer Flux field never blocks a deploy', async () => {
    const dir = await homelab()
    edit(dir, 'flux/clusters/lab-0/apps.yaml', '  prune: true\n', '  prune: true\n  deletionPolicy: Delete\n')
    const report = await offline(dir)
    expect(found(report, 'schema')).toEqual([
      'flux/clusters/lab-0/apps.yaml:10: warning: Kustomization flux-system/apps: unknown field "spec.deletionPolicy" (not in the kustomize.toolkit.fluxcd.io/v1 Kustomization schema of Flux 2.3: a typo, or a field of a newer Flux)',
    ])
    expect(report.checks.find((c) => c.id === 'schema')!.status).not.toBe('failed')
  })

  it('reports a value of the wrong type and one outside its enum', async () => {
    const dir = await homelab()
    edit(dir, `${APPS}/demo/deployment.yaml`, 'replicas: 1', 'replicas: "two"')
    edit(dir, `${CLUSTER}/persistent-volumes.yaml`, 'persistentVolumeReclaimPolicy: Retain', 'persistentVolumeReclaimPolicy: Keep')
    expect(found(await offline(dir), 'schema')).toEqual([
      `${APPS}/demo/deployment.yaml:7: Deployment demo/demo: spec.replicas: must be integer (got string "two")`,
      `${CLUSTER}/persistent-volumes.yaml:10: PersistentVolume demo-data: spec.persistentVolumeReclaimPolicy: must be one of "Delete", "Recycle", "Retain" (got string "Keep")`,
    ])
  })

  it('lists an object of a CRD or unknown apiVersion as not checked (a note), and still passes', async () => {
    const dir = await homelab()
    writeFileSync(
      path.join(dir, `${APPS}/demo/tunnel.yaml`),
      'apiVersion: networking.cfargotunnel.com/v1alpha1\nkind: TunnelBinding\nmetadata:\n  name: demo\nsubjects:\n  - name: demo\n---\napiVersion: app/v1\nkind: Deployment\nmetadata:\n  name: typo\n',
    )
    edit(dir, `${APPS}/demo/kustomization.yaml`, '  - pvc.yaml\n', '  - pvc.yaml\n  - tunnel.yaml\n')
    const report = await offline(dir)
    expect(found(report, 'schema')).toEqual([
      `${APPS}/demo/tunnel.yaml:1: note: TunnelBinding demo: not checked: no schema for apiVersion networking.cfargotunnel.com/v1alpha1 kind TunnelBinding (a CRD or an API the bundled models do not cover)`,
      `${APPS}/demo/tunnel.yaml:8: note: Deployment typo: not checked: no schema for apiVersion app/v1 kind Deployment (a CRD or an API the bundled models do not cover)`,
    ])
    expect(report.checks.find((c) => c.id === 'schema')!.status).toBe('passed')
    expect(report).toMatchObject({errors: 0, ok: true, warnings: 0})
  })

  it('ignores a SOPS file\'s sops block and ENC values, but not a misspelt field beside them', async () => {
    const dir = await homelab()
    const rel = `${APPS}/demo/secret.sops.yaml`
    edit(dir, rel, 'stringData:', 'data:')
    expect(found(await offline(dir), 'schema')).toEqual([])
    edit(dir, rel, 'type: Opaque', 'typ: Opaque')
    expect(found(await offline(dir), 'schema')).toEqual([`${rel}:6: Secret demo/demo-secrets: unknown field "typ" (not in the v1 Secret schema)`])
  })
})
