#!/usr/bin/env bash
# homelab-kopia: runs kopia with the backup units' environment, for the operator and for
# `homelab backup verify` (which runs `sudo homelab-kopia snapshot verify …` over SSH).
# nixos/backup.nix wraps it with KOPIA_CONFIG_PATH & co. and HOMELAB_KOPIA_ENV_FILE, the
# sops-nix environment file holding KOPIA_PASSWORD (root only: run it with sudo).
#
# The environment file is read as KEY=value lines (as systemd's EnvironmentFile= reads it),
# never sourced, so a password holding $ or spaces stays as it is.
set -euo pipefail

env_file=${HOMELAB_KOPIA_ENV_FILE:?HOMELAB_KOPIA_ENV_FILE must name the kopia environment file}
if [[ ! -r $env_file ]]; then
  echo "homelab-kopia: cannot read $env_file (run it with sudo)" >&2
  exit 1
fi

while IFS= read -r line || [[ -n $line ]]; do
  [[ $line =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || continue
  export "${line%%=*}=${line#*=}"
done <"$env_file"

exec kopia "$@"
