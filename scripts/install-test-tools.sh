#!/usr/bin/env bash
# Installs the system tools the tests use, when missing: OpenSSH server (the e2e test host),
# sudo, git, nix (Debian's nix-bin: flake locks and nix-instantiate --parse), age (cross-checks
# the SOPS engine), shellcheck and jq (backup scripts), kubectl (kustomize builds), nc (the
# ProxyCommand of the SSH e2e tests), script (a pseudo-terminal for TTY-only output), openssl
# (`openssl passwd -6` checks the admin password hashes of `host install` and the demo hash),
# sqlite3 and PostgreSQL (the backup capture and restore tests run real databases: Debian's
# server binaries live in /usr/lib/postgresql/<major>/bin, found by test/helpers/postgres.ts),
# rclone (kopia-r2-sync.sh lists, cleans and marks the bucket with it; the kopia stand-in copies
# blobs into the loopback S3 server with it).
# Needs root for apt-get. Under CI=true a tool that cannot be installed is an error.
set -euo pipefail

declare -A pkg_of=(
  [sshd]=openssh-server
  [sudo]=sudo
  [git]=git
  [nix]=nix-bin
  [nix-instantiate]=nix-bin
  [age]=age
  [age-keygen]=age
  [shellcheck]=shellcheck
  [kubectl]=kubernetes-client
  [jq]=jq
  [flock]=util-linux
  [setsid]=util-linux
  [unshare]=util-linux
  [nsenter]=util-linux
  [ssh-keygen]=openssh-client
  [ssh]=openssh-client
  [nc]=netcat-openbsd
  [script]=bsdutils
  [openssl]=openssl
  [sqlite3]=sqlite3
  [pg_dump]=postgresql
  [pg_restore]=postgresql
  [initdb]=postgresql
  [rclone]=rclone
)

have() {
  command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]] && return 0
  # PostgreSQL's server binaries are not on PATH on Debian.
  compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null
}

missing=()
for tool in "${!pkg_of[@]}"; do
  have "$tool" || missing+=("${pkg_of[$tool]}")
done
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')

if ((${#missing[@]})); then
  echo "install-test-tools: installing ${missing[*]}" >&2
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-test-tools: need root to apt-get install ${missing[*]}" >&2
    [[ ${CI:-} == true ]] && exit 1
    exit 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    echo "install-test-tools: apt-get could not install ${missing[*]}" >&2
    [[ ${CI:-} == true ]] && exit 1
  fi
fi

# Debian's nix-bin ships without a daemon, without the `nixbld` group its default
# `build-users-group` names and without /etc/nix/nix.conf; its sandbox has no /bin/sh here. This
# script deliberately leaves the machine's nix setup alone (no nix.conf, no group): the tests run
# nix single-user with flakes on and give it `build-users-group =` and `sandbox = false`
# themselves — NIX_CONFIG for every test process (vitest.config.ts, test/helpers/nix-config.ts),
# and the e2e test host's own nix.conf via NIX_CONF_DIR (test/e2e/host/test-host.ts).
exit 0
