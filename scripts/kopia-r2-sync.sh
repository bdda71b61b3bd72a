#!/usr/bin/env bash
# kopia-r2-sync: copies the Kopia repository to the Cloudflare R2 bucket with
# `kopia repository sync-to s3`, then writes the status file `homelab backup status` reads.
# Run as root by kopia-r2-sync.service every few hours (nixos/backup.nix). One lock,
# <state>/.kopia.lock, shared with kopia-backup.sh, makes sure a sync never overlaps a snapshot or
# another sync: a run waits for it (HOMELAB_KOPIA_LOCK_WAIT seconds, default 21600 = 6 h).
#
# Environment (set by the unit; secrets come from a sops-nix EnvironmentFile, never argv):
#   KOPIA_PASSWORD                               repository password
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY     R2 API token (kopia reads them from the environment)
#   R2_ACCOUNT_ID                                Cloudflare account: <id>.r2.cloudflarestorage.com
#   R2_BUCKET, R2_PREFIX                         bucket and key prefix (nixos/backup.json)
#   R2_ENDPOINT                                  optional: another S3 endpoint host than R2's
#   HOMELAB_BACKUP_STATE_DIR                     status folder (default /var/lib/homelab/backup)
#
# Writes atomically: <state>/last-sync.json
#   {version: 1, start, end, result: success|failed, exitCode, bucket, prefix, endpoint, error}
# Exit: kopia's exit code (0 ok, 1 error); 75 when the lock stayed held for the whole wait (not a
# failure: SuccessExitStatus=75, and last-sync.json is left as it is).
set -euo pipefail

state_dir=${HOMELAB_BACKUP_STATE_DIR:-/var/lib/homelab/backup}
: "${KOPIA_PASSWORD:?KOPIA_PASSWORD is not set (the unit reads it from its EnvironmentFile)}"
: "${AWS_ACCESS_KEY_ID:?AWS_ACCESS_KEY_ID is not set (sops secret r2/access_key_id)}"
: "${AWS_SECRET_ACCESS_KEY:?AWS_SECRET_ACCESS_KEY is not set (sops secret r2/secret_access_key)}"
bucket=${R2_BUCKET:?R2_BUCKET is not set (nixos/backup.json bucket)}
prefix=${R2_PREFIX:-}
if [[ -n ${R2_ENDPOINT:-} ]]; then
  endpoint=$R2_ENDPOINT
else
  endpoint="${R2_ACCOUNT_ID:?R2_ACCOUNT_ID is not set (sops secret r2/account_id)}.r2.cloudflarestorage.com"
fi

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

mkdir -p "$state_dir"
# One lock for snapshot and sync (kopia-backup.sh takes the same file): a long first snapshot
# delays the sync, never overlaps it. Wait up to HOMELAB_KOPIA_LOCK_WAIT seconds (default 6 h).
lock=$state_dir/.kopia.lock
exec 9>>"$lock"
if ! flock -n 9; then
  echo "kopia-r2-sync: $lock is held (a snapshot, a drill or another sync); waiting up to ${HOMELAB_KOPIA_LOCK_WAIT:-21600}s"
  if ! flock -w "${HOMELAB_KOPIA_LOCK_WAIT:-21600}" 9; then
    echo "kopia-r2-sync: $lock stayed held for ${HOMELAB_KOPIA_LOCK_WAIT:-21600}s; not syncing this time" >&2
    exit 75
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(now)
echo "kopia-r2-sync: syncing the repository to s3://$bucket/$prefix at $endpoint"

# --delete mirrors blobs removed by kopia maintenance, so the bucket does not grow forever.
set +e
kopia repository sync-to s3 --bucket="$bucket" --prefix="$prefix" --endpoint="$endpoint" \
  --region=auto --delete --parallel=4 2>&1 | tee "$work/sync.log"
code=${PIPESTATUS[0]}
set -e

error=""
if ((code != 0)); then
  error=$(grep -E 'ERROR|error' "$work/sync.log" | tail -n 1 | cut -c1-300 || true)
  [[ -z $error ]] && error="kopia repository sync-to exited with $code"
fi

tmp=$(mktemp "$state_dir/.last-sync.json.XXXXXX")
jq -n --arg start "$start" --arg finish "$(now)" --argjson code "$code" --arg bucket "$bucket" \
  --arg prefix "$prefix" --arg endpoint "$endpoint" --arg error "$error" '{
    version: 1,
    start: $start,
    end: $finish,
    result: (if $code == 0 then "success" else "failed" end),
    exitCode: $code,
    bucket: $bucket,
    prefix: $prefix,
    endpoint: $endpoint,
    error: (if $error == "" then null else $error end)
  }' >"$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$state_dir/last-sync.json"

if ((code == 0)); then
  echo "kopia-r2-sync: done"
else
  echo "kopia-r2-sync: failed: $error" >&2
fi
exit "$code"
