# Declarations of the nixpkgs NixOS options the homelab modules set, with the types of the real
# declarations (nixpkgs nixos-25.11, file named above each). Only what the modules use is
# declared, so a typo or an option that does not exist fails the evaluation. Written with
# `lib.mkOption`/`lib.types` only: it evaluates with ../stub-lib.nix and with nixpkgs' lib.
{ lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  opt = type: mkOption { inherit type; };
  optD = type: default: mkOption { inherit type default; };
in
{
  options = {
    # nixos/modules/misc/assertions.nix
    assertions = optD (types.listOf types.unspecified) [ ];
    warnings = optD (types.listOf types.str) [ ];

    # nixos/modules/misc/version.nix
    system.stateVersion = opt types.str;
    system.configurationRevision = optD (types.nullOr types.str) null;

    # nixos/modules/tasks/network-interfaces.nix (hostName: strMatching of a host name label)
    networking.hostName = opt (types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$");
    # nixos/modules/services/networking/networkmanager.nix
    networking.networkmanager.enable = optD types.bool false;
    networking.networkmanager.unmanaged = optD (types.listOf types.str) [ ];
    # nixos/modules/services/networking/firewall.nix
    networking.firewall = {
      enable = optD types.bool true;
      allowedTCPPorts = optD (types.listOf types.port) [ ];
      allowedUDPPorts = optD (types.listOf types.port) [ ];
      trustedInterfaces = optD (types.listOf types.str) [ ];
      # interfaces.<name>: attrsOf (submodule { options = commonOptions; }), commonOptions being
      # allowedTCPPorts/allowedUDPPorts/… (listOf port); the two declared here are those set.
      interfaces = optD (types.attrsOf (types.submodule {
        options = {
          allowedTCPPorts = optD (types.listOf types.port) [ ];
          allowedUDPPorts = optD (types.listOf types.port) [ ];
        };
      })) { };
    };

    # nixos/modules/config/locale.nix
    time.timeZone = optD (types.nullOr types.str) null;

    # nixos/modules/system/boot/loader/systemd-boot/systemd-boot.nix, .../loader/efi.nix
    boot.loader.systemd-boot.enable = optD types.bool false;
    boot.loader.systemd-boot.configurationLimit = optD (types.nullOr types.int) null;
    boot.loader.efi.canTouchEfiVariables = optD types.bool false;

    # nixos/modules/config/nix.nix: settings is a submodule (freeform nix.conf keys; the two set
    # here: experimental-features, auto-optimise-store bool); extraOptions lines.
    nix.settings = optD (types.submodule {
      options = {
        experimental-features = optD (types.listOf types.str) [ ];
        auto-optimise-store = optD types.bool false;
      };
    }) { };
    nix.extraOptions = optD types.lines "";
    # nixos/modules/services/misc/nix-gc.nix
    nix.gc = {
      automatic = optD types.bool false;
      dates = optD types.singleLineStr "03:15";
      options = optD types.singleLineStr "";
    };

    # nixos/modules/services/networking/ssh/sshd.nix (settings: submodule, freeform + these)
    services.openssh = {
      enable = optD types.bool false;
      ports = optD (types.listOf types.port) [ 22 ];
      openFirewall = optD types.bool true;
      settings = optD (types.submodule {
        options = {
          PasswordAuthentication = optD types.bool true;
          KbdInteractiveAuthentication = optD types.bool true;
          PermitRootLogin = optD (types.enum [ "yes" "without-password" "prohibit-password" "forced-commands-only" "no" ]) "prohibit-password";
        };
      }) { };
    };

    # nixos/modules/programs/ssh.nix
    programs.ssh.extraConfig = optD types.lines "";
    programs.ssh.knownHosts = optD (types.attrsOf (types.submodule ({ name, config, ... }: {
      options = {
        certAuthority = optD types.bool false;
        hostNames = optD (types.listOf types.str) ([ name ] ++ config.extraHostNames);
        extraHostNames = optD (types.listOf types.str) [ ];
        publicKey = optD (types.nullOr types.str) null;
        publicKeyFile = optD (types.nullOr types.path) null;
      };
    }))) { };
    # nixos/modules/programs/fish.nix
    programs.fish.enable = optD types.bool false;

    # nixos/modules/config/users-groups.nix
    users.mutableUsers = optD types.bool true;
    users.groups = optD (types.attrsOf (types.submodule {
      options = {
        gid = optD (types.nullOr types.int) null;
        members = optD (types.listOf types.str) [ ];
      };
    })) { };
    users.users = optD (types.attrsOf (types.submodule {
      options = {
        isNormalUser = optD types.bool false;
        description = optD types.str "";
        shell = optD (types.nullOr (types.either types.package types.path)) null;
        extraGroups = optD (types.listOf types.str) [ ];
        openssh.authorizedKeys.keys = optD (types.listOf types.singleLineStr) [ ];
        hashedPasswordFile = optD (types.nullOr types.str) null;
        hashedPassword = optD (types.nullOr types.str) null;
      };
    })) { };

    # nixos/modules/services/cluster/k3s/default.nix (nixos-25.11)
    services.k3s = {
      enable = optD types.bool false;
      package = optD types.package pkgs.k3s;
      role = optD (types.enum [ "server" "agent" ]) "server";
      serverAddr = optD types.str "";
      token = optD types.str "";
      tokenFile = optD (types.nullOr types.path) null;
      clusterInit = optD types.bool false;
      extraFlags = optD (types.either types.str (types.listOf types.str)) [ ];
      disable = optD (types.listOf types.str) [ ];
      nodeName = optD (types.nullOr types.str) null;
    };

    # nixos/modules/system/boot/systemd/tmpfiles.nix
    systemd.tmpfiles.rules = optD (types.listOf types.str) [ ];
    # nixos/lib/systemd-unit-options.nix (the service/timer options backup.nix uses)
    systemd.services = optD (types.attrsOf (types.submodule {
      options = {
        description = optD types.str "";
        wants = optD (types.listOf types.str) [ ];
        after = optD (types.listOf types.str) [ ];
        before = optD (types.listOf types.str) [ ];
        wantedBy = optD (types.listOf types.str) [ ];
        requiredBy = optD (types.listOf types.str) [ ];
        onFailure = optD (types.listOf types.str) [ ];
        path = optD (types.listOf (types.either types.package types.str)) [ ];
        environment = optD (types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]))) { };
        serviceConfig = optD (types.attrsOf types.unspecified) { };
        script = optD types.lines "";
      };
    })) { };
    systemd.timers = optD (types.attrsOf (types.submodule {
      options = {
        description = optD types.str "";
        wantedBy = optD (types.listOf types.str) [ ];
        timerConfig = optD (types.attrsOf types.unspecified) { };
      };
    })) { };

    # nixos/modules/system/etc/etc.nix, nixos/modules/config/system-path.nix
    environment.etc = optD (types.attrsOf (types.submodule {
      options = {
        source = opt types.path;
        text = optD (types.nullOr types.lines) null;
      };
    })) { };
    environment.systemPackages = optD (types.listOf types.package) [ ];
  };
}
