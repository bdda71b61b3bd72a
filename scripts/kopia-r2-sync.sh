#!/usr/bin/env bash
# kopia-r2-sync: copies the Kopia repository to the Cloudflare R2 bucket with
# `kopia repository sync-to s3`, then writes the status file `homelab backup status` reads.
# Run as root by kopia-r2-sync.service every few hours (nixos/backup.nix). One lock,
# <state>/.kopia.lock, shared with kopia-backup.sh, makes sure a sync never overlaps a snapshot or
# another sync: a run waits for it (HOMELAB_KOPIA_LOCK_WAIT seconds, default 21600 = 6 h).
#
# What protects the off-site copy (issue 13): a corruption or a deletion on the host must not
# reach R2 before a person can notice. R2 has no S3 Object Lock and its bucket locks exist only in
# Cloudflare's API, so the protection lives here, in how the sync writes:
#   - the copy only adds: `sync-to s3 --no-update` and no `--delete`. kopia's --update (on by
#     default) re-copies a blob whose local timestamp is newer, so a rewritten or corrupted local
#     blob would overwrite the good R2 copy; --delete would carry a local deletion to R2 at once.
#     Kopia never rewrites a pack or index blob under the same name, so nothing legitimate is lost.
#   - deletions reach the bucket only after a window: a bucket blob missing from the local
#     repository is entered in the ledger <state>/offsite-ledger.json {blobId: firstMissingAt}
#     (RFC 3339 UTC); an entry that reappears locally is dropped; one missing for
#     R2_DELETE_AFTER_DAYS days or more is deleted (`rclone deletefile`). 0 days means deletions
#     propagate at once: no protection (`homelab backup offsite` fails on it).
#   - guard: when the local listing fails, is empty or has no kopia.repository, nothing is copied
#     or deleted and the run fails (a wiped or unmounted repository must never empty the bucket).
#   - the marker R2_MARKER_KEY (default homelab/offsite-protection.json; bucket root, outside the
#     Kopia prefix) says what is in force, for `homelab backup offsite` and `--restore-test`:
#       {version: 1, mode: "delayed-delete", deleteAfterDays, updatedAt, bucket, prefix,
#        uniqueID (the repository's, from kopia.repository), pending (ledger entries),
#        oldestPendingSince (RFC 3339 or null), blobs: {<blobId>: {length, sha256}}}
#     `blobs` has one record per bucket blob, hashed from the local repository file once, at the
#     first sync that sees it in the bucket (cache: <state>/offsite-blobs.json, same records).
#   Caveat: kopia.repository is never rewritten either; after `kopia repository change-password`
#   copy it once by hand (README, "The off-site copy and what protects it").
# The bucket is read and changed with rclone through an env-only S3 remote (RCLONE_CONFIG_R2_*,
# env_auth: the keys come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, never argv).
#
# Environment (set by the unit; secrets come from a sops-nix EnvironmentFile, never argv):
#   KOPIA_PASSWORD                               repository password
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY     R2 API token (kopia and rclone read them from the environment)
#   R2_ACCOUNT_ID                                Cloudflare account: <id>.r2.cloudflarestorage.com
#   R2_BUCKET, R2_PREFIX                         bucket and this host's key prefix ("" or ending in "/";
#                                                nixos/backup-settings.nix syncPrefix: backup.json prefix on the
#                                                k3s server, a sibling "<prefix>-<host>/" on any other host)
#   R2_MARKER_KEY                                key of the protection marker (default homelab/offsite-protection.json,
#                                                the server's; homelab/offsite-protection-<host>.json on others)
#   R2_DELETE_AFTER_DAYS                         deletion window in days (backup.json offsiteDeleteAfterDays, default 30)
#   R2_ENDPOINT                                  optional: another S3 endpoint than R2's (host, or http(s)://host:port)
#   KOPIA_REPOSITORY_PATH                        the local filesystem repository (its blob files are hashed)
#   HOMELAB_BACKUP_STATE_DIR                     status folder (default /var/lib/homelab/backup)
#
# Writes atomically: <state>/last-sync.json
#   {version: 1, start, end, result: success|failed, exitCode, bucket, prefix, endpoint, error}
# and <state>/offsite-ledger.json, <state>/offsite-blobs.json (above).
# Exit: 0 ok; 1 kopia failed, the guard refused, or the bucket could not be listed, cleaned or
# marked; 75 when the lock stayed held for the whole wait (not a failure: SuccessExitStatus=75,
# and last-sync.json is left as it is).
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
repository_path=${KOPIA_REPOSITORY_PATH:?KOPIA_REPOSITORY_PATH is not set (nixos/backup.json repositoryPath)}
delete_after_days=${R2_DELETE_AFTER_DAYS:-30}
if [[ ! $delete_after_days =~ ^[0-9]+$ ]]; then
  echo "kopia-r2-sync: R2_DELETE_AFTER_DAYS must be a whole number of days, not '$delete_after_days' (nixos/backup.json offsiteDeleteAfterDays)" >&2
  exit 1
