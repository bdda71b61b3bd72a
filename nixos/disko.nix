# Disk layout of the homelab host (disko): one NVMe or SATA disk, GPT, a 1 GiB EFI system
# partition on /boot and the rest as ext4 on /. App data lives in /srv on the root file system.
# The disk is `homelab.diskDevice` (configuration.nix). Generate the host's
# hardware-configuration.nix with `nixos-generate-config --no-filesystems`: disko owns fileSystems.
{ config, ... }:
{
  disko.devices.disk.main = {
    type = "disk";
    device = config.homelab.diskDevice;
    content = {
      type = "gpt";
      partitions = {
        ESP = {
          size = "1G";
          type = "EF00";
          content = {
            type = "filesystem";
            format = "vfat";
            mountpoint = "/boot";
            mountOptions = [ "umask=0077" ];
          };
        };
        root = {
          size = "100%";
          content = {
            type = "filesystem";
            format = "ext4";
            mountpoint = "/";
          };
        };
      };
    };
  };
}
