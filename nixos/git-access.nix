# How root on the host fetches the homelab repository (the host bootstrap flake's input
# `homelab`) when `homelab deploy` runs `nix flake update homelab` as root: chosen by
# ./git-access.json (also read by the CLI, src/lib/config/git-access.ts).
#
#   method "deploy-key"  git+ssh:// input. The read-only deploy key is the host secret
#                        git/deploy_key; root's ssh uses it for the forge only (a Match block in
#                        /etc/ssh/ssh_config) and trusts only the forge's pinned host keys.
#   method "token"       github: input (github:<owner>/<repo>?ref=main). The host secret
#                        git/access_tokens ("github.com=TOKEN") becomes Nix's `access-tokens`
#                        setting through a sops-nix template that nix.conf `!include`s. Nix sends
#                        access-tokens with its own requests to the forge (github:/gitlab:
#                        inputs); a git+https:// input is fetched by git, which does not use them.
#
# Either way the forge's host keys (forgeHostKeys) are pinned in /etc/ssh/ssh_known_hosts.
# Host secrets this module declares (sops-nix fails the build when one is missing from
# nixos/secrets/host-secrets.sops.yaml): git/deploy_key (deploy-key) or git/access_tokens (token).
{ config, lib, ... }:
let
  cfg = config.homelab;
  access = builtins.fromJSON (builtins.readFile cfg.gitAccessFile);
  method = access.method or "";
  forge = access.forge or "github.com";
  hostKeys = access.forgeHostKeys or [ ];
  # "ssh-ed25519 AAAA…" -> "ssh-ed25519": one knownHosts entry per key type.
  keyType = key: builtins.head (lib.splitString " " key);
in
{
  options.homelab.gitAccessFile = lib.mkOption {
    type = lib.types.path;
    default = ./git-access.json;
    description = "JSON file {method: deploy-key|token, forge, forgeHostKeys} saying how root fetches this repository.";
  };

  config = lib.mkMerge [
    {
      assertions = [
        {
          assertion = builtins.elem method [ "deploy-key" "token" ];
          message = "homelab: ${toString cfg.gitAccessFile}: method must be \"deploy-key\" or \"token\", not \"${method}\"";
        }
        {
          assertion = method != "deploy-key" || hostKeys != [ ];
          message = "homelab: ${toString cfg.gitAccessFile}: forgeHostKeys is empty; root could not verify ${forge}";
        }
      ];

      # nixpkgs nixos/modules/programs/ssh.nix: knownHosts is attrsOf submodule {hostNames
      # (listOf str), publicKey (nullOr str), …}; several keys of one host are several entries
      # with the same hostNames. Written to /etc/ssh/ssh_known_hosts (GlobalKnownHostsFile).
      programs.ssh.knownHosts = builtins.listToAttrs (
        map (key: {
          name = "${forge}/${keyType key}";
          value = {
            hostNames = [ forge ];
            publicKey = key;
          };
        }) hostKeys
      );
    }

    (lib.mkIf (method == "deploy-key") {
      # sops-nix modules/sops/default.nix: the key "git/deploy_key" selects the nested YAML key
      # git.deploy_key; path defaults to /run/secrets/git/deploy_key, owner root, mode 0400
      # (ssh refuses a private key others can read).
      sops.secrets."git/deploy_key" = {
        mode = "0400";
      };

      # nixpkgs programs/ssh.nix: extraConfig (lines) is put at the top of /etc/ssh/ssh_config,
      # before the generated `Host *` block, so it wins (ssh_config(5): first value obtained).
      # Only root, and only for the forge: the admin's own git use is untouched.
      programs.ssh.extraConfig = ''
        Match host ${forge} localuser root
          IdentityFile ${config.sops.secrets."git/deploy_key".path}
          IdentitiesOnly yes
          StrictHostKeyChecking yes
          UserKnownHostsFile /dev/null
      '';
    })

    (lib.mkIf (method == "token") {
      sops.secrets."git/access_tokens" = { };
      # sops-nix modules/sops/templates/default.nix: rendered at activation to
      # /run/secrets/rendered/nix-access-tokens.conf (root, 0400); `placeholder` is replaced
      # by the secret's value there, never in the Nix store.
      sops.templates."nix-access-tokens.conf".content = ''
        access-tokens = ${config.sops.placeholder."git/access_tokens"}
      '';
      # nixpkgs nixos/modules/config/nix.nix: extraOptions (lines) is appended to nix.conf.
      # `!include` (nix.conf(5)) skips a missing file silently, so nix still works before the
      # first activation has rendered the template.
      nix.extraOptions = ''
        !include ${config.sops.templates."nix-access-tokens.conf".path}
      '';
    })
  ];
}
