# The homelab host: a single-node k3s server reached over SSH, with host secrets from sops-nix,
# app storage under /srv and Kopia backups (./backup.nix). Flux runs everything else in the
# cluster from flux/clusters/<cluster>/; public traffic arrives only through the Cloudflare
# Tunnel (cloudflared runs in the cluster), so the firewall opens SSH and the k3s API only.
#
# Options live under `homelab.*`; nixos/configuration.nix sets them for azalab-0, and
# templates/host-bootstrap/configuration.nix for a new host. The flake (../flake.nix) sets
# `homelab.source` and `homelab.revision` from its own `self`.
{ config, lib, pkgs, ... }:
let
  cfg = config.homelab;
  inherit (lib) mkOption types;

  # The single list of app storage folders (also read by the CLI: src/lib/config/load.ts).
  storage = builtins.fromJSON (builtins.readFile cfg.storageFile);
  apps = storage.apps or [ ];

  # systemd-tmpfiles line for one app folder: created at boot, owner and mode enforced.
  # Defaults match the CLI's schema (src/lib/config/schema.ts storageAppSchema).
  appFolderRule =
    app: "d ${app.path} ${app.mode or "0750"} ${toString (app.uid or 0)} ${toString (app.gid or 0)} -";
in
{
  imports = [ ./backup.nix ];

  options.homelab = {
    hostName = mkOption {
      type = types.strMatching "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
      example = "azalab-0";
      description = "Host name; also the nixosConfigurations name in the host bootstrap flake.";
    };

    adminUser = mkOption {
      type = types.str;
      default = "aiden";
      description = "The operator's login: fish shell, SSH keys only, member of wheel (sudo).";
    };

    adminSshKeys = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... aiden@laptop" ];
      description = "OpenSSH public keys allowed to log in as adminUser (password login is off).";
    };

    domain = mkOption {
      type = types.str;
      example = "aza.network";
      description = "Public DNS zone of the apps (Cloudflare Tunnel routes <app>.<domain>).";
    };

    timeZone = mkOption {
      type = types.str;
      default = "UTC";
      description = "time.timeZone of the host (backup schedules are in this zone).";
    };

    storageRoot = mkOption {
      type = types.str;
      default = "/srv";
      description = "Folder holding every app's data as <storageRoot>/<app> (hostPath PersistentVolumes).";
    };

    storageFile = mkOption {
      type = types.path;
      default = ./storage.json;
      description = "JSON list of app storage folders {apps:[{name,path,uid,gid,mode}], extraBackupSources}.";
    };

    diskDevice = mkOption {
      type = types.str;
      default = "/dev/nvme0n1";
      description = "The disk ./disko.nix partitions (a /dev/disk/by-id path is safest).";
    };

    source = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "The pinned homelab flake source, linked read-only at /etc/homelab/source (set by the flake).";
    };

    revision = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Git revision of the homelab flake (self.rev, or dirtyRev); becomes system.configurationRevision.";
    };

    k3s.extraFlags = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Extra k3s server flags, after the module's own.";
    };
  };

  config = {
    assertions = map (app: {
      assertion = lib.hasPrefix "${cfg.storageRoot}/" app.path;
      message = "homelab: storage path ${app.path} of app ${app.name} is not under ${cfg.storageRoot}";
    }) apps;

    networking.hostName = cfg.hostName;
    networking.networkmanager.enable = true;
    time.timeZone = cfg.timeZone;

    boot.loader.systemd-boot.enable = true;
    boot.loader.efi.canTouchEfiVariables = true;

    nix.settings.experimental-features = [ "nix-command" "flakes" ];

    # Only SSH and the k3s API. Apps are published by cloudflared's outbound tunnel, so no
    # ingress port is opened. Pod traffic (cni0, flannel) is trusted so pods reach the node
    # (kubelet, API server); that opens nothing to the LAN.
    networking.firewall = {
      enable = true;
      allowedTCPPorts = [ 22 6443 ];
      allowedUDPPorts = [ ];
      trustedInterfaces = [ "cni0" "flannel.1" ];
    };

    # Key-only SSH; no root login. sudo asks adminUser's password (set it once with `passwd`).
    services.openssh = {
      enable = true;
      ports = [ 22 ];
      openFirewall = false; # port 22 is listed above
      settings = {
        PasswordAuthentication = false;
        KbdInteractiveAuthentication = false;
        PermitRootLogin = "no";
      };
    };

    programs.fish.enable = true;

    # The docker group exists for the operator's tools; k3s brings its own containerd.
    users.groups.docker = { };
    users.users.${cfg.adminUser} = {
      isNormalUser = true;
      description = "homelab operator";
      shell = pkgs.fish;
      extraGroups = [ "wheel" "networkmanager" "docker" ];
      openssh.authorizedKeys.keys = cfg.adminSshKeys;
    };

    # Single-node k3s server. Traefik is off: cloudflared routes straight to Services.
    # kubeconfig: /etc/rancher/k3s/k3s.yaml, root only (use `sudo k3s kubectl`).
    services.k3s = {
      enable = true;
      role = "server";
      extraFlags = [
        "--disable=traefik"
        "--write-kubeconfig-mode=0600"
        "--secrets-encryption"
        "--node-name=${cfg.hostName}"
      ] ++ cfg.k3s.extraFlags;
    };

    # Host secrets, decrypted at activation into /run/secrets. The age identity is put on the
    # host once (never in the Nix store): /var/lib/sops-nix/key.txt, mode 0600.
    sops = {
      defaultSopsFile = ./secrets/host-secrets.sops.yaml;
      defaultSopsFormat = "yaml";
      age.keyFile = "/var/lib/sops-nix/key.txt";
      age.generateKey = false;
      age.sshKeyPaths = [ ];
      gnupg.sshKeyPaths = [ ];
    };

    # /srv/<app> for every app of storage.json, before k3s mounts them (hostPath type Directory).
    systemd.tmpfiles.rules = [ "d ${cfg.storageRoot} 0755 root root -" ] ++ map appFolderRule apps;

    # The exact source this generation was built from, read-only (a Nix store path).
    environment.etc."homelab/source" = lib.mkIf (cfg.source != null) { source = cfg.source; };

    system.configurationRevision = lib.mkIf (cfg.revision != null) cfg.revision;

    environment.systemPackages = with pkgs; [
      git
      jq
      sops
      age
    ];
  };
}
