// The bundled azalab-0 homelab, checked as it is committed (read only, never modified): every
// .nix file parses (real nix-instantiate), the three Flux paths build (real kubectl kustomize),
// PVCs bind to their hostPath PVs, the Cloudflare Tunnel routes reach real Services, workloads
// are pinned, probed and non-root, and the SOPS files decrypt with the demo identity (checked
// with sops-age, independently of the project's own engine) to the keys the workloads read.
// A missing tool skips its test locally and FAILS under CI=true.
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {parseAllDocuments, parse as parseYaml} from 'yaml'
import {describe, expect, it} from 'vitest'

import {parseQuantity} from '../../src/lib/validate/quantity.js'
import {isSopsFile, readSopsMetadata} from '../../src/lib/sops/index.js'
import {placeholdersOf, renderTemplate} from '../../src/lib/templates/render.js'
import {haveTool} from '../helpers/have-tool.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
const CLUSTER = 'flux/clusters/azalab-0'
const APPS = `${CLUSTER}/manifests/apps`
const DEMO_RECIPIENT = 'age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6'
const APP_NAMES = ['libsql', 'immich', 'kopia', 'vaultwarden', 'tuwunel', 'zeroclaw']
/** Public hostname → [namespace, Service, port] (docs/reference-homelab.md). */
const ROUTES: Record<string, [string, string, number]> = {
  'db.aza.network': ['libsql', 'libsql', 8080],
  'photos.aza.network': ['immich', 'immich-server', 2283],
  'vault.aza.network': ['vaultwarden', 'vaultwarden', 80],
  'matrix.aza.network': ['tuwunel', 'tuwunel', 8008],
}

type Obj = {apiVersion: string; kind: string; metadata: {name: string; namespace?: string; annotations?: Record<string, string>}; [key: string]: any}

const CI = process.env.CI === 'true'

const have = haveTool

/** A test that needs `tool`: skipped locally when it is missing, failing under CI=true. */
function withTool(tool: string, name: string, fn: () => void | Promise<void>, timeout = 120_000) {
  const present = have(tool)
  it.skipIf(!present && !CI)(name, async () => {
    if (!present) throw new Error(`${tool} is not installed (scripts/install-test-tools.sh installs it)`)
    await fn()
  }, timeout)
}

let built: Record<string, Obj[]> | undefined
/** `kubectl kustomize <dir>` of the bundled tree, parsed (cached per dir). */
function kustomize(rel: string): Obj[] {
  built ??= {}
  built[rel] ??= parseAllDocuments(execFileSync('kubectl', ['kustomize', path.join(ROOT, rel)], {encoding: 'utf8', maxBuffer: 64 << 20}))
    .map((d) => d.toJS() as Obj)
    .filter(Boolean)
  return built[rel]
}

const read = (rel: string) => readFileSync(path.join(ROOT, rel), 'utf8')
const storage = () => JSON.parse(read('nixos/storage.json')) as {apps: Array<{name: string; path: string; uid: number; gid: number; mode: string}>; extraBackupSources: string[]}

/** Pod templates of every workload: [object, pod spec]. */
function podSpecs(objects: Obj[]): Array<[Obj, any]> {
  return objects.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind)).map((o) => [o, o.spec.template.spec])
}

function nixFiles(): string[] {
  const out = ['flake.nix']
  for (const dir of ['nixos', 'templates/host-bootstrap'])
    for (const f of readdirSync(path.join(ROOT, dir))) if (f.endsWith('.nix')) out.push(`${dir}/${f}`)
  return out
}

