#!/usr/bin/env bash
# homelab-backup-drill: a restore drill. For each backup source it restores the newest Kopia
# snapshot into a scratch folder and checks what came back, then records the result for
# `homelab backup status`. Run as root by homelab-backup-drill.service (weekly timer, backup.json
# `drillSchedule`) and, for one source, by homelab-backup-drill@<escaped path>.service
# (nixos/backup.nix; `homelab backup drill SOURCE`).
#
# Usage: homelab-backup-drill.sh [SOURCE...]    (no SOURCE: every backup source)
#
# Environment (set by the unit; the password comes from a sops-nix EnvironmentFile, never argv):
#   KOPIA_PASSWORD            repository password (sops secret kopia/repository_password)
#   KOPIA_CONFIG_PATH         kopia's repository.config
#   KOPIA_REPOSITORY_PATH     the filesystem repository (connected when the config is missing)
#   HOMELAB_BACKUP_SOURCES    file with one source path a line
#   HOMELAB_BACKUP_STATE_DIR  status folder (default /var/lib/homelab/backup)
#   HOMELAB_DRILL_SCRATCH     folder the scratch folders are made in (default
#                             /var/cache/homelab-drill; made 0700: restores hold secrets)
#   HOMELAB_DRILL_SAMPLE      files compared with the live data per source (default 20)
#   HOMELAB_DRILL_LOCK_WAIT   seconds to wait for <state>/.kopia.lock (default 7200)
#
# Per source: the newest snapshot (`kopia snapshot list SRC --json`) is restored whole
# (`kopia snapshot restore <root object> <scratch>`), after checking the scratch folder's free
# space against the snapshot's size. Then:
#   restore   kopia exits 0 and the restored tree has as many files as the snapshot says
#   sqlite    every file under .homelab-backup/sqlite/ has the SQLite header, opens read-only
#             and `PRAGMA integrity_check` says ok
#   postgres  every .homelab-backup/postgres/*.pgdump is readable by `pg_restore --list` (its
#             table of contents) and whole by `pg_restore --file=/dev/null` (every data block
#             read and decompressed; no database needed)
#   files     up to HOMELAB_DRILL_SAMPLE restored files, chosen at random among those whose live
#             copy is unchanged since the snapshot started, compared by SHA-256 with the live copy
# The scratch folder is removed after each source (and leftovers of a killed run at the start).
#
# Writes atomically (temp file + rename) in the status folder:
#   last-drill.json  {version: 1, start, end, result: ok|failed, sources: [{path, snapshotId,
#                    snapshotTime, result: ok|failed, error (the first failure), start, end,
#                    durationMs, restore: {files, bytes}, checks: {restore: {ok, error},
#                    sqlite: {checked, failed, firstFailure}, postgres: {checked, failed,
#                    firstFailure}, files: {compared, mismatched, changedSince, firstFailure}}}]}
#                    A run for some sources replaces their entries and keeps the others.
# Exit: 0 every source ok; 1 any failed; 2 bad usage; 75 the lock wait timed out (a snapshot or
#       sync held <state>/.kopia.lock; not a failure: SuccessExitStatus=75).
set -euo pipefail

state_dir=${HOMELAB_BACKUP_STATE_DIR:-/var/lib/homelab/backup}
sources_file=${HOMELAB_BACKUP_SOURCES:?HOMELAB_BACKUP_SOURCES must name the source list}
repository_path=${KOPIA_REPOSITORY_PATH:?KOPIA_REPOSITORY_PATH must name the Kopia repository}
: "${KOPIA_PASSWORD:?KOPIA_PASSWORD is not set (the unit reads it from its EnvironmentFile)}"
scratch_root=${HOMELAB_DRILL_SCRATCH:-/var/cache/homelab-drill}
sample=${HOMELAB_DRILL_SAMPLE:-20}
lock_wait=${HOMELAB_DRILL_LOCK_WAIT:-7200}

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
now_ms() { date +%s%3N; }
log() { printf 'homelab-backup-drill: %s\n' "$*"; }
# The last non-empty line of a file, at most 300 characters.
last_line() { grep -v '^\s*$' "$1" | tail -n 1 | cut -c1-300 || true; }

