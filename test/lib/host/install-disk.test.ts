import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {readDiskDevice} from '../../../src/lib/host/install/disk.js'
import {REPO_ROOT} from '../../helpers/cli.js'

const temps: string[] = []
afterAll(() => {
  for (const dir of temps) rmSync(dir, {force: true, recursive: true})
})

function repoWith(text: string): string {
  const root = mkdtempSync(path.join(tmpdir(), 'homelab-disk-'))
  temps.push(root)
  mkdirSync(path.join(root, 'nixos'))
  writeFileSync(path.join(root, 'nixos/configuration.nix'), text)
  return root
}

describe('readDiskDevice', () => {
  it('reads homelab.diskDevice of the bundled host values file', async () => {
    expect(await readDiskDevice(REPO_ROOT)).toBe('/dev/nvme0n1')
  })

  it('evaluates a value file (a let binding, not a literal) with nix', async () => {
    const root = repoWith('{ ... }:\nlet disk = "/dev/disk/by-id/" + "nvme-x"; in\n{ homelab = { hostName = "h"; diskDevice = disk; }; }\n')
    expect(await readDiskDevice(root)).toBe('/dev/disk/by-id/nvme-x')
  })

  it('falls back to the one literal when the file does not evaluate alone (it uses lib)', async () => {
    const root = repoWith('{ lib, ... }:\n{\n  homelab.diskDevice = "/dev/sda";\n  networking.firewall.enable = lib.mkForce true;\n  x = lib.mkIf true 1;\n  homelab.hostName = lib.toLower "H";\n}\n')
    expect(await readDiskDevice(root)).toBe('/dev/sda')
  })

  it('refuses a file without a single /dev/ disk, naming file and key', async () => {
    await expect(readDiskDevice(repoWith('{ ... }: { homelab.hostName = "h"; }\n'))).rejects.toThrow('nixos/configuration.nix: no single homelab.diskDevice = "/dev/…"')
    await expect(readDiskDevice(repoWith('{ ... }: { homelab.diskDevice = "sda"; }\n'))).rejects.toThrow('no single homelab.diskDevice')
  })
})
