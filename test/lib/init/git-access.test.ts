// How a new homelab's host fetches its repository: nixos/git-access.json (read by
// nixos/git-access.nix) and the bootstrap flake's `homelab` URL, from the repository URL.
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {gitAccessFileSchema} from '../../../src/lib/config/git-access.js'
import {gitAccessOf} from '../../../src/lib/init/plan.js'
import {flakeUrlOf} from '../../../src/lib/init/values.js'

const reference = readFileSync(path.resolve(import.meta.dirname, '../../../nixos/git-access.json'), 'utf8')

describe('gitAccessOf', () => {
  it('ssh:// on GitHub: deploy-key with the pinned GitHub host keys, no DEMO note', () => {
    const file = JSON.parse(gitAccessOf(reference, 'ssh://git@github.com/u/homelab'))
    expect(gitAccessFileSchema.parse(file)).toMatchObject({forge: 'github.com', method: 'deploy-key'})
    expect(file.forgeHostKeys).toEqual(JSON.parse(reference).forgeHostKeys)
    expect(file.$comment).not.toContain('DEMO')
  })

  it('https:// on GitHub: token, the input a github: flake reference', () => {
    const file = JSON.parse(gitAccessOf(reference, 'https://github.com/u/homelab.git'))
    expect(gitAccessFileSchema.parse(file)).toMatchObject({forge: 'github.com', method: 'token'})
    expect(flakeUrlOf('https://github.com/u/homelab.git', 'main')).toBe('github:u/homelab?ref=main')
    expect(flakeUrlOf('ssh://git@github.com/u/homelab', 'main')).toBe('git+ssh://git@github.com/u/homelab?ref=main')
  })

  it('another forge over ssh: its host, and no keys (they must be added by hand)', () => {
    const file = JSON.parse(gitAccessOf(reference, 'ssh://git@git.example.org/u/homelab'))
    expect(file).toMatchObject({forge: 'git.example.org', forgeHostKeys: [], method: 'deploy-key'})
    expect(gitAccessFileSchema.safeParse(file).success).toBe(false)
  })
})
