# A homelab host: a k3s node (the server, or an agent joining it) reached over SSH, with host secrets from sops-nix,
# app storage under /srv, Kopia backups (./backup.nix) and root's access to this repository
# (./git-access.nix). Flux runs everything else in the cluster from flux/clusters/<cluster>/;
# public traffic arrives only through the Cloudflare Tunnel (cloudflared runs in the cluster),
# so the firewall opens SSH and the k3s API only, plus (several hosts) k3s's node ports on the
# interfaces homelab.yaml names.
#
# Options live under `homelab.*`; nixos/configuration.nix sets them for azalab-0, and
# templates/host-bootstrap/configuration.nix for a new host. The flake (../flake.nix) imports
# this module and ./disko.nix exactly once (nixosModules.default) and sets `homelab.source` and
# `homelab.revision` from its own `self`; configuration.nix holds values only.
#
# Host secrets the module set declares (nixos/secrets/host-secrets.sops.yaml; sops-nix fails the
# build, "the key '…' cannot be found", when one is missing): admin/password_hash, and
# git/deploy_key or git/access_tokens (./git-access.nix, by git-access.json's method), and with
# backups on kopia/repository_password, r2/access_key_id, r2/secret_access_key, r2/account_id;
# with more than one host in ./hosts.json, k3s/token (the cluster token every node shares,
# created by `homelab host add`).
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

  # The homelab's hosts (written by the CLI from homelab.yaml: src/lib/config/hosts-file.ts).
  # This host's entry gives its k3s role and node labels; the server's `address` is what an
  # agent joins. One host: the single-node server of before (no token secret, no node ports).
  hostList = (builtins.fromJSON (builtins.readFile cfg.hostsFile)).hosts or [ ];
  multiNode = builtins.length hostList > 1;
  named = builtins.filter (h: h.name == cfg.hostName) hostList;
  thisHost = if named == [ ] then { role = "server"; labels = { }; nodeInterfaces = [ ]; } else builtins.head named;
  role = thisHost.role or "server";
  servers = builtins.filter (h: (h.role or "server") == "server") hostList;
  serverAddress = if servers == [ ] then "" else (builtins.head servers).address;
  isServer = role == "server";
  labels = thisHost.labels or { };
  serverTokenFile = "/run/homelab/k3s-server-token";
  # The labels a kubelet may give its own node with --node-labels (k3s --node-label): none in the
  # kubernetes.io or k8s.io namespaces but kubelet.kubernetes.io/ and node.kubernetes.io/ (the
  # NodeRestriction rule, kubernetes.io/docs/reference/access-authn-authz/admission-controllers/
  # #noderestriction; the kubelet refuses to start otherwise: k3s-io/k3s#1289). The others (e.g.
  # node-role.kubernetes.io/worker) are set by `homelab deploy` with `kubectl label` on the server.
  selfLabel = k:
    let domain = builtins.elemAt (builtins.match "(([^/]+)/)?.*" k) 1;
    in domain == null
      || builtins.match "(.+[.])?(kubernetes|k8s)[.]io" domain == null
      || builtins.match "(.+[.])?(kubelet|node)[.]kubernetes[.]io" domain != null;

  # Only this host's storage: an app's folder lives on the node its PersistentVolume is pinned
  # to (storage.json apps[].node; absent = the server).
  serverName = if servers == [ ] then cfg.hostName else (builtins.head servers).name;
  localApps = builtins.filter (app: (app.node or serverName) == cfg.hostName) apps;

  # k3s's inbound rules between nodes (docs.k3s.io/installation/requirements#inbound-rules-for-k3s-nodes):
  # 6443/tcp supervisor and API server (agents -> server), 8472/udp flannel VXLAN (all nodes),
  # 10250/tcp kubelet metrics (all nodes). Opened only on the interfaces homelab.yaml names for
  # the node (hosts[].nodeInterfaces); 6443 is already open on every interface (the operator).
  nodePorts = {
    allowedTCPPorts = [ 10250 ] ++ lib.optionals isServer [ 6443 ];
    allowedUDPPorts = [ 8472 ];
  };