fi
if [[ -n $prefix && $prefix != */ ]]; then
  echo "kopia-r2-sync: R2_PREFIX '$prefix' must end in / (nixos/backup.json prefix)" >&2
  exit 1
fi
# kopia takes a host (+ --disable-tls for http); rclone a URL. R2 gets rclone's Cloudflare provider.
case $endpoint in
  http://*) kopia_endpoint=${endpoint#http://} scheme=http tls_flags=(--disable-tls) ;;
  https://*) kopia_endpoint=${endpoint#https://} scheme=https tls_flags=() ;;
  *) kopia_endpoint=$endpoint scheme=https tls_flags=() ;;
esac
kopia_endpoint=${kopia_endpoint%/}
provider=Other
[[ $kopia_endpoint == *.r2.cloudflarestorage.com ]] && provider=Cloudflare
export RCLONE_CONFIG=/nonexistent RCLONE_CONFIG_R2_TYPE=s3 RCLONE_CONFIG_R2_PROVIDER=$provider \
  RCLONE_CONFIG_R2_ENDPOINT="$scheme://$kopia_endpoint" \
  RCLONE_CONFIG_R2_ENV_AUTH=true RCLONE_CONFIG_R2_REGION=auto RCLONE_CONFIG_R2_NO_CHECK_BUCKET=true
