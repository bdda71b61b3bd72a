# {{hostName}}: the values of the homelab module for this host. Goes to nixos/configuration.nix
# of the homelab repository; the host bootstrap flake imports it from the pinned `homelab` input.
# Values only: the flake's nixosModules.default imports ./homelab-module.nix and ./disko.nix (once).
# Shared by every host: a host added with `homelab host add` has nixos/hosts/<name>/configuration.nix,
# which imports this file and sets its own hostName (so hostName and the disk are defaults here).
{ lib, ... }:
{

  homelab = {
    hostName = lib.mkDefault "{{hostName}}";
    adminUser = "{{adminUser}}";
    adminSshKeys = [
      "{{sshPubKey}}"
    ];
    domain = "{{domain}}";
    storageRoot = "/srv";
    # The disk disko partitions at installation; check it with `lsblk` first.
    diskDevice = lib.mkDefault "/dev/nvme0n1";
  };

  # The NixOS release the host is installed with; never change it on an installed host.
  system.stateVersion = "25.11";
}
