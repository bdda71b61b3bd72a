# {{hostName}}: a host added with `homelab host add`. Goes to nixos/hosts/{{hostName}}/configuration.nix
# of the homelab repository; its host bootstrap flake (nixos/hosts/{{hostName}}/flake.nix, copied to
# /etc/nixos/flake.nix on the host) imports it from the pinned `homelab` input. The shared values
# (admin, keys, domain, time zone, storage root) live in nixos/configuration.nix, once; the k3s
# role, server address and node labels come from nixos/hosts.json (homelab.yaml hosts:).
{ ... }:
{
  imports = [ ../../configuration.nix ];

  homelab.hostName = "{{hostName}}";
  # The disk disko partitions at installation; check it with `lsblk` first.
  homelab.diskDevice = "{{diskDevice}}";
}