# Each host's repository has its own marker (one marker for two repositories would describe neither).
marker_key=${R2_MARKER_KEY:-homelab/offsite-protection.json}
if [[ ! $marker_key =~ ^[A-Za-z0-9][A-Za-z0-9._/-]*\.json$ || $marker_key == *//* ]]; then
  echo "kopia-r2-sync: R2_MARKER_KEY '$marker_key' is not a marker key like homelab/offsite-protection.json (nixos/backup-settings.nix markerKey)" >&2
  exit 1
fi
if [[ -n $prefix && $marker_key == "$prefix"* ]]; then
  echo "kopia-r2-sync: R2_MARKER_KEY '$marker_key' lies under R2_PREFIX '$prefix': kopia would list it as a blob (nixos/backup-settings.nix)" >&2
  exit 1
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

code=0
error=""
# Records a failure (the last one is last-sync.json's error; also in $work/error for subshells).
fail() {
  error=$1
  code=1
  printf '%s\n' "$error" >"$work/error"
  echo "kopia-r2-sync: $error" >&2
}

# The guard: list the local repository first; a failed, empty or format-less listing stops the
# run before anything is copied or deleted. Output: kopia's jsonList of blob.Metadata
# {"id","length","timestamp"} (cli/command_blob_list.go, repo/blob/storage.go).
if ! kopia blob list --json >"$work/local.json" 2>"$work/blob-list.log"; then
  fail "kopia blob list failed ($(tail -n 1 "$work/blob-list.log" | cut -c1-200)): refusing to copy or delete anything in s3://$bucket/$prefix"
elif ! jq -e 'length > 0 and any(.[]; .id == "kopia.repository")' "$work/local.json" >/dev/null; then
  fail "the local repository $repository_path lists $(jq length "$work/local.json") blobs and no kopia.repository: refusing to copy or delete anything in s3://$bucket/$prefix (check that the repository disk is mounted and whole)"
fi

# The copy only adds blobs: --no-update (a newer local timestamp never overwrites a blob in R2)
# and no --delete (deletions go through the ledger below).
if ((code == 0)); then
  set +e
  kopia repository sync-to s3 --bucket="$bucket" --prefix="$prefix" --endpoint="$kopia_endpoint" "${tls_flags[@]}" \
    --region=auto --no-update --parallel=4 2>&1 | tee "$work/sync.log"
  code=${PIPESTATUS[0]}
  set -e
  if ((code != 0)); then
    error=$(grep -E 'ERROR|error' "$work/sync.log" | tail -n 1 | cut -c1-300 || true)
    [[ -z $error ]] && error="kopia repository sync-to exited with $code"
  fi
fi

# rclone's error in one line: its first ERROR or "Failed" line (else its last line), timestamp cut.
rclone_error() {
  local line
  line=$(grep -m1 -E 'ERROR|Failed' "$1" || tail -n 1 "$1")
  line=${line#[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9] }
  printf '%s\n' "${line:0:200}"
}

# Fails (returns 1, after recording why) when FILE is missing or empty: what a jq step wrote
# before it replaces a state file, the ledger or the marker. `jq … | write_atomic` would already
# have renamed an empty file into place when jq failed.
nonempty() {
  if [[ ! -s $1 ]]; then
    fail "$2 came out empty ($1): nothing written (see the journal for jq's error)"
    return 1
  fi
}

# Writes stdin to FILE atomically (0644).
write_atomic() {
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$1"
}

# Ledger, deletions past the window, blob records and the marker (see the header).
protect() {
  local ledger_file=$state_dir/offsite-ledger.json cache_file=$state_dir/offsite-blobs.json now_iso id file
  now_iso=$(now)
  if ! rclone -q lsjson --files-only --no-mimetype --use-server-modtime "r2:$bucket/${prefix%/}" >"$work/bucket.json" 2>"$work/rclone.err"; then
    fail "listing s3://$bucket/$prefix with rclone failed: $(rclone_error "$work/rclone.err")"
    return 1
  fi
  jq 'map({key: .Name, value: .Size}) | from_entries' "$work/bucket.json" >"$work/bucket"
  nonempty "$work/bucket" "the bucket listing"
  jq 'map({key: .id, value: .length}) | from_entries' "$work/local.json" >"$work/local"
  nonempty "$work/local" "the local blob listing"
  [[ -s $ledger_file ]] && jq -e 'type == "object"' "$ledger_file" >/dev/null 2>&1 || echo '{}' >"$ledger_file"
  [[ -s $cache_file ]] && jq -e 'type == "object"' "$cache_file" >/dev/null 2>&1 || echo '{}' >"$cache_file"

  # Bucket blobs missing locally keep (or get) their firstMissingAt; the rest leave the ledger.
  jq -n --slurpfile b "$work/bucket" --slurpfile l "$work/local" --slurpfile g "$ledger_file" --arg now "$now_iso" '
    $b[0] as $bucket | $l[0] as $local | $g[0] as $ledger
    | reduce ($bucket | keys[] | select($local[.] == null)) as $id ({}; .[$id] = ($ledger[$id] // $now))
  ' >"$work/ledger"
  nonempty "$work/ledger" "the ledger"
  # Entries missing for the whole window (0 days: all of them).
  jq -r --arg now "$now_iso" --argjson days "$delete_after_days" '
    ($now | fromdateiso8601) as $t
    | to_entries[]
    | select(($t - (.value | sub("\\.[0-9]+"; "") | (try fromdateiso8601 catch $t))) >= $days * 86400)
    | .key' "$work/ledger" >"$work/due"
  ((delete_after_days == 0)) && echo "kopia-r2-sync: WARNING offsiteDeleteAfterDays is 0: local deletions reach the bucket at once (no protection)"
  local deleted=0
  : >"$work/deleted"
  while IFS= read -r id; do
    [[ -n $id ]] || continue
    if rclone -q deletefile "r2:$bucket/$prefix$id" 2>"$work/rclone.err"; then
      echo "kopia-r2-sync: deleted $prefix$id (missing locally since $(jq -r --arg id "$id" '.[$id]' "$work/ledger"))"
      printf '%s\n' "$id" >>"$work/deleted"
      deleted=$((deleted + 1))
    else
      fail "deleting s3://$bucket/$prefix$id failed: $(rclone_error "$work/rclone.err")"
    fi
  done <"$work/due"
  jq -R . "$work/deleted" | jq -s 'map({key: ., value: true}) | from_entries' >"$work/deleted.json"
  nonempty "$work/deleted.json" "the list of deleted blobs"
  jq --slurpfile d "$work/deleted.json" 'with_entries(select($d[0][.key] == null))' "$work/ledger" >"$work/ledger.new"
  nonempty "$work/ledger.new" "the new ledger"
  write_atomic "$ledger_file" <"$work/ledger.new"

  # Records of the bucket's blobs: hash the local file of each blob not yet recorded (once).
  declare -A file_of=()
  while IFS= read -r file; do
    id=${file//\//}
    file_of[${id%.f}]=$repository_path/$file
  done < <(find "$repository_path" -type f -name '*.f' -printf '%P\n')
  : >"$work/new-records"
  local hash
  while IFS=$'\t' read -r id size; do
    file=${file_of[$id]:-}
    [[ -n $file ]] || continue
    if [[ $(stat -c %s "$file") != "$size" ]]; then
      echo "kopia-r2-sync: WARNING local blob $id is $(stat -c %s "$file") bytes, its R2 copy $size: not recorded (run kopia snapshot verify)"
      continue
    fi
    # A failing sha256sum (pipefail carries its status through cut) or a hash that is not 64 hex
    # digits stops the step: no record, no cache, no marker is written with it.
    if ! hash=$(sha256sum "$file" 2>"$work/sha.err" | cut -d' ' -f1) || [[ ! $hash =~ ^[0-9a-f]{64}$ ]]; then
      fail "sha256sum of the local blob $id failed ($(tail -n 1 "$work/sha.err" | cut -c1-200)): no record of it written; check the repository disk and run kopia snapshot verify"
      return 1
    fi
    printf '%s\t%s\t%s\n' "$id" "$size" "$hash" >>"$work/new-records"
  done < <(jq -r --slurpfile c "$cache_file" --slurpfile l "$work/local" 'to_entries[] | select($c[0][.key] == null and $l[0][.key] != null) | "\(.key)\t\(.value)"' "$work/bucket")
  jq -R 'split("\t") | {key: .[0], value: {length: (.[1] | tonumber), sha256: .[2]}}' "$work/new-records" | jq -s 'from_entries' >"$work/new.json"
  nonempty "$work/new.json" "the new blob records"
  # Keep records of blobs still in the bucket (not just deleted), add the new ones.
  jq --slurpfile b "$work/bucket" --slurpfile d "$work/deleted.json" --slurpfile n "$work/new.json" '
    with_entries(select($b[0][.key] != null and $d[0][.key] == null)) + $n[0]' "$cache_file" >"$work/cache"
  nonempty "$work/cache" "the blob records"
  write_atomic "$cache_file" <"$work/cache"
  echo "kopia-r2-sync: $(jq length "$work/new.json") new blobs recorded (length, sha256), $deleted deleted past the window"

  local unique_id
  unique_id=$(jq -r '.uniqueID // empty' "$repository_path/kopia.repository.f" 2>/dev/null || true)
  jq -n --slurpfile ledger "$ledger_file" --slurpfile blobs "$work/cache" --argjson days "$delete_after_days" \
    --arg now "$now_iso" --arg bucket "$bucket" --arg prefix "$prefix" --arg uid "$unique_id" '{
      version: 1,
      mode: "delayed-delete",
      deleteAfterDays: $days,
      updatedAt: $now,
      bucket: $bucket,
      prefix: $prefix,
      uniqueID: (if $uid == "" then null else $uid end),
      pending: ($ledger[0] | length),
      oldestPendingSince: ([$ledger[0][]] | min),
      blobs: $blobs[0]
    }' >"$work/marker.json"
  nonempty "$work/marker.json" "the marker"
  if ! rclone -q copyto --ignore-times "$work/marker.json" "r2:$bucket/$marker_key" 2>"$work/rclone.err"; then
    fail "writing s3://$bucket/$marker_key failed: $(rclone_error "$work/rclone.err")"
    return 1
  fi
  echo "kopia-r2-sync: deletions reach the bucket after $delete_after_days days; $(jq length "$ledger_file") blobs pending deletion"
  ((code == 0))
}

# In a subshell with errexit on: any failing step stops it, and the run still writes last-sync.json.
# errexit is set INSIDE the subshell: it would inherit the `set +e` around it, and `(protect) ||`
# or `if (protect)` would switch errexit off for everything protect runs.
if ((code == 0)); then
  set +e
  (
    set -e
    protect
  )
  protect_code=$?
  set -e
  if ((protect_code != 0)); then
    code=1
    error=$(cat "$work/error" 2>/dev/null || true)
    [[ -z $error ]] && error="the off-site protection step failed (exit $protect_code; see the journal)"
  fi
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