describe('reference homelab: Nix', () => {
  withTool('nix-instantiate', 'every .nix file parses (templates with placeholders filled)', () => {
    const files = nixFiles()
    expect(files).toEqual(expect.arrayContaining(['flake.nix', 'nixos/homelab-module.nix', 'nixos/disko.nix', 'nixos/configuration.nix', 'nixos/flake.nix', 'nixos/backup.nix', 'templates/host-bootstrap/flake.nix', 'templates/host-bootstrap/configuration.nix']))
    for (const rel of files) {
      const template = rel.startsWith('templates/')
      const text = read(rel)
      const input = template ? renderTemplate(text, Object.fromEntries(placeholdersOf(text).map((p) => [p, 'sample'])), rel) : undefined
      try {
        execFileSync('nix-instantiate', ['--parse', template ? '-' : path.join(ROOT, rel)], {input, stdio: ['pipe', 'ignore', 'pipe']})
      } catch (error) {
        throw new Error(`${rel} does not parse: ${String((error as {stderr?: Buffer}).stderr ?? error)}`)
      }
    }
  })

  it('the flake exports nixosModules.default with the three inputs and the revision', () => {
    const flake = read('flake.nix')
    expect(flake).toContain('github:NixOS/nixpkgs/nixos-25.11')
    expect(flake).toContain('github:Mic92/sops-nix')
    expect(flake).toContain('github:nix-community/disko')
    expect(flake).toMatch(/nixosModules\.default\s*=/)
    expect(flake).toContain('./nixos/homelab-module.nix')
    expect(flake).toContain('self.rev or self.dirtyRev or "dirty"')
    // Next to it, the CLI for Nix users (evaluated in test/tree/flake-outputs.test.ts).
    for (const output of ['packages', 'apps', 'devShells', 'checks']) expect(flake).toMatch(new RegExp(`^ {6}${output} = forAllSystems \\(`, 'm'))
    expect(flake).toMatch(/systems = \[ "x86_64-linux" "aarch64-linux" "aarch64-darwin" \];/)
  })

  it('the host module keeps the operator policy (firewall, SSH, sops-nix, user, storage, source)', () => {
    const module = read('nixos/homelab-module.nix')
    expect(module).toMatch(/imports = \[\s*\.\/backup\.nix\s*\.\/git-access\.nix\s*\];/)
    expect(module).toMatch(/allowedTCPPorts = \[ 22 6443 \];/)
    expect(module).toContain('PasswordAuthentication = false;')
    expect(module).toContain('age.keyFile = "/var/lib/sops-nix/key.txt";')
    expect(module).toContain('defaultSopsFile = ./secrets/host-secrets.sops.yaml;')
    expect(module).toContain('extraGroups = [ "wheel" "networkmanager" "docker" ];')
    expect(module).toContain('shell = pkgs.fish;')
    expect(module).toContain('builtins.fromJSON (builtins.readFile cfg.storageFile)')
    expect(module).toContain('environment.etc."homelab/source"')
    expect(module).toContain('system.configurationRevision')
    expect(module).toContain('disable = lib.optionals isServer [ "traefik" ];')
    expect(module).toMatch(/adminUser = mkOption \{[^}]*default = "aiden";/s)
  })

  it('the host bootstrap flake (reference copy and template) takes the repository as input `homelab`', () => {
    for (const rel of ['nixos/flake.nix', 'templates/host-bootstrap/flake.nix']) {
      const text = read(rel)
      expect(text, rel).toMatch(/homelab = \{\s*url = /)
      expect(text, rel).toContain('homelab.nixosModules.default')
      expect(text, rel).toContain('./hardware-configuration.nix')
      // It owns sops-nix and disko, and the homelab input follows them (pinned in its flake.lock).
      expect(text, rel).toContain('url = "github:Mic92/sops-nix";')
      expect(text, rel).toContain('url = "github:nix-community/disko";')
      for (const input of ['nixpkgs', 'sops-nix', 'disko']) expect(text, rel).toContain(`inputs.${input}.follows = "${input}";`)
    }
  })

  it('the host module and the disk layout are imported once, by nixosModules.default; configuration.nix holds values', () => {
    expect(read('flake.nix')).toMatch(/\.\/nixos\/homelab-module\.nix\s*\.\/nixos\/disko\.nix\s*\];/)
    for (const rel of ['nixos/configuration.nix', 'templates/host-bootstrap/configuration.nix']) expect(read(rel), rel).not.toMatch(/imports\s*=/)
  })

  it('the install steps call disko on the flake, with only the options and modes disko documents', () => {
    // disko's own usage text (nix-community/disko docs/reference.md, "Command Line Options").
    const documented = new Set(['-m', '--mode', '-f', '--flake', '--arg', '--argstr', '--root-mountpoint', '--dry-run', '--no-deps', '--debug', '--yes-wipe-all-disks'])
    const modes = new Set(['destroy', 'format', 'mount', 'format,mount', 'destroy,format,mount'])
    const readme = read('templates/host-bootstrap/README.md').replaceAll(/\s*\n\s*/g, ' ')
    const call = /run github:nix-community\/disko\S* -- (.+?)`/.exec(readme)
    expect(call, 'a disko call in the install steps').not.toBeNull()
    const argv = call![1].split(' ')
    for (const arg of argv.filter((a) => a.startsWith('-'))) expect(documented, arg).toContain(arg)
    expect(modes).toContain(argv[argv.indexOf('--mode') + 1])
    // nixos/disko.nix is a NixOS module (it reads config.homelab.diskDevice): disko must get it through --flake, never as a file.
    expect(argv[argv.indexOf('--flake') + 1]).toMatch(/#<hostName>$/)
    expect(argv.some((a) => a.endsWith('disko.nix'))).toBe(false)
  })

  it('the template documents exactly the placeholders it uses', () => {
    const used = new Set(['flake.nix', 'configuration.nix', 'host-configuration.nix'].flatMap((f) => placeholdersOf(read(`templates/host-bootstrap/${f}`))))
    expect([...used].sort()).toEqual(['adminUser', 'diskDevice', 'domain', 'homelabFlakeUrl', 'hostConfiguration', 'hostName', 'sshPubKey'])
    const readme = read('templates/host-bootstrap/README.md')
    expect(placeholdersOf(readme)).toEqual([])
    for (const name of used) expect(readme, name).toContain(`| \`${name}\` |`)
  })
})

