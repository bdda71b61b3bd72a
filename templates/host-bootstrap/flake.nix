# Host bootstrap flake of {{hostName}}: install it as /etc/nixos/flake.nix on the host, next to
# the host's hardware-configuration.nix (`nixos-generate-config --no-filesystems`). It pins
# nixpkgs and the homelab repository in /etc/nixos/flake.lock; the repository is never cloned
# on the host. Deploy: `homelab deploy` (or, by hand, `sudo nix flake update homelab --flake
# /etc/nixos && sudo nixos-rebuild switch --flake /etc/nixos#{{hostName}}`).
{
  description = "{{hostName}} host bootstrap flake";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
    # The homelab repository: nixosModules.default + nixos/configuration.nix.
    homelab = {
      url = "{{homelabFlakeUrl}}";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    { nixpkgs, homelab, ... }:
    {
      nixosConfigurations."{{hostName}}" = nixpkgs.lib.nixosSystem {
        modules = [
          homelab.nixosModules.default
          "${homelab}/nixos/configuration.nix"
          ./hardware-configuration.nix
        ];
      };
    };
}
