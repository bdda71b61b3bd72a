import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {locateNixosAnywhere} from '../../../src/lib/host/install/runner.js'

const temps: string[] = []
afterAll(() => {
  for (const dir of temps) rmSync(dir, {force: true, recursive: true})
})

/** A PATH of one folder holding the given scripts (stand-ins for nix and nixos-anywhere). */
function pathWith(scripts: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'homelab-runner-'))
  temps.push(dir)
  for (const [name, body] of Object.entries(scripts)) {
    writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`)
    chmodSync(path.join(dir, name), 0o755)
  }

  return dir
}

describe('locateNixosAnywhere', () => {
  it('prefers nixos-anywhere on PATH', async () => {
    const PATH = pathWith({nix: 'echo "nix (Nix) 2.24.9"', 'nixos-anywhere': 'echo usage'})
    expect(await locateNixosAnywhere({PATH})).toEqual({command: 'nixos-anywhere', kind: 'path'})
  })

  it('else nix run, when nix has flakes (2.4 or later)', async () => {
    expect(await locateNixosAnywhere({PATH: pathWith({nix: 'echo "nix (Nix) 2.24.9"'})})).toEqual({kind: 'nix-run', nix: 'nix'})
  })

  it('says in one line how to get it when nix is missing or too old', async () => {
    await expect(locateNixosAnywhere({PATH: pathWith({})})).rejects.toMatchObject({
      exitCode: 1,
      message: 'nixos-anywhere is not on PATH and nix is not installed: install Nix (https://nixos.org/download), homelab then runs nix run github:nix-community/nixos-anywhere; or put nixos-anywhere on PATH',
    })
    await expect(locateNixosAnywhere({PATH: pathWith({nix: 'echo "nix (Nix) 2.3.16"'})})).rejects.toThrow('nix 2.3 is too old for flakes (2.4 or later)')
  })
})
