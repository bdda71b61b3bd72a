# The homelab flake. It is never cloned on the host: the host bootstrap flake in /etc/nixos
# (reference copy: nixos/flake.nix) takes this repository as its input `homelab`, pins it in
# /etc/nixos/flake.lock, and imports `nixosModules.default`.
{
  description = "azalab-0 homelab: NixOS host module (k3s, sops-nix, Kopia backups) and its Flux tree";

  # The host bootstrap flake (nixos/flake.nix) makes its `homelab` input follow its own
  # nixpkgs, sops-nix and disko: these three are what it overrides, so keep their names.
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
    sops-nix = {
      url = "github:Mic92/sops-nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    disko = {
      url = "github:nix-community/disko";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    { self, nixpkgs, sops-nix, disko, ... }:
    {
      # The host configuration. Wraps ./nixos/homelab-module.nix with the modules it needs and
      # hands it this flake's own source and revision (a module cannot see `self` otherwise).
      nixosModules.default = {
        imports = [
          sops-nix.nixosModules.sops
          disko.nixosModules.disko
          # The host module (with ./nixos/backup.nix and ./nixos/git-access.nix) and the disk
          # layout, imported here and nowhere else: nixos/configuration.nix holds values only.
          ./nixos/homelab-module.nix
          ./nixos/disko.nix
        ];
        # Exposed read-only at /etc/homelab/source (the pinned source the host runs).
        homelab.source = self.outPath;
        # `nixos-version --configuration-revision` and `nixos-rebuild list-generations --json`
        # report it; `homelab status` compares it with the commit Flux applied.
        homelab.revision = self.rev or self.dirtyRev or "dirty";
      };

      # One configuration per host of nixos/hosts.json (written by the CLI from homelab.yaml),
      # without the host's generated hardware-configuration.nix: lets
      # `nix build .#nixosConfigurations.<host>.config.system.build.toplevel` check the module on a
      # machine that can fetch nixpkgs. Each host's values file (`configuration`) imports the
      # shared nixos/configuration.nix; the real host builds from /etc/nixos (its bootstrap flake).
      nixosConfigurations = builtins.listToAttrs (map (host: {
        inherit (host) name;
        value = nixpkgs.lib.nixosSystem {
          modules = [
            self.nixosModules.default
            (./. + "/${host.configuration}")
            { nixpkgs.hostPlatform = "x86_64-linux"; }
          ];
        };
      }) (builtins.fromJSON (builtins.readFile ./nixos/hosts.json)).hosts);
    };
}