in
{
  imports = [
    ./backup.nix
    ./git-access.nix
  ];

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

    hostsFile = mkOption {
      type = types.path;
      default = ./hosts.json;
      description = "JSON list of the homelab's hosts {hosts:[{name,role,address,labels,nodeInterfaces,configuration}]}, written by the CLI from homelab.yaml.";
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
    }) apps ++ [
      {
        assertion = hostList == [ ] || named != [ ];
        message = "homelab: host ${cfg.hostName} is not in ${toString cfg.hostsFile} (add it with `homelab host add`)";
      }
      {
        assertion = isServer || serverAddress != "";
        message = "homelab: agent ${cfg.hostName} has no k3s server to join (no host with role server in ${toString cfg.hostsFile})";
      }
    ];

    networking.hostName = cfg.hostName;
    networking.networkmanager.enable = true;
    # k3s's pod network is not NetworkManager's: left managed, NM takes the bridge, the flannel
    # VXLAN device and every pod's veth (and may reconfigure them). nixpkgs
    # nixos/modules/services/networking/networkmanager.nix: unmanaged (listOf str) becomes
    # [keyfile] unmanaged-devices; entries in NetworkManager.conf(5) "Device List Format"
    # (interface-name:<name>, `*` globs).
    networking.networkmanager.unmanaged = [
      "interface-name:cni0"
      "interface-name:flannel.*"
      "interface-name:veth*"
    ];
    time.timeZone = cfg.timeZone;

    boot.loader.systemd-boot.enable = true;
    # The 1 GiB ESP (./disko.nix) holds a kernel + initrd per entry: keep the newest 10
    # (nixpkgs nixos/modules/system/boot/loader/systemd-boot/systemd-boot.nix: nullOr int).
    boot.loader.systemd-boot.configurationLimit = 10;
    boot.loader.efi.canTouchEfiVariables = true;

    nix.settings.experimental-features = [ "nix-command" "flakes" ];
    # Every deploy adds a generation; without collection /nix fills up. nixpkgs
    # nixos/modules/services/misc/nix-gc.nix: automatic (bool), dates (systemd calendar), options.
    nix.gc = {
      automatic = true;
      dates = "weekly";
      options = "--delete-older-than 30d";
    };
    nix.settings.auto-optimise-store = true;

    # Only SSH and the k3s API. Apps are published by cloudflared's outbound tunnel, so no
    # ingress port is opened. Pod traffic (cni0, flannel) is trusted so pods reach the node
    # (kubelet, API server); that opens nothing to the LAN.
    networking.firewall = {
      enable = true;
      allowedTCPPorts = [ 22 6443 ];
      allowedUDPPorts = [ ];
      trustedInterfaces = [ "cni0" "flannel.1" ];
      # nixpkgs nixos/modules/services/networking/firewall.nix: interfaces (attrsOf submodule of
      # allowedTCPPorts/allowedUDPPorts/…, "Interface-specific open ports"), honoured by both
      # the iptables and the nftables backend (firewall-iptables.nix, firewall-nftables.nix).
      interfaces = lib.mkIf multiNode (builtins.listToAttrs (map (name: { inherit name; value = nodePorts; }) (thisHost.nodeInterfaces or [ ])));
    };

    # Key-only SSH; no root login. sudo asks adminUser's password: the host secret
    # admin/password_hash (below).
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

    # The admin's password hash (sha-512 or yescrypt crypt(3) string) is a host secret. sops-nix
    # README "Setting a user's password" / modules/sops/default.nix: neededForUsers decrypts it to
    # /run/secrets-for-users/ before NixOS creates users (root-owned only).
    sops.secrets."admin/password_hash".neededForUsers = true;
    # nixpkgs nixos/modules/config/users-groups.nix: with mutableUsers = true the password options
    # set the password "only when the user is created for the first time"; with false, "they
    # will always be set according to the password options". The secret is authoritative: change
    # it with `homelab secrets set` + deploy (a `passwd` change is lost at the next activation).
    users.mutableUsers = false;

    # The docker group exists for the operator's tools; k3s brings its own containerd.
    users.groups.docker = { };
    users.users.${cfg.adminUser} = {
      isNormalUser = true;
      description = "homelab operator";
      shell = pkgs.fish;
      extraGroups = [ "wheel" "networkmanager" "docker" ];
      openssh.authorizedKeys.keys = cfg.adminSshKeys;
      hashedPasswordFile = config.sops.secrets."admin/password_hash".path;
    };

    # k3s: the server (control plane; Traefik off, cloudflared routes straight to Services;
    # kubeconfig /etc/rancher/k3s/k3s.yaml, root only: `sudo k3s kubectl`), or an agent joining
    # it at https://<server address>:6443. nixpkgs nixos/modules/services/cluster/k3s/default.nix
    # (nixos-25.11): role (enum server|agent), serverAddr (str, `--server`), tokenFile (nullOr
    # path, `--token-file`), disable (listOf str, one `--disable` each), nodeName (nullOr str,
    # `--node-name`), extraFlags (either str (listOf str)). Node labels go through extraFlags as
    # `--node-label=k=v` (docs.k3s.io/cli/agent "Node": repeatable flag), which every k3s module
    # version passes on. `--disable`, `--write-kubeconfig-mode` and `--secrets-encryption` are
    # server flags (docs.k3s.io/cli/server); `k3s agent` refuses them.
    services.k3s = {
      enable = true;
      inherit role;
      disable = lib.optionals isServer [ "traefik" ];
      nodeName = cfg.hostName;
      # An IPv6 address goes in brackets in a URL (RFC 3986 host = IP-literal).
      serverAddr = lib.mkIf (!isServer) "https://${if builtins.match ".*:.*" serverAddress != null then "[${serverAddress}]" else serverAddress}:6443";
      # The cluster token, shared: each agent joins with it, the server is started with it.
      # A server that ran before without a token file generated its own (kept in
      # /var/lib/rancher/k3s/server/token, and it encrypts k3s's bootstrap data: docs.k3s.io/cli/token),
      # so host secret k3s/token must hold THAT token, not a new one; a different one needs
      # `k3s token rotate` on the server first (k3s-io/k3s#4640: "bootstrap data already found
      # and encrypted with different token"). That file holds the full ("secure") token,
      # K10<CA hash>::server:<password>: agents join with it (they check the server's CA
      # against the hash), the server gets only the password part (below), since a server
      # rebuilt with a new CA would refuse a full token naming the old CA's hash.
      tokenFile = lib.mkIf multiNode (if isServer then serverTokenFile else config.sops.secrets."k3s/token".path);
      # Node labels: k3s applies --node-label when the node registers, not to a node that exists
      # already (docs.k3s.io/cli/agent "Node"): `homelab deploy` applies later edits with
      # `kubectl label --overwrite` on the server (src/lib/deploy/node-labels.ts).
      # --flannel-iface: flannel's VXLAN on the interface whose node ports are open (below),
      # not on the default route's (docs.k3s.io/cli/agent "Networking": --flannel-iface).
      extraFlags = lib.optionals isServer [
        "--write-kubeconfig-mode=0600"
        "--secrets-encryption"
      ] ++ lib.optionals (multiNode && (thisHost.nodeInterfaces or [ ]) != [ ]) [
        "--flannel-iface=${builtins.head thisHost.nodeInterfaces}"
      ] ++ map (k: "--node-label=${k}=${labels.${k}}") (builtins.filter selfLabel (builtins.attrNames labels))
        ++ lib.optionals isServer cfg.k3s.extraFlags;
    };

    sops.secrets."k3s/token" = lib.mkIf multiNode { };

    # The server's token file: the password part of k3s/token (a full token's `K10<hash>::server:`
    # prefix cut; a short token passes as it is), written before k3s starts, root only.
    systemd.services.homelab-k3s-server-token = lib.mkIf (multiNode && isServer) {
      description = "k3s server token: the password part of host secret k3s/token";
      requiredBy = [ "k3s.service" ];
      before = [ "k3s.service" ];
      serviceConfig = { Type = "oneshot"; RemainAfterExit = true; UMask = "0077"; };
      script = ''
        mkdir -p ${builtins.dirOf serverTokenFile}
        sed -E 's/^K10[0-9a-f]+::[^:]+://' ${config.sops.secrets."k3s/token".path} > ${serverTokenFile}.tmp
        mv ${serverTokenFile}.tmp ${serverTokenFile}
      '';
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

    # /srv/<app> for every app of storage.json on this host, before k3s mounts them (hostPath type Directory).
    # Only the apps whose storage node is this host (all of them on a single host).
    systemd.tmpfiles.rules = [ "d ${cfg.storageRoot} 0755 root root -" ] ++ map appFolderRule localApps;

    # The exact source this generation was built from, read-only (a Nix store path).
    environment.etc."homelab/source" = lib.mkIf (cfg.source != null) { source = cfg.source; };

    system.configurationRevision = lib.mkIf (cfg.revision != null) cfg.revision;

    # fluxcd: the flux CLI of the host's pinned nixpkgs (`homelab cluster bootstrap` runs it on
    # the host; nixpkgs pkgs/by-name/fl/fluxcd).
    environment.systemPackages = with pkgs; [
      git
      jq
      sops
      age
      fluxcd
    ];
  };
}
