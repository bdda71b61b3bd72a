# Evaluates the homelab's whole NixOS module set outside NixOS, the way nixosSystem would put
# it together: the repository flake's own nixosModules.default (its `imports` and settings, with
# sops-nix and disko replaced by ./options/sops-nix.nix and ./options/disko.nix), then
# nixos/configuration.nix, plus ./options/nixos.nix declaring the nixpkgs options they set.
# Undeclared options and values of the wrong type fail, as in NixOS.
#
#   nix-instantiate --eval --strict --json test/helpers/nixos-eval/eval.nix --arg repo ./.
#   … --arg lib 'import /path/to/nixpkgs/lib'   (nixpkgs' own lib.evalModules instead of the stub)
#   … --arg extraModules '[ ./my-test-module.nix ]'
#   … --argstr configuration nixos/hosts/<name>/configuration.nix   (another host of hosts.json)
#
# Returns `summary` (the values the tests check) and, with the stub lib, `importCounts`.
{ repo, lib ? import ./stub-lib.nix, extraModules ? [ ], configuration ? "nixos/configuration.nix" }:
let
  stub = name: { type = "derivation"; inherit name; outPath = "/nix/store/00000000000000000000000000000000-${name}"; };
  # Only the packages the modules use; any other name fails (like a wrong attribute of pkgs).
  pkgs = builtins.listToAttrs (map (name: { inherit name; value = stub name; }) [
    "age" "bash" "coreutils" "findutils" "fish" "fluxcd" "gawk" "git" "gnugrep" "gnused" "jq" "k3s" "kopia" "postgresql" "rclone" "sops" "sqlite" "util-linux"
  ]) // {
    writeText = name: _text: stub name;
    writeShellScriptBin = name: _text: stub name;
  };

  flake = import (repo + "/flake.nix");
  outputs = flake.outputs {
    self = { outPath = repo; rev = "0123456789abcdef0123456789abcdef01234567"; };
    nixpkgs.lib = lib;
    sops-nix.nixosModules.sops = ./options/sops-nix.nix;
    disko.nixosModules.disko = ./options/disko.nix;
  };

  evaluated = lib.evalModules {
    modules = [ ./options/nixos.nix outputs.nixosModules.default (repo + "/${configuration}") ] ++ extraModules;
    specialArgs = { inherit pkgs; };
  };
  config = evaluated.config;
  names = attrs: builtins.attrNames attrs;
  pkgNames = map (p: p.name);
in
{
  usedStubLib = lib.stub or false;
  importCounts = evaluated.importCounts or null;
  # The flake's nixosConfigurations names (one per host of nixos/hosts.json; values not forced).
  hostConfigurations = names outputs.nixosConfigurations;
  summary = {
    failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
    hostName = config.networking.hostName;
    networkmanager = { inherit (config.networking.networkmanager) enable unmanaged; };
    firewall = config.networking.firewall;
    diskDevice = config.homelab.diskDevice;
    systemdBoot = config.boot.loader.systemd-boot;
    nix = {
      settings = config.nix.settings;
      gc = config.nix.gc;
      extraOptions = config.nix.extraOptions;
    };
    openssh = { inherit (config.services.openssh) enable ports openFirewall settings; };
    ssh = {
      knownHosts = builtins.mapAttrs (_: h: { inherit (h) hostNames publicKey certAuthority; }) config.programs.ssh.knownHosts;
      extraConfig = config.programs.ssh.extraConfig;
    };
    users = {
      mutableUsers = config.users.mutableUsers;
      users = builtins.mapAttrs (_: u: {
        inherit (u) isNormalUser extraGroups hashedPasswordFile;
        shell = if u.shell == null then null else u.shell.name;
        keys = u.openssh.authorizedKeys.keys;
      }) config.users.users;
      groups = names config.users.groups;
    };
    k3s = { inherit (config.services.k3s) enable role disable nodeName extraFlags tokenFile serverAddr clusterInit; };
    # The oneshot that gives the server the password part of k3s/token (several hosts only).
    k3sServerToken = let s = config.systemd.services; in
      if s ? homelab-k3s-server-token then { inherit (s.homelab-k3s-server-token) script requiredBy before serviceConfig; } else null;
    sops = {
      inherit (config.sops) defaultSopsFormat;
      defaultSopsFile = toString config.sops.defaultSopsFile;
      ageKeyFile = config.sops.age.keyFile;
      secrets = builtins.mapAttrs (_: s: { inherit (s) key path mode neededForUsers; sopsFile = toString s.sopsFile; }) config.sops.secrets;
      templates = builtins.mapAttrs (_: t: { inherit (t) path content; }) config.sops.templates;
    };
    disko = builtins.mapAttrs (_: d: {
      inherit (d) type device;
      content = {
        inherit (d.content) type;
        partitions = builtins.mapAttrs (_: p: { inherit (p) type size; content = if p.content == null then null else { inherit (p.content) type format mountpoint mountOptions; }; }) d.content.partitions;
      };
    }) config.disko.devices.disk;
    tmpfiles = config.systemd.tmpfiles.rules;
    systemdServices = names config.systemd.services;
    systemdTimers = names config.systemd.timers;
    # Where this host's kopia-r2-sync copies its repository and writes its marker (nixos/backup.nix).
    offsiteSync = let env = (config.systemd.services.kopia-r2-sync or { environment = { }; }).environment; in {
      bucket = env.R2_BUCKET or null;
      prefix = env.R2_PREFIX or null;
      markerKey = env.R2_MARKER_KEY or null;
    };
    etc = builtins.mapAttrs (_: e: toString e.source) config.environment.etc;
    systemPackages = pkgNames config.environment.systemPackages;
    revision = config.system.configurationRevision;
    stateVersion = config.system.stateVersion;
    timeZone = config.time.timeZone;
  };
}
