# Reference copy of the host bootstrap flake: on azalab-0 this file is /etc/nixos/flake.nix,
# next to flake.lock (which pins nixpkgs, sops-nix, disko and this repository) and the host's
# generated hardware-configuration.nix. `homelab deploy` updates the `homelab` input, then runs
# `nixos-rebuild switch --flake /etc/nixos#azalab-0`. For a new host: templates/host-bootstrap/.
{
  description = "azalab-0 host bootstrap flake";

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
    # This repository (never cloned on the host): nixosModules.default + nixos/configuration.nix.
    # Fetched by root with the access of nixos/git-access.json (deploy key or token).
    homelab = {
      url = "git+ssh://git@github.com/aiden/homelab?ref=main";
      inputs.nixpkgs.follows = "nixpkgs";
      inputs.sops-nix.follows = "sops-nix";
      inputs.disko.follows = "disko";
    };
  };

  outputs =
    { nixpkgs, homelab, ... }:
    {
      nixosConfigurations.azalab-0 = nixpkgs.lib.nixosSystem {
        modules = [
          homelab.nixosModules.default
          "${homelab}/nixos/configuration.nix"
          ./hardware-configuration.nix
        ];
      };
    };
}
