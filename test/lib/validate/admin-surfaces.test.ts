// Cloudflare Tunnel routes to admin surfaces (issue 12, defect 7): the Kopia UI and vaultwarden's
// /admin page are warned about unless not routed, blocked by an earlier http_status rule, or
// behind Cloudflare Access. In-memory objects through the validate parser (parseYamlFile).
import {describe, expect, it} from 'vitest'

import {checkAdminSurfaces} from '../../../src/lib/validate/admin-surfaces.js'
import {collectObjects, parseYamlFile} from '../../../src/lib/validate/context.js'
import {FindingList} from '../../../src/lib/validate/finding.js'

function workload(app: string, image: string, env = ''): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${app}, namespace: ${app}}
spec:
  selector: {matchLabels: {app: ${app}}}
  template:
    metadata: {labels: {app: ${app}}}
    spec:
      containers:
        - name: ${app}
          image: ${image}
${env}---
apiVersion: v1
kind: Service
metadata: {name: ${app}, namespace: ${app}}
spec:
  selector: {app: ${app}}
  ports: [{port: 80}]
`
}

function tunnel(rules: string): string {
  return `apiVersion: v1
kind: ConfigMap
metadata: {name: cloudflared, namespace: cloudflared}
data:
  config.yaml: |
    tunnel: 3f6c2a1e-9b4d-4e2a-8c7f-5d1b0e9a4c21
    ingress:
${rules
  .trim()
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n')}
      - service: http_status:404
`
}

const ADMIN_TOKEN_ENV = `          env:
            - {name: ADMIN_TOKEN, valueFrom: {secretKeyRef: {name: vw, key: ADMIN_TOKEN}}}
`

function warnings(files: Record<string, string>): string[] {
  const yaml = Object.entries(files).map(([rel, text]) => parseYamlFile(rel, text))
  const out = new FindingList('config')
  checkAdminSurfaces(out, collectObjects(yaml, new Set()))
  return out.findings.map((f) => `${f.file}:${f.line}: ${f.severity}: ${f.message}`)
}

describe('checkAdminSurfaces', () => {
  it('warns for a routed Kopia UI, naming the rule line and the way out', () => {
    const found = warnings({
      'apps/kopia.yaml': workload('kopia', 'docker.io/kopia/kopia:0.18.2'),
      'apps/tunnel.yaml': tunnel('- hostname: kopia.example.org\n  service: http://kopia.kopia.svc.cluster.local:80'),
    })
    expect(found).toEqual([
      'apps/tunnel.yaml:8: warning: tunnel route kopia.example.org → http://kopia.kopia.svc.cluster.local:80 exposes the Kopia UI (every host snapshot) behind a password alone: remove the route, or put it behind Cloudflare Access (originRequest.access.required: true)',
    ])
  })

  it('says nothing when the Kopia UI is not routed, or only behind Cloudflare Access', () => {
    expect(warnings({'apps/kopia.yaml': workload('kopia', 'kopia/kopia:latest'), 'apps/tunnel.yaml': tunnel('- hostname: x.example.org\n  service: http://other.other:80')})).toEqual([])
    const access = '- hostname: kopia.example.org\n  service: http://kopia.kopia.svc.cluster.local:80\n  originRequest:\n    access: {required: true, teamName: lab, audTag: [abc]}'
    expect(warnings({'apps/kopia.yaml': workload('kopia', 'kopia/kopia@sha256:' + 'a'.repeat(64)), 'apps/tunnel.yaml': tunnel(access)})).toEqual([])
  })

  it('warns for vaultwarden with ADMIN_TOKEN set and /admin routed', () => {
    const found = warnings({
      'apps/vw.yaml': workload('vaultwarden', 'vaultwarden/server:1.32.0', ADMIN_TOKEN_ENV),
      'apps/tunnel.yaml': tunnel('- hostname: vault.example.org\n  service: http://vaultwarden.vaultwarden.svc:80'),
    })
    expect(found).toHaveLength(1)
    expect(found[0]).toContain("exposes vaultwarden's /admin page behind a password alone")
    expect(found[0]).toContain('path: ^/admin and service: http_status:404')
  })

  it('counts an ADMIN_TOKEN key in an envFrom Secret (key names are clear text in SOPS files)', () => {
    const envFrom = '          envFrom:\n            - secretRef: {name: vw}\n'
    const secret = 'apiVersion: v1\nkind: Secret\nmetadata: {name: vw, namespace: vaultwarden}\nstringData:\n  ADMIN_TOKEN: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n'
    const route = '- hostname: vault.example.org\n  service: http://vaultwarden.vaultwarden.svc:80'
    expect(warnings({'apps/vw.yaml': workload('vaultwarden', 'vaultwarden/server:1.32.0', envFrom), 'apps/s.yaml': secret, 'apps/tunnel.yaml': tunnel(route)})).toHaveLength(1)
    const noToken = secret.replace('ADMIN_TOKEN', 'DATABASE_URL')
    expect(warnings({'apps/vw.yaml': workload('vaultwarden', 'vaultwarden/server:1.32.0', envFrom), 'apps/s.yaml': noToken, 'apps/tunnel.yaml': tunnel(route)})).toEqual([])
  })

  it('accepts vaultwarden without ADMIN_TOKEN (admin page disabled) or with /admin blocked before its rule', () => {
    const route = '- hostname: vault.example.org\n  service: http://vaultwarden.vaultwarden.svc:80'
    expect(warnings({'apps/vw.yaml': workload('vaultwarden', 'vaultwarden/server:1.32.0'), 'apps/tunnel.yaml': tunnel(route)})).toEqual([])
    const blocked = `- hostname: vault.example.org\n  path: ^/admin\n  service: http_status:404\n${route}`
    expect(warnings({'apps/vw.yaml': workload('vaultwarden', 'vaultwarden/server:1.32.0', ADMIN_TOKEN_ENV), 'apps/tunnel.yaml': tunnel(blocked)})).toEqual([])
    // A block rule AFTER the app's rule never matches: cloudflared takes the first matching rule.
    const late = `${route}\n- hostname: vault.example.org\n  path: ^/admin\n  service: http_status:404`
    expect(warnings({'apps/vw.yaml': workload('vaultwarden', 'vaultwarden/server:1.32.0', ADMIN_TOKEN_ENV), 'apps/tunnel.yaml': tunnel(late)})).toHaveLength(1)
  })
})

describe('git access file (config check)', () => {
  it('flakeInputUrl finds the input URL in both spellings; methodForUrl maps schemes to methods', async () => {
    const {flakeInputUrl, methodForUrl} = await import('../../../src/lib/validate/git-access-check.js')
    const flake = '{\n  inputs = {\n    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";\n    homelab = {\n      url = "git+ssh://git@github.com/a/h?ref=main";\n    };\n  };\n}\n'
    expect(flakeInputUrl(flake, 'homelab')).toEqual({line: 5, url: 'git+ssh://git@github.com/a/h?ref=main'})
    expect(flakeInputUrl(flake, 'nixpkgs')).toEqual({line: 3, url: 'github:NixOS/nixpkgs/nixos-25.11'})
    expect(flakeInputUrl(flake, 'other')).toBeUndefined()
    expect(['git+ssh://git@x/y', 'github:a/b', 'git+https://x/y', 'git+file:///x'].map((u) => methodForUrl(u))).toEqual(['deploy-key', 'token', 'token', undefined])
  })
})
