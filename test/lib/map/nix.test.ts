// The Nix attributes the map reads without evaluating: each form the reader accepts, and what it leaves out.
import {describe, expect, it} from 'vitest'

import {firewallPorts, flakeInputs, k3sRole, lockedRevs, stripNixComments, systemdUnits} from '../../../src/lib/map/nix.js'

describe('map: Nix readers', () => {
  it('strips # and /* */ comments but keeps them inside strings', () => {
    expect(stripNixComments('a = 1; # c\nb = "x # y"; /* z */ c = 2;')).toBe('a = 1; \nb = "x # y";  c = 2;')
  })

  it('firewall ports from the attribute set and from full paths; commented ports do not count', () => {
    const text = `
      networking.firewall = {
        enable = true;
        allowedTCPPorts = [ 22 6443 ]; # allowedTCPPorts = [ 80 ];
        allowedUDPPorts = [ ];
      };
      networking.firewall.allowedUDPPorts = [ 51820 ];
      networking.firewall.allowedTCPPorts = [ 22 ];`
    expect(firewallPorts(text)).toEqual({tcp: [22, 6443], udp: [51820]})
    expect(firewallPorts('{ }')).toEqual({tcp: [], udp: []})
    // The per-interface node ports the module builds in a let binding are not global ports.
    const module = `let nodePorts = { allowedTCPPorts = [ 10250 ]; allowedUDPPorts = [ 8472 ]; }; in {
      networking.firewall = { allowedTCPPorts = [ 22 6443 ]; interfaces = lib.mkIf multiNode { enp1s0 = nodePorts; }; };
    }`
    expect(firewallPorts(module)).toEqual({tcp: [22, 6443], udp: []})
  })

  it('services.k3s.role in a block (not a nested block\'s role) or written in full; null when absent', () => {
    expect(k3sRole('services.k3s = { enable = true; x = { role = "nested"; }; role = "agent"; };')).toBe('agent')
    expect(k3sRole('services.k3s.role = "server";')).toBe('server')
    expect(k3sRole('services.k3s = { enable = true; };')).toBeNull()
    expect(k3sRole('services.other.role = "server";')).toBeNull()
  })

  it('systemd units, bare and quoted names, sorted', () => {
    expect(systemdUnits('systemd.services.kopia-backup = {}; systemd.timers.kopia-backup = {}; systemd.services."x@" = {}; # systemd.services.gone = {};')).toEqual([
      'kopia-backup.service',
      'kopia-backup.timer',
      'x@.service',
    ])
  })

  it('flake inputs in the three forms, and locked revisions from flake.lock', () => {
    const flake = `{
      inputs = {
        nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
        disko = { url = "github:nix-community/disko"; inputs.nixpkgs.follows = "nixpkgs"; };
        disko.inputs.other.follows = "nixpkgs";
        # gone.url = "github:x/y";
      };
      outputs = { self, ... }: { inputs = { fake.url = "no"; }; };
    }`
    expect(flakeInputs(flake)).toEqual([
      {follows: {nixpkgs: 'nixpkgs', other: 'nixpkgs'}, name: 'disko', url: 'github:nix-community/disko'},
      {follows: {}, name: 'nixpkgs', url: 'github:NixOS/nixpkgs/nixos-25.11'},
    ])
    expect(flakeInputs('{ outputs = _: {}; }')).toEqual([])
    const lock = JSON.stringify({nodes: {'nixpkgs_2': {locked: {rev: 'abc'}}, root: {inputs: {nixpkgs: 'nixpkgs_2', pinned: ['a', 'b']}}}, root: 'root', version: 7})
    expect(lockedRevs(lock)).toEqual({nixpkgs: 'abc'})
    expect(() => lockedRevs('{')).toThrow(SyntaxError)
  })
})
