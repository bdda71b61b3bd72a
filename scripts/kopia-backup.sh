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
#   HOMELAB_STORAGE_FILE      nixos/storage.json (a store path): each app's `backup` capture
#   HOMELAB_KOPIA_LOCK_WAIT   seconds to wait for the lock (default 21600 = 6 h)
#
# Consistent capture, before each source's snapshot, per its app's storage.json `backup.mode`
# (src/lib/config/schema.ts backupCaptureSchema; extraBackupSources and apps without `backup`
# are `files`; layout names: src/lib/backup/capture.ts):
#   files     the folder as it is.
#   sqlite    each of `databases` is copied with `VACUUM INTO` (SQLite's online copy in ONE read
#             transaction: a consistent point in time that a concurrent writer in WAL mode never
#             blocks or restarts; the `.backup` API restarts its page steps whenever another
#             connection writes, which a busy database can repeat indefinitely) into
#             <app>/.homelab-backup/sqlite/<db> (temp file, then rename). The live <db>,
#             <db>-wal, <db>-shm and <db>-journal are left out through <app>/.kopiaignore.
#   postgres  `k3s kubectl exec -n NS WORKLOAD [-c C] -- pg_dump --format=custom -U USER -d DB`
#             into a temp file, checked with pg_restore (`--list`, then a full read: a cut-off
#             dump fails the capture), then renamed to <app>/.homelab-backup/postgres/<db>.pgdump;
#             the live cluster folder /<dataDir>/ is left out through <app>/.kopiaignore.
#   stop      the Flux Kustomizations that apply the namespace's Deployments and StatefulSets
#             (their kustomize.toolkit.fluxcd.io/name and /namespace labels) are suspended, unless
#             already suspended: kustomize-controller re-applies spec.replicas from git on every
#             reconcile and would undo the scale. Then every Deployment and StatefulSet is scaled
#             to 0 (replicas remembered), the script waits until `get pods -l <spec.selector.
#             matchLabels>` lists no pod of any of them (terminating ones included: status.replicas
#             drops to 0 while pods still shut down; HOMELAB_STOP_TIMEOUT seconds, default 600),
#             snapshots, then scales each back to its remembered count and, after that, resumes
#             exactly the Kustomizations it suspended. Scale-back and resume run from a trap on
#             EXIT, INT and TERM too (a failed snapshot, `systemctl stop`); only SIGKILL can skip it.
# A capture that fails (missing database file, failed pg_dump, workloads that do not stop) fails
# that source and NO snapshot of it is taken: the previous snapshot stays the newest one, so an
# old dump is never snapshotted as if it were fresh (the old dump file stays on disk, untouched,
# until the next successful capture replaces it).
# .kopiaignore: the script owns the block between its BEGIN/END marker lines and keeps every
# other line a person wrote; `files`/`stop` apps get the block removed.
#
# Lock: $HOMELAB_BACKUP_STATE_DIR/.kopia.lock, shared with kopia-r2-sync.sh (and the restore
# drill), so a snapshot and a sync never overlap: a run WAITS for it (flock -w) and only gives up
# after HOMELAB_KOPIA_LOCK_WAIT seconds, with exit 75.
#
# Writes atomically (temp file + rename) in the status folder:
#   last-run.json   {version: 1, start, end, result: success|partial|failed, error,
#                    sources: [{path, snapshotId, startTime, endTime, size (bytes), files, dirs,
#                    errors (failed entries), exitCode, error, runStart, runEnd,
#                    capture: {mode: files|sqlite|postgres|stop, ok, error, ms} | null}]}
#                   capture is null when the capture did not run (source folder missing); ms is
#                   the dump's duration, or for `stop` how long the workloads were down.
#                   A --source run replaces that source's entry and keeps the others.
#   snapshots.json  `kopia snapshot list --json` after the run
# Exit: 0 all sources captured and snapshotted without failed entries; 1 otherwise; 2 bad usage;
#       75 the lock stayed held for HOMELAB_KOPIA_LOCK_WAIT seconds (not a failure:
#       SuccessExitStatus=75).
set -euo pipefail

