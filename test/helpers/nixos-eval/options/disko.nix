# Stand-in for disko's NixOS module (nix-community/disko module.nix, lib/types/{disk,gpt,
# filesystem}.nix): disko.devices.disk.<name> with the gpt table and filesystem contents
# nixos/disko.nix uses, with their real types.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  optD = type: default: mkOption { inherit type default; };
  filesystem = types.submodule {
    options = {
      type = mkOption { type = types.enum [ "filesystem" ]; };
      format = mkOption { type = types.str; };
      mountpoint = optD (types.nullOr types.str) null;
      mountOptions = optD (types.listOf types.str) [ "defaults" ];
    };
  };
  gpt = types.submodule {
    options = {
      type = mkOption { type = types.enum [ "gpt" ]; };
      partitions = optD (types.attrsOf (types.submodule {
        options = {
          # lib/types/gpt.nix: a 4-hex-digit sgdisk code or a GUID
          type = optD (types.either (types.strMatching "[A-Fa-f0-9]{4}") (types.strMatching "[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}")) "8300";
          size = optD (types.either (types.enum [ "100%" ]) (types.strMatching "[0-9]+[KMGTP]?")) "0";
          content = optD (types.nullOr filesystem) null;
        };
      })) { };
    };
  };
in
{
  options.disko.devices.disk = optD (types.attrsOf (types.submodule {
    options = {
      type = optD (types.enum [ "disk" ]) "disk";
      device = mkOption { type = types.strMatching "/.*"; };
      content = mkOption { type = gpt; };
    };
  })) { };
}
