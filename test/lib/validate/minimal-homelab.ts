// A small, complete, valid homelab layout for validate's unit tests (one app, `demo`), modelled
// on the reference tree (docs/reference-homelab.md, contracts). Its SOPS files carry a real age
// stanza (the data key encrypted to the demo recipient with age-encryption) and sops-shaped
// ENC[...] values; validate reads SOPS metadata only and never decrypts.
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

/** The demo age recipient of test/fixtures/keys/demo.agekey. */
export const DEMO_RECIPIENT = 'age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6'

/** Files of the minimal homelab, repository-relative path → text (SOPS files added by writeMinimalHomelab). */
export const MINIMAL_FILES: Record<string, string> = {
  'homelab.yaml': `version: 1
domain: example.org
hosts:
  - name: lab-0
    ssh: admin@lab-0
git:
  remote: origin
  branch: main
cluster:
  name: lab-0
  path: flux/clusters/lab-0
storage:
  root: /srv
  file: nixos/storage.json
backup:
  offsite:
    bucket: lab-kopia
    endpoint: account.r2.cloudflarestorage.com
    credentialsFile: nixos/secrets/host-secrets.sops.yaml
`,
  '.sops.yaml': `creation_rules:
  - path_regex: ^nixos/secrets/.*\\.sops\\.ya?ml$
    age: ${DEMO_RECIPIENT}
  - path_regex: ^flux/clusters/[^/]+/manifests/apps/.*\\.sops\\.ya?ml$
    encrypted_regex: ^(data|stringData)$
    age: ${DEMO_RECIPIENT}
`,
  known_hosts: '',
  'nixos/git-access.json': `{
  "method": "deploy-key",
  "forge": "github.com",
  "forgeHostKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"]
}
`,
  'nixos/storage.json': `{
  "apps": [
    { "name": "demo", "path": "/srv/demo", "uid": 1000, "gid": 1000, "mode": "0750" }
  ],
  "extraBackupSources": ["/etc/nixos"]
}
`,
  'flake.nix': `{
  description = "minimal homelab";
  outputs = { self, ... }: {
    nixosModules.default = ./nixos/module.nix;
  };
}
`,
  'nixos/module.nix': `{ lib, ... }:
{
  options.homelab.hostName = lib.mkOption { type = lib.types.str; };
}
`,
  'templates/host-bootstrap/flake.nix': `{
  outputs = { nixpkgs, homelab, ... }: {
    nixosConfigurations.{{hostName}} = nixpkgs.lib.nixosSystem {
      modules = [ homelab.nixosModules.default ];
    };
  };
}
`,
  'flux/clusters/lab-0/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - flux-system-sync.yaml
  - infrastructure.yaml
  - apps.yaml
`,
  'flux/clusters/lab-0/flux-system-sync.yaml': `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m
  url: ssh://git@github.com/example/homelab
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m
  path: ./flux/clusters/lab-0
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
`,
  'flux/clusters/lab-0/infrastructure.yaml': `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infrastructure
  namespace: flux-system
spec:
  interval: 10m
  path: ./flux/clusters/lab-0/manifests/cluster
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
`,
  'flux/clusters/lab-0/apps.yaml': `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  path: ./flux/clusters/lab-0/manifests/apps
  prune: true
  dependsOn:
    - name: infrastructure
  sourceRef:
    kind: GitRepository
    name: flux-system
  decryption:
    provider: sops
    secretRef:
      name: sops-age
`,
  'flux/clusters/lab-0/manifests/cluster/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - namespaces.yaml
  - persistent-volumes.yaml
`,
  'flux/clusters/lab-0/manifests/cluster/namespaces.yaml': `apiVersion: v1
kind: Namespace
metadata:
  name: cloudflared
`,
  'flux/clusters/lab-0/manifests/cluster/persistent-volumes.yaml': `apiVersion: v1
kind: PersistentVolume
metadata:
  name: demo-data
spec:
  capacity:
    storage: 10Gi
  accessModes:
    - ReadWriteOnce
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef:
    namespace: demo
    name: demo-data
  hostPath:
    path: /srv/demo
    type: Directory
`,
  'flux/clusters/lab-0/manifests/apps/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - demo/
`,
  'flux/clusters/lab-0/manifests/apps/demo/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - namespace.yaml
  - deployment.yaml
  - pvc.yaml
  - secret.sops.yaml
`,
  'flux/clusters/lab-0/manifests/apps/demo/namespace.yaml': `apiVersion: v1
kind: Namespace
metadata:
  name: demo
`,
  'flux/clusters/lab-0/manifests/apps/demo/deployment.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
  namespace: demo
spec:
  replicas: 1
  selector:
    matchLabels:
      app: demo
  template:
    metadata:
      labels:
        app: demo
    spec:
      containers:
        - name: demo
          image: docker.io/library/nginx:1.27
          volumeMounts:
            - name: data
              mountPath: /data
      volumes:
        - name: data
          persistentVolumeClaim:
            claimName: demo-data
`,
  'flux/clusters/lab-0/manifests/apps/demo/pvc.yaml': `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: demo-data
  namespace: demo
spec:
  storageClassName: ""
  volumeName: demo-data
  accessModes:
    - ReadWriteOnce
  resources:
    requests:
      storage: 10Gi
`,
}

/** SOPS files of the minimal homelab: path → plaintext head (the sops block is appended). */
const SOPS_FILES: Record<string, (enc: (s: string) => string) => string> = {
  'nixos/secrets/host-secrets.sops.yaml': (enc) => `kopia:
  repository_password: ${enc('x')}
r2:
  access_key_id: ${enc('x')}
  secret_access_key: ${enc('x')}
  account_id: ${enc('x')}
`,
  'flux/clusters/lab-0/manifests/apps/demo/secret.sops.yaml': (enc) => `apiVersion: v1
kind: Secret
metadata:
  name: demo-secrets
  namespace: demo
type: Opaque
stringData:
  password: ${enc('x')}
`,
}

/**
 * A sops block (sops stores/stores.go Metadata) for `recipients`: each stanza is the data key
 * age-encrypted to the recipient (real age files), MAC and values are ENC[AES256_GCM,...]-shaped.
 */
export async function sopsBlock(recipients: string[], extra = ''): Promise<string> {
  const {armor, Encrypter} = await import('age-encryption')
  const dataKey = randomBytes(32)
  const stanzas: string[] = []
  for (const recipient of recipients) {
    const e = new Encrypter()
    e.addRecipient(recipient)
    const enc = armor.encode(await e.encrypt(dataKey))
    stanzas.push(`    - recipient: ${recipient}\n      enc: |\n${enc.trimEnd().split('\n').map((l) => `        ${l}`).join('\n')}`)
  }

  return `sops:
  age:
${stanzas.join('\n')}
  lastmodified: "2026-11-24T08:00:00Z"
  mac: ${encValue('mac')}
${extra}  version: 3.10.2
`
}

function encValue(seed: string): string {
  return `ENC[AES256_GCM,data:${randomBytes(16).toString('base64')},iv:${randomBytes(32).toString('base64')},tag:${randomBytes(16).toString('base64')},type:${seed === 'mac' ? 'str' : 'str'}]`
}

/**
 * Writes the minimal homelab into a new temp folder (or `dir`) and returns its path.
 * @param recipients age recipients of the SOPS files (default: the demo recipient)
 */
export async function writeMinimalHomelab(dir = mkdtempSync(path.join(tmpdir(), 'homelab-validate-')), recipients = [DEMO_RECIPIENT]): Promise<string> {
  for (const [rel, text] of Object.entries(MINIMAL_FILES)) writeFile(dir, rel, text)
  for (const [rel, head] of Object.entries(SOPS_FILES)) {
    const extra = rel.startsWith('flux/') ? '  encrypted_regex: ^(data|stringData)$\n' : ''
    writeFile(dir, rel, head(() => encValue('v')) + (await sopsBlock(recipients, extra)))
  }

  return dir
}

function writeFile(dir: string, rel: string, text: string): void {
  mkdirSync(path.dirname(path.join(dir, rel)), {recursive: true})
  writeFileSync(path.join(dir, rel), text)
}