# Writes stdin to $1 atomically: a temp file in the same folder, then rename.
write_atomic() {
  local target=$1 tmp
  tmp=$(mktemp "$(dirname "$target")/.$(basename "$target").XXXXXX")
  cat >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$target"
}

sources=()
while IFS= read -r line; do
  [[ -n $line ]] && sources+=("${line%/}")
done <"$sources_file"

if (($# > 0)); then
  wanted=()
  for arg in "$@"; do
    arg=${arg%/}
    found=""
    for src in "${sources[@]}"; do
      [[ $src == "$arg" ]] && found=yes
    done
    if [[ -z $found ]]; then
      echo "homelab-backup-drill: $arg is not a backup source (listed in $sources_file)" >&2
      exit 2
    fi
    wanted+=("$arg")
  done
  sources=("${wanted[@]}")
fi

# One lock for snapshot, sync and drill (<stateDir>/.kopia.lock, as kopia-backup.sh and kopia-r2-sync.sh): a drill
# never restores while a snapshot or sync runs; it waits for them instead of skipping.
mkdir -p "$state_dir"
exec 9>>"$state_dir/.kopia.lock"
if ! flock -n 9; then
  log "waiting up to ${lock_wait}s for $state_dir/.kopia.lock (a snapshot or sync is running)"
  if ! flock -w "$lock_wait" 9; then
    echo "homelab-backup-drill: $state_dir/.kopia.lock still held after ${lock_wait}s; no drill this time" >&2
    exit 75
  fi
fi

mkdir -p "$scratch_root"
chmod 0700 "$scratch_root"
# Leftovers of a run that was killed (we hold the lock, so no other drill is using them).
find "$scratch_root" -mindepth 1 -maxdepth 1 -name 'drill.*' -exec rm -rf {} +

work=$(mktemp -d)
scratch=""
trap 'rm -rf "$work"; [[ -z $scratch ]] || rm -rf "$scratch"' EXIT
run_start=$(now)
: >"$work/results.jsonl"

repo_error=""
if ! kopia repository status >/dev/null 2>&1; then
  if [[ -e $repository_path/kopia.repository.f ]]; then
    log "connecting to the repository at $repository_path"
    if ! kopia repository connect filesystem --path="$repository_path" >"$work/connect.log" 2>&1; then
      cat "$work/connect.log" >&2
      repo_error="kopia repository connect failed: $(last_line "$work/connect.log")"
    fi
  else
    repo_error="no Kopia repository at $repository_path (has a backup run ever succeeded?)"
  fi
fi

# Drills one source; appends its record to $work/results.jsonl. Returns 1 when it failed.
drill_source() {
  local src=$1 t0 start manifest=null id="" obj="" snap_start="" start_epoch size expected avail
  local error="" restore_error="" restored files=null bytes=null
  local sq_checked=0 sq_failed=0 sq_first="" pg_checked=0 pg_failed=0 pg_first=""
  local f_compared=0 f_mismatched=0 f_changed=0 f_first=""
  t0=$(now_ms)
  start=$(now)

  if [[ -n $repo_error ]]; then
    restore_error=$repo_error
  elif ! kopia snapshot list "$src" --json >"$work/list.json" 2>"$work/list.err"; then
    cat "$work/list.err" >&2
    restore_error="kopia snapshot list failed: $(last_line "$work/list.err")"
  else
    # The newest complete snapshot of the source (kopia cli/command_snapshot_list.go).
    manifest=$(jq -c 'map(select(.rootEntry != null)) | sort_by(.startTime | sub("\\.[0-9]+"; "")) | last // null' "$work/list.json")
    if [[ $manifest == null ]]; then
      restore_error="no snapshot of $src in the repository"
    fi
  fi

  if [[ -z $restore_error ]]; then
    id=$(jq -r '.id' <<<"$manifest")
    obj=$(jq -r '.rootEntry.obj' <<<"$manifest")
    snap_start=$(jq -r '.startTime' <<<"$manifest")
    size=$(jq -r '.rootEntry.summ.size // 0' <<<"$manifest")
    expected=$(jq -r '.rootEntry.summ.files // empty' <<<"$manifest")
    log "$src: restoring snapshot $id of $snap_start ($size bytes) into $scratch_root"
    avail=$(df -B1 --output=avail "$scratch_root" 2>/dev/null | tail -n 1 | tr -d ' ' || true)
    if [[ $avail =~ ^[0-9]+$ ]] && ((size > avail)); then
      restore_error="not enough space in $scratch_root to restore $src: the snapshot holds $size bytes, $avail are free"
    else
      scratch=$(mktemp -d "$scratch_root/drill.XXXXXX")
      restored=$scratch/restored
      if ! kopia snapshot restore "$obj" "$restored" >"$work/restore.log" 2>&1; then
        cat "$work/restore.log" >&2
        restore_error="kopia snapshot restore failed: $(last_line "$work/restore.log")"
      else
        mkdir -p "$restored"
        files=$(find "$restored" -type f | wc -l)
        bytes=$(find "$restored" -type f -printf '%s\n' | jq -s 'add // 0')
        log "$src: restored $files files ($bytes bytes)"
        if [[ -n $expected ]] && ((files != expected)); then
          restore_error="restored $files files but snapshot $id lists $expected"
        fi
      fi
    fi
  fi

  if [[ -n $restore_error ]]; then
    log "$src: $restore_error"
  else
    # (a) SQLite dumps taken by the capture with SQLite's online backup.
    local dump out rel
    if [[ -d $restored/.homelab-backup/sqlite ]]; then
      while IFS= read -r -d '' dump; do
        rel=${dump#"$restored/"}
        sq_checked=$((sq_checked + 1))
        out=""
        if [[ $(head -c 15 "$dump") != "SQLite format 3" ]]; then
          out="not a SQLite database (no 'SQLite format 3' header)"
        elif ! out=$(sqlite3 -readonly "$dump" 'PRAGMA integrity_check' 2>&1) || [[ $out != ok ]]; then
          out="integrity_check: $(head -n 1 <<<"$out" | cut -c1-200)"
        else
          out=""
        fi
        if [[ -n $out ]]; then
          sq_failed=$((sq_failed + 1))
          [[ -n $sq_first ]] || sq_first="sqlite dump $rel: $out"
          log "$src: sqlite dump $rel: $out"
        fi
      done < <(find "$restored/.homelab-backup/sqlite" -type f ! -name '*-wal' ! -name '*-shm' ! -name '*-journal' -print0 | sort -z)
      log "$src: sqlite: $((sq_checked - sq_failed)) of $sq_checked dumps pass PRAGMA integrity_check"
    fi

    # (b) PostgreSQL dumps (pg_dump --format=custom).
    if [[ -d $restored/.homelab-backup/postgres ]]; then
      while IFS= read -r -d '' dump; do
        rel=${dump#"$restored/"}
        pg_checked=$((pg_checked + 1))
        out=""
        if ! pg_restore --list "$dump" >/dev/null 2>"$work/pg.err"; then
          out="pg_restore --list: $(last_line "$work/pg.err")"
        elif ! pg_restore --file=/dev/null "$dump" 2>"$work/pg.err"; then
          out="pg_restore (reading every data block): $(last_line "$work/pg.err")"
        fi
        if [[ -n $out ]]; then
          pg_failed=$((pg_failed + 1))
          [[ -n $pg_first ]] || pg_first="postgres dump $rel: $out"
          log "$src: postgres dump $rel: $out"
        fi
      done < <(find "$restored/.homelab-backup/postgres" -maxdepth 1 -type f -name '*.pgdump' -print0 | sort -z)
      log "$src: postgres: $((pg_checked - pg_failed)) of $pg_checked dumps readable by pg_restore"
    fi

    # (c) Compared against the live data at snapshot time: a live file whose mtime AND ctime are
    # older than the snapshot's startTime has not been written, replaced, renamed or chmod-ed
    # since the snapshot began (ctime cannot be set back by anyone), so its bytes now are its
    # bytes at snapshot time, and the restored copy must be byte-identical. Files changed since
    # the snapshot (or gone) are counted as changedSince, never as failures.
    start_epoch=$(date -u -d "$snap_start" +%s.%N)
    if [[ -d $src ]]; then
      find "$src" -type f ! -newermt "@$start_epoch" ! -newerct "@$start_epoch" -printf '%P\0' 2>/dev/null | sort -z >"$work/live"
    else
      : >"$work/live"
    fi
    find "$restored" -type f -printf '%P\0' | sort -z >"$work/restored"
    f_changed=$(comm -z -13 "$work/live" "$work/restored" | tr -cd '\0' | wc -c)
    local a b
    while IFS= read -r -d '' rel; do
      a=$(sha256sum <"$restored/$rel" | cut -d' ' -f1)
      if ! b=$(sha256sum <"$src/$rel" 2>/dev/null); then
        f_changed=$((f_changed + 1)) # removed while the drill ran
        continue
      fi
      b=${b%% *}
      if [[ $a != "$b" ]] && [[ -n $(find "$src/$rel" -newermt "@$start_epoch" -o -newerct "@$start_epoch" 2>/dev/null) ]]; then
        f_changed=$((f_changed + 1)) # written while the drill ran
        continue
      fi
      f_compared=$((f_compared + 1))
      if [[ $a != "$b" ]]; then
        f_mismatched=$((f_mismatched + 1))
        [[ -n $f_first ]] || f_first="file $rel: restored sha256 $a differs from the live file's $b (unchanged since before the snapshot)"
        log "$src: file $rel: restored sha256 $a differs from the live file's $b"
      fi
    done < <(comm -z -12 "$work/live" "$work/restored" | shuf -z -n "$sample")
    log "$src: files: $((f_compared - f_mismatched)) of $f_compared sampled files match the live data ($f_changed changed since the snapshot, not compared)"
  fi

  if [[ -n $scratch ]]; then
    rm -rf "$scratch"
    scratch=""
  fi

  error=${restore_error:-${sq_first:-${pg_first:-$f_first}}}
  local result=ok
  [[ -z $error ]] || result=failed
  local t1
  t1=$(now_ms)
  log "$src: drill $result in $((t1 - t0)) ms${error:+: $error}"
  jq -cn --arg path "$src" --argjson m "$manifest" --arg result "$result" --arg error "$error" \
    --arg start "$start" --arg finish "$(now)" --argjson durationMs "$((t1 - t0))" \
    --argjson files "$files" --argjson bytes "$bytes" --arg restoreError "$restore_error" \
    --argjson sqChecked "$sq_checked" --argjson sqFailed "$sq_failed" --arg sqFirst "$sq_first" \
    --argjson pgChecked "$pg_checked" --argjson pgFailed "$pg_failed" --arg pgFirst "$pg_first" \
    --argjson fCompared "$f_compared" --argjson fMismatched "$f_mismatched" \
    --argjson fChanged "$f_changed" --arg fFirst "$f_first" '
    def nullable: if . == "" then null else . end;
    {
      path: $path,
      snapshotId: ($m.id // null),
      snapshotTime: ($m.startTime // null),
      result: $result,
      error: ($error | nullable),
      start: $start,
      end: $finish,
      durationMs: $durationMs,
      restore: {files: $files, bytes: $bytes},
      checks: {
        restore: {ok: ($restoreError == ""), error: ($restoreError | nullable)},
        sqlite: {checked: $sqChecked, failed: $sqFailed, firstFailure: ($sqFirst | nullable)},
        postgres: {checked: $pgChecked, failed: $pgFailed, firstFailure: ($pgFirst | nullable)},
        files: {compared: $fCompared, mismatched: $fMismatched, changedSince: $fChanged, firstFailure: ($fFirst | nullable)}
      }
    }' >>"$work/results.jsonl" || {
    echo "homelab-backup-drill: could not record the drill of $src" >&2
    return 1
  }
  [[ $result == ok ]]
}

failed=0
for src in "${sources[@]}"; do
  drill_source "$src" || failed=$((failed + 1))
done

result=ok
((failed == 0)) || result=failed
previous='{}'
if [[ -s $state_dir/last-drill.json ]] && jq -e . "$state_dir/last-drill.json" >/dev/null 2>&1; then
  previous=$(cat "$state_dir/last-drill.json")
fi
jq -s --argjson previous "$previous" --arg start "$run_start" --arg finish "$(now)" --arg result "$result" '
  . as $new
  | ($new | map(.path)) as $paths
  | {
      version: 1,
      start: $start,
      end: $finish,
      result: $result,
      sources: ((($previous.sources // []) | map(select(.path as $p | $paths | index($p) | not))) + $new)
    }' "$work/results.jsonl" | write_atomic "$state_dir/last-drill.json"
log "done: $result ($failed of ${#sources[@]} sources failed)"
((failed == 0)) || exit 1
