# Reference copy of the host bootstrap flake: on azalab-0 this file is /etc/nixos/flake.nix,
# next to flake.lock (which pins nixpkgs and this repository) and the host's generated
# hardware-configuration.nix. `homelab deploy` updates the `homelab` input, then runs
# `nixos-rebuild switch --flake /etc/nixos#azalab-0`. For a new host: templates/host-bootstrap/.
{
  description = "azalab-0 host bootstrap flake";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
    # This repository (never cloned on the host): nixosModules.default + nixos/configuration.nix.
    homelab = {
      url = "git+ssh://git@github.com/aiden/homelab?ref=main";
      inputs.nixpkgs.follows = "nixpkgs";
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
