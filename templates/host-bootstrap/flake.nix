# Host bootstrap flake of {{hostName}}: install it as /etc/nixos/flake.nix on the host, next to
# the host's hardware-configuration.nix (`nixos-generate-config --no-filesystems`). It pins
# nixpkgs, sops-nix, disko and the homelab repository in /etc/nixos/flake.lock; the repository
# is never cloned on the host. Deploy: `homelab deploy` (or, by hand, `sudo nix flake update homelab --flake
# /etc/nixos && sudo nixos-rebuild switch --flake /etc/nixos#{{hostName}}`).
{
  description = "{{hostName}} host bootstrap flake";

  # This flake owns nixpkgs, sops-nix and disko, and the `homelab` input follows all three.
  # Why: the homelab repository commits no flake.lock, so a transitive input that is not
  # followed is locked afresh (newest commit) each time `nix flake update homelab` runs:
  # sops-nix and disko would float with every deploy.
  # Followed, they are pinned in /etc/nixos/flake.lock and move only with
  # `nix flake update nixpkgs sops-nix disko`; `nix flake update homelab` moves the homelab alone.
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
    # The homelab repository: nixosModules.default + nixos/configuration.nix.
    # Fetched by root with the access of nixos/git-access.json (deploy key or token).
    homelab = {
      url = "{{homelabFlakeUrl}}";
      inputs.nixpkgs.follows = "nixpkgs";
      inputs.sops-nix.follows = "sops-nix";
      inputs.disko.follows = "disko";
    };
  };

  outputs =
    { nixpkgs, homelab, ... }:
    {
      nixosConfigurations."{{hostName}}" = nixpkgs.lib.nixosSystem {
        modules = [
          homelab.nixosModules.default
          "${homelab}/{{hostConfiguration}}"
          ./hardware-configuration.nix
        ];
      };
    };
}