describe('reference homelab: Flux', () => {
  withTool('kubectl', 'the cluster root, manifests/cluster and manifests/apps build', () => {
    const root = kustomize(CLUSTER)
    const git = root.find((o) => o.kind === 'GitRepository')!
    expect(git.apiVersion).toBe('source.toolkit.fluxcd.io/v1')
    expect(git.metadata).toMatchObject({name: 'flux-system', namespace: 'flux-system'})
    expect(git.spec).toMatchObject({interval: '1m', ref: {branch: 'main'}, secretRef: {name: 'flux-system'}})
    expect(git.spec.url).toMatch(/^ssh:\/\/git@/)

    const ks = Object.fromEntries(root.filter((o) => o.kind === 'Kustomization').map((o) => [o.metadata.name, o]))
    expect(Object.keys(ks).sort()).toEqual(['apps', 'flux-system', 'infrastructure'])
    for (const k of Object.values(ks)) {
      expect(k.apiVersion).toBe('kustomize.toolkit.fluxcd.io/v1')
      expect(k.spec.sourceRef).toEqual({kind: 'GitRepository', name: 'flux-system'})
      expect(k.spec.prune).toBe(true)
      expect(existsSync(path.join(ROOT, k.spec.path, 'kustomization.yaml')), k.spec.path).toBe(true)
    }

    expect(ks['flux-system'].spec.path).toBe(`./${CLUSTER}`)
    expect(ks.infrastructure.spec.path).toBe(`./${CLUSTER}/manifests/cluster`)
    expect(ks.apps.spec.path).toBe(`./${APPS}`)
    expect(ks.apps.spec.dependsOn).toEqual([{name: 'infrastructure'}])
    expect(ks.apps.spec.decryption).toEqual({provider: 'sops', secretRef: {name: 'sops-age'}})

    expect(kustomize(`${CLUSTER}/manifests/cluster`).map((o) => `${o.kind}/${o.metadata.name}`)).toContain('Namespace/cloudflared')
    expect(kustomize(APPS).length).toBeGreaterThan(30)
  })

  withTool('kubectl', 'every PVC binds to its hostPath PV, and every PV path is an app folder of storage.json', () => {
    const pvs = kustomize(`${CLUSTER}/manifests/cluster`).filter((o) => o.kind === 'PersistentVolume')
    const pvcs = kustomize(APPS).filter((o) => o.kind === 'PersistentVolumeClaim')
    const apps = storage().apps
    expect(pvs.map((pv) => pv.metadata.name).sort()).toEqual(APP_NAMES.map((a) => `${a}-data`).sort())
    expect(apps.map((a) => a.name).sort()).toEqual([...APP_NAMES].sort())

    for (const pv of pvs) {
      const app = apps.find((a) => a.path === pv.spec.hostPath.path)
      expect(app, `${pv.metadata.name}: hostPath ${pv.spec.hostPath.path} is not in nixos/storage.json`).toBeDefined()
      expect(pv.metadata.name).toBe(`${app!.name}-data`)
      expect(pv.spec.hostPath).toEqual({path: `/srv/${app!.name}`, type: 'Directory'})
      expect(pv.spec).toMatchObject({accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', storageClassName: ''})
      expect(pv.spec.claimRef).toEqual({name: `${app!.name}-data`, namespace: app!.name})
    }

    expect(pvcs).toHaveLength(pvs.length)
    for (const pvc of pvcs) {
      const pv = pvs.find((p) => p.metadata.name === pvc.spec.volumeName)
      const id = `${pvc.metadata.namespace}/${pvc.metadata.name}`
      expect(pv, `${id}: no PersistentVolume ${pvc.spec.volumeName}`).toBeDefined()
      expect(pv!.spec.claimRef, id).toEqual({name: pvc.metadata.name, namespace: pvc.metadata.namespace})
      expect(pvc.spec.storageClassName, id).toBe('')
      expect(pvc.spec.accessModes, id).toEqual(['ReadWriteOnce'])
      expect(parseQuantity(pv!.spec.capacity.storage)! >= parseQuantity(pvc.spec.resources.requests.storage)!, id).toBe(true)
    }
  })

  withTool('kubectl', 'every workload is pinned, probed, resource-requested and non-root, in its own namespace', () => {
    const objects = kustomize(APPS)
    const namespaces = new Set([...objects, ...kustomize(`${CLUSTER}/manifests/cluster`)].filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name))
    const specs = podSpecs(objects)
    expect(new Set(specs.map(([o]) => o.metadata.namespace))).toEqual(new Set([...APP_NAMES, 'cloudflared']))
    for (const [object, pod] of specs) {
      const id = `${object.kind} ${object.metadata.namespace}/${object.metadata.name}`
      expect(namespaces.has(object.metadata.namespace!), `${id}: namespace not defined`).toBe(true)
      expect(pod.securityContext?.runAsNonRoot, `${id}: runAsNonRoot`).toBe(true)
      expect(pod.securityContext?.runAsUser, `${id}: runAsUser`).toBeGreaterThan(0)
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        expect(c.image, `${id}/${c.name}`).toMatch(/^[\w.\-/]+(:[\w.-]+)(@sha256:[0-9a-f]{64})?$/)
        expect(c.image, `${id}/${c.name}`).not.toMatch(/:(latest|main|release)$/)
        expect(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${id}/${c.name}: resource requests`).toBeTruthy()
        expect(c.securityContext?.allowPrivilegeEscalation, `${id}/${c.name}`).toBe(false)
      }

      for (const c of pod.containers) expect(c.readinessProbe, `${id}/${c.name}: readinessProbe`).toBeDefined()
      // Root only in init containers that create folders, with nothing but the file capabilities.
      for (const c of pod.initContainers ?? [])
        if (c.securityContext?.runAsUser === 0) expect(c.securityContext.capabilities).toEqual({add: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER'], drop: ['ALL']})
    }
  })

  withTool('kubectl', 'each app PVC is used by its workloads and owned by the uid storage.json gives the folder', () => {
    const objects = kustomize(APPS)
    for (const app of storage().apps) {
      const users = podSpecs(objects).filter(([o, pod]) => o.metadata.namespace === app.name && pod.volumes?.some((v: any) => v.persistentVolumeClaim?.claimName === `${app.name}-data`))
      expect(users.length, app.name).toBeGreaterThan(0)
      // The workload that owns the folder root runs as its owner (others use subPaths they prepare).
      expect(users.some(([, pod]) => pod.securityContext.runAsUser === app.uid), `${app.name}: no workload runs as uid ${app.uid}`).toBe(true)
    }
  })

  withTool('kubectl', 'the Cloudflare Tunnel routes each hostname to a real Service port, catch-all last', () => {
    const objects = kustomize(APPS)
    const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'cloudflared' && o.metadata.namespace === 'cloudflared')!
    const config = parseYaml(configMap.data['config.yaml'])
    const ingress = config.ingress as Array<{hostname?: string; path?: string; service: string}>
    expect(ingress.at(-1)).toEqual({service: 'http_status:404'})
    expect(ingress.slice(0, -1).every((r) => r.hostname)).toBe(true)
    // vaultwarden's admin page answers 404 at the edge, before the app's own rule.
    const vault = ingress.filter((r) => r.hostname === 'vault.aza.network')
    expect(vault).toEqual([{hostname: 'vault.aza.network', path: '^/admin', service: 'http_status:404'}, {hostname: 'vault.aza.network', service: 'http://vaultwarden.vaultwarden.svc.cluster.local:80'}])
    // The Kopia UI (every host snapshot) is not public.
    expect(ingress.some((r) => r.hostname?.startsWith('kopia.') || r.service.includes('kopia'))).toBe(false)
    expect(Object.fromEntries(ingress.filter((r) => r.hostname && !r.path).map((r) => [r.hostname, r.service]))).toEqual(
      Object.fromEntries(Object.entries(ROUTES).map(([host, [ns, svc, port]]) => [host, `http://${svc}.${ns}.svc.cluster.local:${port}`])),
    )
    for (const [host, [ns, name, port]] of Object.entries(ROUTES)) {
      const service = objects.find((o) => o.kind === 'Service' && o.metadata.namespace === ns && o.metadata.name === name)
      expect(service, host).toBeDefined()
      expect(service!.spec.ports.map((p: {port: number}) => p.port), host).toContain(port)
    }

    const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'cloudflared')!
    expect(deployment.spec.template.metadata.annotations['checksum/config']).toBe(createHash('sha256').update(configMap.data['config.yaml']).digest('hex'))
    expect(config['credentials-file']).toBe('/etc/cloudflared/creds/credentials.json')
  })
})

describe('reference homelab: a fresh install converges and federates', () => {
  withTool('kubectl', 'no init container waits on something only a later backup creates (apps has wait: true)', () => {
    const apps = kustomize(CLUSTER).find((o) => o.kind === 'Kustomization' && o.metadata.name === 'apps')!
    expect(apps.spec.wait).toBe(true)
    const kopia = kustomize(APPS).find((o) => o.kind === 'Deployment' && o.metadata.name === 'kopia')!
    expect(kopia.spec.template.spec.initContainers ?? []).toEqual([])
    expect(kopia.spec.template.spec.containers[0].args.slice(0, 2)).toEqual(['server', 'start'])
  })

  withTool('kubectl', 'tuwunel delegates federation to 443 for its server name, and the tunnel routes that name to it', () => {
    const objects = kustomize(APPS)
    const env = Object.fromEntries(objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'tuwunel')!.spec.template.spec.containers[0].env.map((e: {name: string; value?: string}) => [e.name, e.value]))
    const serverName = env.TUWUNEL_SERVER_NAME
    expect(env.TUWUNEL_WELL_KNOWN__SERVER).toBe('matrix.aza.network:443')
    expect(env.TUWUNEL_WELL_KNOWN__CLIENT).toBe('https://matrix.aza.network')
    const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'cloudflared')!
    const ingress = parseYaml(configMap.data['config.yaml']).ingress as Array<{hostname?: string; path?: string; service: string}>
    // /.well-known/matrix/* of the server name reaches tuwunel (first matching rule).
    const rule = ingress.find((r) => (!r.hostname || r.hostname === serverName) && (!r.path || new RegExp(r.path).test('/.well-known/matrix/server')))
    expect(rule?.service).toBe('http://tuwunel.tuwunel.svc.cluster.local:8008')
    expect(env.TUWUNEL_WELL_KNOWN__SERVER.split(':')[0]).toBe(new URL(env.TUWUNEL_WELL_KNOWN__CLIENT).hostname)
  })

  withTool('kubectl', 'vaultwarden runs without ADMIN_TOKEN (its admin page is disabled)', () => {
    const vw = kustomize(APPS).find((o) => o.kind === 'Deployment' && o.metadata.name === 'vaultwarden')!
    expect(vw.spec.template.spec.containers[0].env.map((e: {name: string}) => e.name)).not.toContain('ADMIN_TOKEN')
  })
})

