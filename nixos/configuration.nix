# azalab-0: the values of the homelab module for this host (Dell Optiplex 7060, NixOS 25.11).
# The host bootstrap flake (/etc/nixos/flake.nix, reference copy ./flake.nix) imports this file
# from the pinned `homelab` input, next to the host's own hardware-configuration.nix.
# Values only: the flake's nixosModules.default imports ./homelab-module.nix and ./disko.nix (once).
# Shared by every host: a host added with `homelab host add` has nixos/hosts/<name>/configuration.nix,
# which imports this file and sets its own hostName (so hostName and the disk are defaults here).
{ lib, ... }:
{

  homelab = {
    hostName = lib.mkDefault "azalab-0";
    adminUser = "aiden";
    # The operator's laptop key (its private half is not in this repository): put yours here.
    adminSshKeys = [
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMMqW5WHMZJKDZbL10wKiW4oBMbSBTBlQqwISreseWvt aiden@laptop"
    ];
    domain = "aza.network";
    timeZone = "Australia/Sydney";
    storageRoot = "/srv";
    diskDevice = lib.mkDefault "/dev/nvme0n1";
  };

  # The NixOS release the host was installed with; never change it on an installed host.
  system.stateVersion = "25.11";
}
