#!/usr/bin/env bash
# kopia-backup: one Kopia snapshot per backup source, then the status files `homelab backup
# status` reads. Run as root by kopia-backup.service (daily timer) and, for one source, by
# kopia-backup-source@<escaped path>.service (nixos/backup.nix).
#
# Usage: kopia-backup.sh [--source PATH]
#
# Environment (set by the unit; the password comes from a sops-nix EnvironmentFile, never argv):
#   KOPIA_PASSWORD            repository password (sops secret kopia/repository_password)
#   KOPIA_CONFIG_PATH         kopia's repository.config
#   KOPIA_REPOSITORY_PATH     the filesystem repository; connected, or created when absent
#   HOMELAB_BACKUP_SOURCES    file with one source path a line (nixos/storage.json: every app
#                             path + extraBackupSources)
#   HOMELAB_BACKUP_STATE_DIR  status folder (default /var/lib/homelab/backup)
#
# Writes atomically (temp file + rename) in the status folder:
#   last-run.json   {version: 1, start, end, result: success|partial|failed, error,
#                    sources: [{path, snapshotId, startTime, endTime, size (bytes), files, dirs,
#                    errors (failed entries), exitCode, error, runStart, runEnd}]}
#                   A --source run replaces that source's entry and keeps the others.
#   snapshots.json  `kopia snapshot list --json` after the run
# Exit: 0 all sources snapshotted without failed entries; 1 otherwise; 2 bad usage;
#       75 another backup run holds the lock (not a failure: SuccessExitStatus=75).
set -euo pipefail

state_dir=${HOMELAB_BACKUP_STATE_DIR:-/var/lib/homelab/backup}
sources_file=${HOMELAB_BACKUP_SOURCES:?HOMELAB_BACKUP_SOURCES must name the source list}
repository_path=${KOPIA_REPOSITORY_PATH:?KOPIA_REPOSITORY_PATH must name the Kopia repository}
: "${KOPIA_PASSWORD:?KOPIA_PASSWORD is not set (the unit reads it from its EnvironmentFile)}"

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
log() { printf 'kopia-backup: %s\n' "$*"; }

# Writes stdin to $1 atomically: a temp file in the same folder, then rename.
write_atomic() {
  local target=$1 tmp
  tmp=$(mktemp "$(dirname "$target")/.$(basename "$target").XXXXXX")
  cat >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$target"
}

only_source=""
while (($# > 0)); do
  case $1 in
    --source)
      only_source=${2:?--source needs a path}
      shift 2
      ;;
    *)
      echo "kopia-backup: unknown argument $1 (usage: kopia-backup.sh [--source PATH])" >&2
      exit 2
      ;;
  esac
done

sources=()
while IFS= read -r line; do
  [[ -n $line ]] && sources+=("${line%/}")
done <"$sources_file"

if [[ -n $only_source ]]; then
  only_source=${only_source%/}
  found=""
  for src in "${sources[@]}"; do
    [[ $src == "$only_source" ]] && found=yes
  done
  if [[ -z $found ]]; then
    echo "kopia-backup: $only_source is not a backup source (listed in $sources_file)" >&2
    exit 2
  fi
  sources=("$only_source")
fi

mkdir -p "$state_dir"
exec 9>>"$state_dir/.backup.lock"
if ! flock -n 9; then
  echo "kopia-backup: another backup run holds $state_dir/.backup.lock; not starting a second one" >&2
  exit 75
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run_start=$(now)
: >"$work/results.jsonl"

# Writes last-run.json from $work/results.jsonl, merged with the previous file's other sources.
write_last_run() {
  local result=$1 run_error=$2 previous='{}'
  if [[ -s $state_dir/last-run.json ]] && jq -e . "$state_dir/last-run.json" >/dev/null 2>&1; then
    previous=$(cat "$state_dir/last-run.json")
  fi
  jq -s --argjson previous "$previous" --arg start "$run_start" --arg finish "$(now)" \
    --arg result "$result" --arg error "$run_error" '
    . as $new
    | ($new | map(.path)) as $paths
    | {
        version: 1,
        start: $start,
        end: $finish,
        result: $result,
        error: (if $error == "" then null else $error end),
        sources: ((($previous.sources // []) | map(select(.path as $p | $paths | index($p) | not))) + $new)
      }' "$work/results.jsonl" | write_atomic "$state_dir/last-run.json"
}

# Connect to the repository (or create it on the first run).
if ! kopia repository status >/dev/null 2>&1; then
  if [[ -e $repository_path/kopia.repository.f ]]; then
    log "connecting to the repository at $repository_path"
    verb=connect
  else
    log "creating the repository at $repository_path"
    mkdir -p "$repository_path"
    verb=create
  fi
  if ! kopia repository "$verb" filesystem --path="$repository_path" >"$work/connect.log" 2>&1; then
    cat "$work/connect.log" >&2
    write_last_run failed "kopia repository $verb failed: $(grep -v '^\s*$' "$work/connect.log" | tail -n 1 | cut -c1-300)"
    exit 1
  fi
fi

failed=0
for src in "${sources[@]}"; do
  source_start=$(now)
  manifest=null
  code=null
  error=""
  if [[ ! -d $src ]]; then
    error="source folder $src is missing"
    log "$error"
    failed=$((failed + 1))
  else
    log "snapshot of $src"
    if kopia snapshot create "$src" --json >"$work/out" 2>"$work/err"; then
      code=0
    else
      code=$?
    fi
    cat "$work/err" >&2
    # One compact manifest per line (kopia cli/json_output.go); the last one is this source's.
    if line=$(grep '^{' "$work/out" | tail -n 1) && [[ -n $line ]] && jq -e . >/dev/null 2>&1 <<<"$line"; then
      manifest=$line
    fi
    if ((code != 0)); then
      error=$(grep -E 'ERROR|error' "$work/err" | tail -n 1 | cut -c1-300 || true)
      [[ -z $error ]] && error="kopia snapshot create exited with $code"
      failed=$((failed + 1))
    fi
  fi
  jq -cn --arg path "$src" --argjson m "$manifest" --argjson code "$code" --arg error "$error" \
    --arg runStart "$source_start" --arg runEnd "$(now)" '{
      path: $path,
      snapshotId: ($m.id // null),
      startTime: ($m.startTime // null),
      endTime: ($m.endTime // null),
      size: ($m.rootEntry.summ.size // null),
      files: ($m.rootEntry.summ.files // null),
      dirs: ($m.rootEntry.summ.dirs // null),
      errors: (if $m == null then null else ($m.rootEntry.summ.numFailed // 0) end),
      exitCode: $code,
      error: (if $error == "" then null else $error end),
      runStart: $runStart,
      runEnd: $runEnd
    }' >>"$work/results.jsonl"
done

# The CLI reads each source's latest snapshot from this list (kopia cli/command_snapshot_list.go).
if kopia snapshot list --json >"$work/list.json" 2>"$work/list.err" && jq -e . "$work/list.json" >/dev/null 2>&1; then
  write_atomic "$state_dir/snapshots.json" <"$work/list.json"
else
  cat "$work/list.err" >&2
  log "could not list snapshots; keeping the previous snapshots.json"
fi

if ((failed == 0)); then
  result=success
elif ((failed == ${#sources[@]})); then
  result=failed
else
  result=partial
fi
write_last_run "$result" ""
log "done: $result ($failed of ${#sources[@]} sources failed)"
((failed == 0)) || exit 1