describe('reference homelab: the demo host secrets are what nixos/git-access.json documents', () => {
  const hostSecrets = async () => {
    const {decryptSops} = await import('sops-age')
    const secretKey = read('test/fixtures/keys/demo.agekey').split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'))!
    return decryptSops(read('nixos/secrets/host-secrets.sops.yaml'), {fileType: 'yaml', secretKey})
  }

  withTool('openssl', 'admin/password_hash is the sha-512 crypt hash of the demo password homelab-demo', async () => {
    const hash = (await hostSecrets()).admin.password_hash as string
    expect(read('nixos/git-access.json')).toContain('the demo password `homelab-demo`')
    expect(execFileSync('openssl', ['passwd', '-6', '-salt', hash.split('$')[2], '-stdin'], {encoding: 'utf8', input: 'homelab-demo'}).trim()).toBe(hash)
  })

  withTool('ssh-keygen', 'git/deploy_key is an OpenSSH key whose public half is the documented one', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'homelab-deploy-key-'))
    try {
      const file = path.join(dir, 'deploy_key')
      writeFileSync(file, (await hostSecrets()).git.deploy_key as string, {mode: 0o600})
      const pub = execFileSync('ssh-keygen', ['-y', '-f', file], {encoding: 'utf8'}).trim()
      expect(pub).toMatch(/^ssh-ed25519 AAAA[\w+/]+={0,2}/)
      expect(read('nixos/git-access.json')).toContain(pub.split(' ').slice(0, 2).join(' '))
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })
})

