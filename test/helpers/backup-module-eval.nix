# Evaluates nixos/backup.nix outside NixOS for the tests: a stub of the few nixpkgs `lib`
# functions it uses, stub store paths for pkgs, and the sops-nix options it reads (placeholders
# "@@<secret>@@", templates under /run/secrets/rendered). Returns the module's `config` content
# (systemd services and timers, sops secrets and templates) as data.
# nix-instantiate --eval --strict --json test/helpers/backup-module-eval.nix --arg module ./nixos/backup.nix --arg storageFile ./nixos/storage.json
# With `hostName` (and `hostsFile`): the sources of that host only (storage.json apps[].node).
{ module, storageFile, hostName ? null, hostsFile ? null }:
let
  lib = {
    mkOption = x: x;
    types = { bool = "bool"; path = "path"; };
    mkIf = cond: content: { _if = cond; inherit content; };
    concatLines = l: builtins.concatStringsSep "" (map (x: x + "\n") l);
    concatStrings = builtins.concatStringsSep "";
    mapAttrsToList = f: attrs: map (n: f n attrs.${n}) (builtins.attrNames attrs);
    escapeShellArg = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
    makeBinPath = ps: builtins.concatStringsSep ":" (map (p: "${p}/bin") ps);
  };
  stub = name: "/nix/store/00000000000000000000000000000000-${name}";
  pkgs = {
    writeText = name: text: { outPath = stub name; };
    writeShellScriptBin = name: text: { outPath = stub name; };
    kopia = stub "kopia";
    jq = stub "jq";
    coreutils = stub "coreutils";
    findutils = stub "findutils";
    gnugrep = stub "gnugrep";
    util-linux = stub "util-linux";
    gnused = stub "gnused";
    gawk = stub "gawk";
    sqlite = stub "sqlite";
    rclone = stub "rclone";
    bash = stub "bash";
    postgresql = stub "postgresql";
  };
  secrets = [ "kopia/repository_password" "r2/access_key_id" "r2/secret_access_key" "r2/account_id" ];
  config = {
    services.k3s.package = stub "k3s";
    homelab = {
      inherit storageFile hostName hostsFile;
      backup = { enable = true; secretsFile = "/stub/host-secrets.sops.yaml"; };
    };
    sops = {
      placeholder = builtins.listToAttrs (map (n: { name = n; value = "@@${n}@@"; }) secrets);
      templates = {
        "kopia-backup.env".path = "/run/secrets/rendered/kopia-backup.env";
        "kopia-r2-sync.env".path = "/run/secrets/rendered/kopia-r2-sync.env";
      };
    };
  };
  evaluated = import module { inherit config lib pkgs; };
in
{
  enabledIf = evaluated.config._if;
  config = evaluated.config.content;
}
