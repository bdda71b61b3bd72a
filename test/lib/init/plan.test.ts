import {describe, expect, it} from 'vitest'

import {planHomelabFiles} from '../../../src/lib/init/plan.js'
import {REPO_ROOT} from '../../helpers/cli.js'

const values = {adminUser: 'u', cluster: 'c', domain: 'example.org', gitUrl: 'ssh://git@example.org/u/homelab', hostName: 'h', sshTarget: 'u@h'}

describe('planHomelabFiles', () => {
  it('renders every placeholder of the host-specific files and copies the rest from this repository', async () => {
    const files = await planHomelabFiles({recipient: 'age1test', sourceRoot: REPO_ROOT, values})
    const paths = files.map((f) => f.path)
    expect(paths).toEqual(expect.arrayContaining([
      '.gitignore',
      '.sops.yaml',
      'README.md',
      'flake.nix',
      'flux/clusters/c/apps.yaml',
      'flux/clusters/c/flux-system-sync.yaml',
      'flux/clusters/c/manifests/apps/cloudflared/deployment.yaml',
      'homelab.yaml',
      'known_hosts',
      'nixos/configuration.nix',
      'nixos/flake.nix',
      'nixos/homelab-module.nix',
      'nixos/storage.json',
      'templates/host-bootstrap/flake.nix',
    ]))
    expect(paths).not.toContain('scripts/test.sh')
    for (const file of files) {
      if (file.path.startsWith('templates/')) continue
      expect(file.content, file.path).not.toMatch(/\{\{\s*[a-zA-Z]\w*\s*\}\}/)
      // Host-specific files never mention the reference host (copied module files may, in comments).
      if (/^(flux\/|nixos\/(configuration|flake)\.nix|nixos\/\w+\.json|flake\.nix|homelab\.yaml|README\.md)/.test(file.path))
        expect(file.content, file.path).not.toMatch(/azalab|aza\.network|aiden/)
    }
  })
})