describe('reference homelab: SOPS files', () => {
  const sopsFiles = [
    'nixos/secrets/host-secrets.sops.yaml',
    `${APPS}/secrets.sops.yaml`,
    ...APP_NAMES.map((a) => `${APPS}/${a}/secret.sops.yaml`),
  ]

  it('every secret file is SOPS-encrypted to the demo recipient', () => {
    for (const rel of sopsFiles) {
      const text = read(rel)
      expect(isSopsFile(text), rel).toBe(true)
      expect(readSopsMetadata(text, rel)?.recipients, rel).toEqual([DEMO_RECIPIENT])
      expect(text, rel).not.toMatch(/stringData:\s*\n\s+[\w.-]+: (?!ENC\[)/)
    }
  })

  it('they decrypt with the demo identity (sops-age) to the keys the host and the workloads read', async () => {
    const {decryptSops} = await import('sops-age')
    const secretKey = read('test/fixtures/keys/demo.agekey').split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'))!
    const decrypt = (rel: string) => decryptSops(read(rel), {fileType: 'yaml', secretKey})

    const host = await decrypt('nixos/secrets/host-secrets.sops.yaml')
    expect(Object.keys(host.kopia)).toEqual(['repository_password'])
    expect(Object.keys(host.r2).sort()).toEqual(['access_key_id', 'account_id', 'secret_access_key'])
    // sops-nix secrets of the host module: admin/password_hash (sha-512 crypt of the demo
    // password homelab-demo) and git/deploy_key (a throwaway OpenSSH key, trailing newline kept).
    expect(host.admin.password_hash).toMatch(/^\$6\$[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$/)
    expect(host.git.deploy_key).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+\n-----END OPENSSH PRIVATE KEY-----\n$/)

    const secrets = new Map<string, Record<string, string>>()
    for (const rel of sopsFiles.slice(1)) {
      const secret = await decrypt(rel)
      expect(secret.kind, rel).toBe('Secret')
      secrets.set(`${secret.metadata.namespace}/${secret.metadata.name}`, secret.stringData)
    }

    expect(JSON.parse(secrets.get('cloudflared/tunnel-credentials')!['credentials.json'])).toMatchObject({TunnelID: expect.any(String)})
    expect(secrets.get('kopia/kopia-secret')!.KOPIA_PASSWORD).toBe(host.kopia.repository_password)

    // Every secretKeyRef / envFrom / secret volume of the workloads resolves.
    const workloads = [...APP_NAMES, 'cloudflared'].flatMap((app) =>
      readdirSync(path.join(ROOT, APPS, app))
        .filter((f) => f.endsWith('.yaml') && !f.endsWith('.sops.yaml') && f !== 'kustomization.yaml')
        .flatMap((f) => parseAllDocuments(read(`${APPS}/${app}/${f}`)).map((d) => d.toJS() as Obj)),
    )
    let refs = 0
    for (const [object, pod] of podSpecs(workloads)) {
      const ns = object.metadata.namespace
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        for (const e of c.env ?? [])
          if (e.valueFrom?.secretKeyRef) {
            refs++
            expect(secrets.get(`${ns}/${e.valueFrom.secretKeyRef.name}`)?.[e.valueFrom.secretKeyRef.key], `${ns}/${e.name}`).toEqual(expect.any(String))
          }

        for (const e of c.envFrom ?? []) if (e.secretRef) expect(secrets.has(`${ns}/${e.secretRef.name}`), `${ns}/${e.secretRef.name}`).toBe(true)
      }

      for (const v of pod.volumes ?? []) if (v.secret) expect(secrets.has(`${ns}/${v.secret.secretName}`), `${ns}/${v.secret.secretName}`).toBe(true)
    }

    expect(refs).toBeGreaterThan(3)
  })
})
