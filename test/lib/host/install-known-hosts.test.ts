import {describe, expect, it} from 'vitest'

import {pinInstalledHostKey} from '../../../src/lib/host/install/known-hosts-pin.js'

const KEY = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)])
const B64 = KEY.toString('base64')

describe('pinInstalledHostKey', () => {
  it('appends the new key and keeps comments and other hosts', () => {
    const before = '# pinned keys\nother ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n'
    const {removed, text} = pinInstalledHostKey(before, ['azalab-0'], 'azalab-0', KEY)
    expect(removed).toEqual([])
    expect(text).toBe(`${before}azalab-0 ssh-ed25519 ${B64}\n`)
  })

  it('replaces the old keys of the reinstalled host (also under its HostName), leaves @revoked lines', () => {
    const before = [
      '# pinned keys',
      'azalab-0 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      '10.0.0.5 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ==',
      '@revoked azalab-0 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      'other ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      '',
    ].join('\n')
    const {removed, text} = pinInstalledHostKey(before, ['azalab-0', '10.0.0.5'], 'azalab-0', KEY)
    expect(removed).toEqual([2, 3])
    expect(text.split('\n')).toEqual([
      '# pinned keys',
      '@revoked azalab-0 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      'other ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      `azalab-0 ssh-ed25519 ${B64}`,
      '',
    ])
  })

  it('pins a non-default port as [host]:port into an empty file', () => {
    expect(pinInstalledHostKey('', ['[h]:2222'], '[h]:2222', KEY).text).toBe(`[h]:2222 ssh-ed25519 ${B64}\n`)
  })
})
