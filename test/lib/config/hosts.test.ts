import {describe, expect, it} from 'vitest'

import {pickHost, selectHosts, serverHost} from '../../../src/lib/config/hosts.js'
import type {Homelab} from '../../../src/lib/config/load.js'
import {UsageError} from '../../../src/lib/errors.js'

type Spec = {name: string; role?: 'agent' | 'server'; tags?: string[]}
const homelab = (specs: (Spec | string)[]) =>
  ({
    config: {
      hosts: specs.map((s) => (typeof s === 'string' ? {name: s} : s)).map((s) => ({flakeDir: '/etc/nixos', flakeInput: 'homelab', labels: {}, name: s.name, role: s.role ?? 'server', ssh: s.name, tags: s.tags ?? []})),
    },
  }) as unknown as Homelab

function usageError(fn: () => unknown): UsageError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError)
    return error as UsageError
  }

  throw new Error('expected a UsageError')
}

const three = homelab([{name: 'azalab-0'}, {name: 'azalab-1', role: 'agent', tags: ['agents', 'gpu']}, {name: 'nas-0', role: 'agent', tags: ['agents', 'storage']}])

describe('selectHosts (--host and --on of deploy, rollback, status, diff, host commands)', () => {
  it('picks the named host, or all of them without a name', () => {
    expect(selectHosts(homelab(['azalab-0', 'azalab-1']), {host: 'azalab-1'}).map((h) => h.name)).toEqual(['azalab-1'])
    expect(selectHosts(homelab(['azalab-0', 'azalab-1'])).map((h) => h.name)).toEqual(['azalab-0', 'azalab-1'])
  })

  it('an unknown name is a usage error (exit 3) naming the hosts homelab.yaml has', () => {
    const error = usageError(() => selectHosts(homelab(['azalab-0', 'azalab-1']), {host: 'nope'}))
    expect(error).toMatchObject({exitCode: 3, message: 'homelab.yaml has no host "nope" (hosts: azalab-0, azalab-1)'})
    expect(error.suggestions[0]).toBe('use --host with one of: azalab-0, azalab-1')
  })

  it('--on takes @tags, names and * globs, in homelab.yaml order, each host once', () => {
    expect(selectHosts(three, {on: '@agents'}).map((h) => h.name)).toEqual(['azalab-1', 'nas-0'])
    expect(selectHosts(three, {on: 'nas-0,@gpu,azalab-0'}).map((h) => h.name)).toEqual(['azalab-0', 'azalab-1', 'nas-0'])
    expect(selectHosts(three, {on: 'azalab-*'}).map((h) => h.name)).toEqual(['azalab-0', 'azalab-1'])
    expect(selectHosts(three, {on: '@storage,nas-0'}).map((h) => h.name)).toEqual(['nas-0'])
  })

  it('--on with a tag or name that matches nothing, an empty --on, or --on with --host is a usage error', () => {
    const error = usageError(() => selectHosts(three, {on: '@nope'}))
    expect(error.message).toBe('--on @nope: no host in homelab.yaml matches')
    expect(error.suggestions[0]).toBe('hosts: azalab-0, azalab-1, nas-0; tags: @agents, @gpu, @storage')
    expect(usageError(() => selectHosts(three, {on: 'x*'})).message).toBe('--on x*: no host in homelab.yaml matches')
    expect(usageError(() => selectHosts(three, {on: ' , '})).message).toBe('--on is empty')
    expect(usageError(() => selectHosts(three, {host: 'azalab-0', on: '@agents'})).message).toContain('give one of them')
  })

  it('pickHost without a name is the k3s server host, wherever it is listed', () => {
    const agentFirst = homelab([{name: 'azalab-1', role: 'agent'}, {name: 'azalab-0', role: 'server'}])
    expect(pickHost(agentFirst, undefined).name).toBe('azalab-0')
    expect(serverHost(agentFirst).name).toBe('azalab-0')
    expect(pickHost(agentFirst, 'azalab-1').name).toBe('azalab-1')
  })
})
