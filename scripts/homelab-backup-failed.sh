#!/usr/bin/env bash
# homelab-backup-failed: OnFailure= target of the backup units (nixos/backup.nix,
# homelab-backup-failed@<unit>.service). Logs the failure to the journal at priority err and
# leaves a mark `homelab backup status` reads even when the failed script wrote nothing:
#   <state>/failures/<unit>.json  {version: 1, unit, time}
# Usage: homelab-backup-failed.sh UNIT   (UNIT without .service, e.g. kopia-r2-sync)
set -euo pipefail

unit=${1:?usage: homelab-backup-failed.sh UNIT}
state_dir=${HOMELAB_BACKUP_STATE_DIR:-/var/lib/homelab/backup}
time=$(date -u +%Y-%m-%dT%H:%M:%SZ)

mkdir -p "$state_dir/failures"
tmp=$(mktemp "$state_dir/failures/.$unit.json.XXXXXX")
printf '{"version":1,"unit":"%s","time":"%s"}\n' "$unit" "$time" >"$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$state_dir/failures/$unit.json"

message="homelab backup: $unit failed at $time; see journalctl -u $unit"
if command -v logger >/dev/null 2>&1; then
  logger -p user.err -t homelab-backup "$message"
fi
echo "$message" >&2
