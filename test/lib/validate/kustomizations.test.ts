/** Which kustomization entries are remote bases (validate leaves them unchecked; homelab diff never caches their builds). */
import {describe, expect, it} from 'vitest'

import {isRemoteEntry} from '../../../src/lib/validate/kustomizations.js'

describe('isRemoteEntry', () => {
  it('knows the remote forms kustomize accepts', () => {
    for (const remote of [
      'https://github.com/fluxcd/flux2/manifests/install?ref=v2.4.0',
      'github.com/kubernetes-sigs/kustomize/examples/multibases?ref=v1.0.6',
      'gitlab.com/group/repo//deploy',
      'git@github.com:org/repo.git//base',
      'git::https://example.org/repo.git//base',
      'deploy@git.example.org:org/repo//base',
      'ssh://git@example.org/org/repo',
    ])
      expect(isRemoteEntry(remote), remote).toBe(true)
  })

  it('leaves local paths local', () => {
    for (const local of ['../base', './apps/web', 'deployment.yaml', 'sub/dir/kustomization.yaml', 'patches/port.yaml']) expect(isRemoteEntry(local), local).toBe(false)
  })
})
