# Stand-in for sops-nix's NixOS module (Mic92/sops-nix modules/sops/default.nix and
# modules/sops/templates/default.nix): the options the homelab modules set or read, with their
# real types and defaults (secret path /run/secrets-for-users/<name> when neededForUsers, else
# /run/secrets/<name>; templates under /run/secrets/rendered/<name>; a placeholder per secret).
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.sops;
  optD = type: default: mkOption { inherit type default; };
in
{
  options.sops = {
    defaultSopsFile = mkOption { type = types.path; };
    defaultSopsFormat = optD types.str "yaml";
    age.keyFile = optD (types.nullOr types.path) null;
    age.generateKey = optD types.bool false;
    age.sshKeyPaths = optD (types.listOf types.path) [ ];
    gnupg.sshKeyPaths = optD (types.listOf types.path) [ ];

    secrets = optD (types.attrsOf (types.submodule ({ name, config, ... }: {
      options = {
        name = optD types.str name;
        key = optD types.str name;
        path = optD types.str (if config.neededForUsers then "/run/secrets-for-users/${config.name}" else "/run/secrets/${config.name}");
        format = optD (types.enum [ "yaml" "json" "binary" "dotenv" "ini" ]) cfg.defaultSopsFormat;
        mode = optD types.str "0400";
        owner = optD (types.nullOr types.str) null;
        group = optD (types.nullOr types.str) null;
        sopsFile = optD types.path cfg.defaultSopsFile;
        restartUnits = optD (types.listOf types.str) [ ];
        neededForUsers = optD types.bool false;
      };
    }))) { };

    templates = optD (types.attrsOf (types.submodule ({ name, config, ... }: {
      options = {
        name = optD types.singleLineStr name;
        path = optD types.singleLineStr "/run/secrets/rendered/${config.name}";
        content = optD types.lines "";
        mode = optD types.singleLineStr "0400";
        owner = optD (types.nullOr types.singleLineStr) null;
      };
    }))) { };

    placeholder = optD (types.attrsOf types.str) { };
  };

  # modules/sops/templates/default.nix: sops.placeholder.<secret> = mkDefault "<SOPS:…:PLACEHOLDER>".
  config.sops.placeholder = lib.mapAttrs (name: _: lib.mkDefault "<SOPS:${name}:PLACEHOLDER>") cfg.secrets;
}
