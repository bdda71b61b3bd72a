# {{hostName}}: the values of the homelab module for this host. Goes to nixos/configuration.nix
# of the homelab repository; the host bootstrap flake imports it from the pinned `homelab` input.
# Values only: the flake's nixosModules.default imports ./homelab-module.nix and ./disko.nix (once).
{ ... }:
{

  homelab = {
    hostName = "{{hostName}}";
    adminUser = "{{adminUser}}";
    adminSshKeys = [
      "{{sshPubKey}}"
    ];
    domain = "{{domain}}";
    storageRoot = "/srv";
    # The disk disko partitions at installation; check it with `lsblk` first.
    diskDevice = "/dev/nvme0n1";
  };

  # The NixOS release the host is installed with; never change it on an installed host.
  system.stateVersion = "25.11";
}