state_dir=${HOMELAB_BACKUP_STATE_DIR:-/var/lib/homelab/backup}
sources_file=${HOMELAB_BACKUP_SOURCES:?HOMELAB_BACKUP_SOURCES must name the source list}
repository_path=${KOPIA_REPOSITORY_PATH:?KOPIA_REPOSITORY_PATH must name the Kopia repository}
storage_file=${HOMELAB_STORAGE_FILE:?HOMELAB_STORAGE_FILE must name the storage file (nixos/storage.json)}
lock_wait=${HOMELAB_KOPIA_LOCK_WAIT:-21600}
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
# One lock for snapshot and sync (kopia-r2-sync.sh takes the same file): wait, never overlap.
lock=$state_dir/.kopia.lock
exec 9>>"$lock"
if ! flock -n 9; then
  log "$lock is held (a sync, a drill or another snapshot run); waiting up to ${lock_wait}s"
  if ! flock -w "$lock_wait" 9; then
    echo "kopia-backup: $lock stayed held for ${lock_wait}s; not snapshotting this time" >&2
    exit 75
  fi
fi

work=$(mktemp -d)
: >"$work/scaled"
: >"$work/suspended"
# The scale-back of `stop` captures runs from here too: on a failed snapshot, an error exit,
# `systemctl stop` (TERM) or Ctrl-C (INT). INT/TERM exit through EXIT, which runs it once.
on_exit() {
  scale_back || true
  resume_flux || true
  rm -rf "$work"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
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

ms_now() { date +%s%3N; }

# The storage.json app whose `path` is the source, as compact JSON ("null" for extraBackupSources).
app_of() {
  jq -c --arg p "$1" '[.apps[]? | select((.path | rtrimstr("/")) == $p)][0] // null' "$storage_file"
}

# The dump folder <app>/.homelab-backup: root:root, mode 0700, because the dumps ARE the data
# (the app's own files may be readable by its uid; the copies are for root and kopia only).
dump_dir() {
  local dir=$1/.homelab-backup
  mkdir -p "$dir"
  chmod 0700 "$dir"
  if ((EUID == 0)); then chown root:root "$dir"; fi
  printf '%s\n' "$dir"
}

ignore_begin='# BEGIN homelab capture: written by scripts/kopia-backup.sh from storage.json apps[].backup; lines outside this block are yours'
ignore_end='# END homelab capture'

# Writes <app>/.kopiaignore with the script's block holding the lines on stdin (none: no block),
# keeping every line outside the block. Atomic; no file is created for an empty block.
write_ignore_block() {
  local file=$1/.kopiaignore block kept=""
  block=$(cat)
  if [[ -f $file ]]; then
    kept=$(awk -v b="$ignore_begin" -v e="$ignore_end" '$0 == b {skip = 1; next} $0 == e {skip = 0; next} !skip' "$file")
  fi
  [[ -z $block && ! -f $file ]] && return 0
  local content
  content=$(
    [[ -n $kept ]] && printf '%s\n' "$kept"
    if [[ -n $block ]]; then
      printf '%s\n' "$ignore_begin" "$block" "$ignore_end"
    fi
  )
  # Unchanged: leave the file (and its owner and mode) alone.
  if [[ -f $file ]] && [[ $(cat "$file") == "$content" ]]; then
    return 0
  fi
  printf '%s\n' "$content" | write_atomic "$file"
}

# sqlite: VACUUM INTO each database's dump (see the header for why not `.backup`).
capture_sqlite() {
  local src=$1 app=$2 dir db live dump tmp uri ignore=""
  local -a dbs
  mapfile -t dbs < <(jq -r '.backup.databases[]' <<<"$app")
  dir=$(dump_dir "$src")
  for db in "${dbs[@]}"; do
    live=$src/$db
    if [[ ! -f $live ]]; then
      capture_error="database $db is missing in $src (storage.json backup.databases)"
      return 1
    fi
    dump=$dir/sqlite/$db
    mkdir -p "$(dirname "$dump")"
    tmp=$dump.tmp
    rm -f "$tmp"
    # A read-only URI (percent-encoding what a URI path cannot hold); SQL quotes doubled.
    uri="file:$(sed -e 's/%/%25/g' -e 's/?/%3f/g' -e 's/#/%23/g' <<<"$live")?mode=ro"
    if ! sqlite3 "$uri" ".timeout 60000" "VACUUM INTO '${tmp//\'/\'\'}'" >"$work/capture.out" 2>"$work/capture.err"; then
      rm -f "$tmp"
      capture_error="sqlite3 VACUUM INTO of $db failed: $(grep -v '^\s*$' "$work/capture.err" | tail -n 1 | cut -c1-300)"
      return 1
    fi
    chmod 0600 "$tmp"
    mv -f "$tmp" "$dump" || { capture_error="could not move the dump of $db into place"; return 1; }
    ignore+="/$db"$'\n'"/$db-wal"$'\n'"/$db-shm"$'\n'"/$db-journal"$'\n'
  done
  printf '%s' "$ignore" | write_ignore_block "$src"
}

# postgres: pg_dump --format=custom in the workload's container, streamed to a temp file here.
capture_postgres() {
  local src=$1 app=$2 ns=$3 dir workload container database user data_dir dump tmp
  workload=$(jq -r '.backup.workload' <<<"$app")
  container=$(jq -r '.backup.container // ""' <<<"$app")
  database=$(jq -r '.backup.database' <<<"$app")
  user=$(jq -r '.backup.user' <<<"$app")
  data_dir=$(jq -r '.backup.dataDir' <<<"$app")
  if [[ $database == */* ]]; then
    capture_error="backup.database \"$database\" holds a /; it names the dump file"
    return 1
  fi
  dir=$(dump_dir "$src")
  mkdir -p "$dir/postgres"
  dump=$dir/postgres/$database.pgdump
  tmp=$(mktemp "$dir/postgres/.$database.pgdump.XXXXXX")
  local -a exec_args=(-n "$ns" "$workload")
  [[ -n $container ]] && exec_args+=(-c "$container")
  if ! k3s kubectl exec "${exec_args[@]}" -- pg_dump --format=custom -U "$user" -d "$database" >"$tmp" 2>"$work/capture.err"; then
    rm -f "$tmp"
    # pg_dump's own "pg_dump: error: …" line (its hints follow, indented); else kubectl's last line.
    local reason
    reason=$(grep -iE 'error' "$work/capture.err" | grep -v '^command terminated' | tail -n 1 || true)
    [[ -z $reason ]] && reason=$(grep -v '^\s*$' "$work/capture.err" | tail -n 1 || true)
    capture_error="pg_dump of $database in $ns/$workload failed: $(cut -c1-300 <<<"${reason:-no output}")"
    return 1
  fi
  if [[ ! -s $tmp ]]; then
    rm -f "$tmp"
    capture_error="pg_dump of $database in $ns/$workload wrote nothing"
    return 1
  fi
  # Checked before it replaces the previous dump: `pg_restore --list` reads the archive's table of
  # contents, a full read into /dev/null reads every data block to the end (a dump cut off in
  # its data, e.g. by a broken exec stream, still lists fine). pg_restore runs here, on the host
  # (nixos/backup.nix puts pkgs.postgresql on the unit's PATH).
  if ! pg_restore --list "$tmp" >/dev/null 2>"$work/capture.err" || ! pg_restore --file=/dev/null "$tmp" 2>"$work/capture.err"; then
    rm -f "$tmp"
    capture_error="the pg_dump of $database in $ns/$workload does not read back ($(grep -v '^\s*$' "$work/capture.err" | tail -n 1 | cut -c1-200)); the previous dump is kept"
    return 1
  fi
  chmod 0600 "$tmp"
  mv -f "$tmp" "$dump" || { capture_error="could not move the dump of $database into place"; return 1; }
  printf '/%s/\n' "${data_dir%/}" | write_ignore_block "$src"
}

# Scales every workload in $work/scaled ("<kind>/<name> <replicas> <namespace>" lines) back to
# its remembered count and empties the list. Returns 1 when any scale failed (all are tried).
scale_back() {
  [[ -s $work/scaled ]] || return 0
  local ref replicas ns rc=0
  while read -r ref replicas ns; do
    [[ -n $ref ]] || continue
    log "scaling $ns/$ref back to $replicas"
    if ! k3s kubectl scale "$ref" -n "$ns" --replicas="$replicas" </dev/null >/dev/null 2>>"$work/scale.err"; then
      log "could not scale $ns/$ref back to $replicas: $(tail -n 1 "$work/scale.err")"
      scale_error="could not scale $ns/$ref back to $replicas replicas: $(tail -n 1 "$work/scale.err" | cut -c1-200)"
      rc=1
    fi
  done <"$work/scaled"
  : >"$work/scaled"
  return "$rc"
}

# Resumes the Flux Kustomizations in $work/suspended ("<namespace> <name>" lines: the ones this
# run suspended, never one that was suspended before) and empties the list. Runs AFTER
# scale_back, so kustomize-controller's first reconcile finds the replicas git declares.
# Returns 1 when any resume failed (all are tried).
resume_flux() {
  [[ -s $work/suspended ]] || return 0
  local ks_ns ks rc=0
  while read -r ks_ns ks; do
    [[ -n $ks ]] || continue
    log "resuming Flux Kustomization $ks_ns/$ks"
    if ! k3s kubectl patch kustomization "$ks" -n "$ks_ns" --type merge -p '{"spec":{"suspend":false}}' </dev/null >/dev/null 2>>"$work/scale.err"; then
      log "could not resume Flux Kustomization $ks_ns/$ks: $(tail -n 1 "$work/scale.err")"
      scale_error="could not resume Flux Kustomization $ks_ns/$ks (run: flux resume kustomization $ks -n $ks_ns): $(tail -n 1 "$work/scale.err" | cut -c1-200)"
      rc=1
    fi
  done <"$work/suspended"
  : >"$work/suspended"
  return "$rc"
}

# Suspends the Flux Kustomizations that apply the workloads of $work/workloads.json (their
# kustomize.toolkit.fluxcd.io/name and /namespace labels): kustomize-controller re-applies
# spec.replicas from git on its next reconcile and would undo the scale to 0 mid-snapshot. One
# already suspended (by a person) is left alone, and so is not resumed afterwards.
suspend_flux() {
  local ks_ns ks suspended
  while read -r ks_ns ks; do
    [[ -n $ks ]] || continue
    if ! k3s kubectl get kustomization "$ks" -n "$ks_ns" -o json </dev/null >"$work/ks.json" 2>"$work/capture.err"; then
      capture_error="reading Flux Kustomization $ks_ns/$ks (it applies workloads of namespace $ns) failed: $(tail -n 1 "$work/capture.err" | cut -c1-300)"
      return 1
    fi
    suspended=$(jq -r '.spec.suspend // false' "$work/ks.json")
    if [[ $suspended == true ]]; then
      log "Flux Kustomization $ks_ns/$ks is already suspended; leaving it so"
      continue
    fi
    # Remembered BEFORE the patch, so a kill between the two still resumes it.
    printf '%s %s\n' "$ks_ns" "$ks" >>"$work/suspended"
    log "suspending Flux Kustomization $ks_ns/$ks for the snapshot"
    if ! k3s kubectl patch kustomization "$ks" -n "$ks_ns" --type merge -p '{"spec":{"suspend":true}}' </dev/null >/dev/null 2>"$work/capture.err"; then
      capture_error="suspending Flux Kustomization $ks_ns/$ks failed: $(tail -n 1 "$work/capture.err" | cut -c1-300)"
      return 1
    fi
  done < <(jq -r '[.items[] | .metadata.labels // {} | select(.["kustomize.toolkit.fluxcd.io/name"] != null)
      | "\(.["kustomize.toolkit.fluxcd.io/namespace"] // "flux-system") \(.["kustomize.toolkit.fluxcd.io/name"])"] | unique[]' "$work/workloads.json")
}

# stop: suspend Flux for the namespace's Deployments and StatefulSets, scale them to 0 and wait
# until none of their pods is listed any more (terminating ones included).
stop_workloads() {
  local ns=$1 ref replicas selector deadline pending
  if ! k3s kubectl get deployments,statefulsets -n "$ns" -o json >"$work/workloads.json" 2>"$work/capture.err"; then
    capture_error="listing the workloads of namespace $ns failed: $(tail -n 1 "$work/capture.err" | cut -c1-300)"
    return 1
  fi
  suspend_flux || return 1
  : >"$work/selectors"
  while read -r ref replicas selector; do
    [[ -n $ref ]] || continue
    if [[ -z $selector ]]; then
      capture_error="$ns/$ref has no spec.selector.matchLabels: cannot tell when its pods are gone"
      return 1
    fi
    printf '%s %s\n' "$ref" "$selector" >>"$work/selectors"
    # Remembered BEFORE the scale, so a kill between the two still scales it back.
    printf '%s %s %s\n' "$ref" "$replicas" "$ns" >>"$work/scaled"
    log "scaling $ns/$ref from $replicas to 0"
    if ! k3s kubectl scale "$ref" -n "$ns" --replicas=0 </dev/null >/dev/null 2>"$work/capture.err"; then
      capture_error="scaling $ns/$ref to 0 failed: $(tail -n 1 "$work/capture.err" | cut -c1-300)"
      return 1
    fi
  done < <(jq -r '.items[] | "\(.kind | ascii_downcase)/\(.metadata.name) \(.spec.replicas // 1) \(.spec.selector.matchLabels // {} | to_entries | map("\(.key)=\(.value)") | join(","))"' "$work/workloads.json")
  [[ -s $work/scaled ]] || log "namespace $ns has no Deployment or StatefulSet to stop"
  # A workload's status.replicas drops to 0 while its pods still terminate (and write): wait
  # until `get pods -l <its selector>` lists none, terminating ones (deletionTimestamp) included.
  deadline=$(($(date +%s) + ${HOMELAB_STOP_TIMEOUT:-600}))
  while [[ -s $work/selectors ]]; do
    pending=""
    while read -r ref selector; do
      if ! k3s kubectl get pods -n "$ns" -l "$selector" -o json </dev/null >"$work/pods.json" 2>"$work/capture.err"; then
        capture_error="listing the pods of $ns/$ref failed: $(tail -n 1 "$work/capture.err" | cut -c1-300)"
        return 1
      fi
      if ! jq -e '.items | length == 0' "$work/pods.json" >/dev/null; then
        pending+="${pending:+, }$ref ($(jq -r '[.items[].metadata.name] | join(" ")' "$work/pods.json"))"
      fi
    done <"$work/selectors"
    [[ -z $pending ]] && return 0
    if (($(date +%s) >= deadline)); then
      capture_error="pods of namespace $ns are still there after ${HOMELAB_STOP_TIMEOUT:-600}s: $pending"
      return 1
    fi
    sleep 2
  done
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
  capture=null
  if [[ ! -d $src ]]; then
    error="source folder $src is missing"
    log "$error"
    failed=$((failed + 1))
  else
    app=$(app_of "$src")
    mode=$(jq -r '.backup.mode // "files"' <<<"$app")
    ns=$(jq -r '.backup.namespace // .name // ""' <<<"$app")
    capture_error=""
    scale_error=""
    capture_ok=true
    capture_start=$(ms_now)
    log "capture of $src: $mode"
    case $mode in
      files) write_ignore_block "$src" </dev/null || capture_ok=false ;;
      sqlite) capture_sqlite "$src" "$app" || capture_ok=false ;;
      postgres) capture_postgres "$src" "$app" "$ns" || capture_ok=false ;;
      stop)
        write_ignore_block "$src" </dev/null || true
        stop_workloads "$ns" || capture_ok=false
        ;;
      *)
        capture_error="unknown backup.mode $mode in $storage_file"
        capture_ok=false
        ;;
    esac
    capture_ms=$(($(ms_now) - capture_start))
    if [[ $capture_ok == true ]]; then
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
      fi
    else
      [[ -z $capture_error ]] && capture_error="the $mode capture failed"
      log "capture of $src failed: $capture_error; no snapshot taken"
      error="capture ($mode) failed, no snapshot taken: $capture_error"
    fi
    if [[ $mode == stop ]]; then
      stop_ok=true
      scale_back || stop_ok=false
      resume_flux || stop_ok=false
      if [[ $stop_ok == false ]]; then
        capture_ok=false
        capture_error=${capture_error:-$scale_error}
        [[ -z $error ]] && error="capture (stop): $scale_error"
      fi
      capture_ms=$(($(ms_now) - capture_start))
    fi
    [[ -n $error ]] && failed=$((failed + 1))
    capture=$(jq -cn --arg mode "$mode" --argjson ok "$capture_ok" --arg error "$capture_error" \
      --argjson ms "$capture_ms" \
      '{mode: $mode, ok: $ok, error: (if $error == "" then null else $error end), ms: $ms}')
  fi
  jq -cn --arg path "$src" --argjson m "$manifest" --argjson code "$code" --arg error "$error" \
    --arg runStart "$source_start" --arg runEnd "$(now)" --argjson capture "$capture" '{
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
      runEnd: $runEnd,
      capture: $capture
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
