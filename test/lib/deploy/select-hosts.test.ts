import {describe, expect, it} from 'vitest'

import type {Homelab} from '../../../src/lib/config/load.js'
import {selectHosts} from '../../../src/lib/deploy/deploy.js'
import {UsageError} from '../../../src/lib/errors.js'

const homelab = (names: string[]) =>
  ({config: {hosts: names.map((name) => ({flakeDir: '/etc/nixos', flakeInput: 'homelab', name, ssh: name}))}}) as unknown as Homelab

describe('selectHosts (--host of deploy and rollback)', () => {
  it('picks the named host, or all of them without a name', () => {
    expect(selectHosts(homelab(['azalab-0', 'azalab-1']), 'azalab-1').map((h) => h.name)).toEqual(['azalab-1'])
    expect(selectHosts(homelab(['azalab-0', 'azalab-1'])).map((h) => h.name)).toEqual(['azalab-0', 'azalab-1'])
  })

  it('an unknown name is a usage error (exit 3) naming the hosts homelab.yaml has', () => {
    let error: unknown
    try {
      selectHosts(homelab(['azalab-0', 'azalab-1']), 'nope')
    } catch (error_) {
      error = error_
    }

    expect(error).toBeInstanceOf(UsageError)
    expect(error).toMatchObject({exitCode: 3, message: 'homelab.yaml has no host "nope" (hosts: azalab-0, azalab-1)'})
    expect((error as UsageError).suggestions[0]).toBe('use --host with one of: azalab-0, azalab-1 (or leave it out for all hosts)')
  })
})
