import {shellJoin, shellQuote} from '../ssh/shell.js'
import {NIX_FLAGS} from './nix.js'

/**
 * The remote commands of deploy and rollback, as text (so `--dry-run` prints exactly what would
 * run). Paths: the lock under /run/lock (tmpfs, world-writable with sticky bit), the detached
 * runs' logs, exit files and pids under /run/homelab (root, created on demand).
 */

/** Folder on the host for detached runs' logs, exit codes and pids. */
export const STATE_DIR = '/run/homelab'
/** Exit status flock(1) gives with `-E` when the lock is held. */
export const LOCK_BUSY_EXIT = 75
/** Printed by a follow command after the log: `__HOMELAB_EXIT__ <code>`. */
export const EXIT_MARKER = '__HOMELAB_EXIT__'
/** Printed before the store path by the build command. */
export const RESULT_MARKER = '__HOMELAB_RESULT__'

/** The host-side lock file for one flake dir: `/run/lock/homelab-deploy-etc-nixos.lock`. */
export function lockPath(flakeDir: string): string {
  return `/run/lock/homelab-deploy${flakeDir.replaceAll(/[^\w.]+/g, '-').replace(/-$/, '')}.lock`
}

/**
 * Holds the lock while the channel's stdin is open: `flock -n` (fails at once with exit 75 when
 * another deploy holds it), writes who holds it to `<lock>.holder`, prints `locked`, then waits
 * for stdin to close (end of the run, or a dropped connection).
 */
export function lockCommand(lock: string, holder: string): string {
  const inner = `printf '%s\\n' "$0" > ${shellQuote(`${lock}.holder`)}; echo locked; exec cat > /dev/null`
  return `flock -n -E ${LOCK_BUSY_EXIT} ${shellQuote(lock)} sh -c ${shellQuote(inner)} ${shellQuote(holder)}`
}

/** Prints who holds the lock (the `.holder` file), or nothing. */
export function lockHolderCommand(lock: string): string {
  return `cat ${shellQuote(`${lock}.holder`)} 2>/dev/null || true`
}

/** Prints `systemd` when the host runs systemd (systemd-run usable), else `none`. */
export const DETECT_SYSTEMD = 'if command -v systemd-run >/dev/null 2>&1 && [ -d /run/systemd/system ]; then echo systemd; else echo none; fi'

/** Reads the running system's store path. */
export const CURRENT_SYSTEM = 'readlink -f /run/current-system'

/** The flake.lock backup kept while a deploy runs (restored on failure). */
export function lockBackupPath(flakeDir: string): string {
  return `${flakeDir}/flake.lock.homelab-deploy-backup`
}

/** As root: keep a copy of flake.lock, then run the flake update command. */
export function flakeUpdateAsRoot(flakeDir: string, updateCommand: string): string {
  return `cp -p ${shellQuote(`${flakeDir}/flake.lock`)} ${shellQuote(lockBackupPath(flakeDir))} && ${updateCommand}`
}

/** As root: put the backed-up flake.lock back. */
export function restoreFlakeLock(flakeDir: string): string {
  return `if [ -e ${shellQuote(lockBackupPath(flakeDir))} ]; then mv -f ${shellQuote(lockBackupPath(flakeDir))} ${shellQuote(`${flakeDir}/flake.lock`)}; fi`
}

/** As root: drop the flake.lock backup after success. */
export function dropLockBackup(flakeDir: string): string {
  return `rm -f ${shellQuote(lockBackupPath(flakeDir))}`
}

/** As root: `nixos-rebuild build` in a temp folder; prints `__HOMELAB_RESULT__ <store path>`. */
export function buildCommand(flakeDir: string, hostName: string): string {
  const rebuild = shellJoin(['nixos-rebuild', 'build', '--flake', `${flakeDir}#${hostName}`])
  return `d=$(mktemp -d) && cd "$d" && ${rebuild} && echo "${RESULT_MARKER} $(readlink -f result)"; rc=$?; cd /; rm -rf "$d"; exit $rc`
}

/** As root (single-user Nix needs it): the closure change of NEW against OLD. */
export function diffClosuresCommand(from: string, to: string): string {
  return shellJoin(['nix', ...NIX_FLAGS, 'store', 'diff-closures', from, to])
}

/** How a detached run is started: systemd-run when the host has systemd, else setsid + nohup. */
export type DetachMode = 'systemd-run' | 'setsid'

/**
 * As root: starts `script` detached from the SSH session, so a dropped connection cannot kill it.
 * Its output goes to `/run/homelab/<name>.log` and its exit code to `<name>.exit`. With
 * `delaySeconds` it first waits (a timer). systemd-run: unit `<name>` (timer `<name>.timer`);
 * setsid: a new session whose pid is in `<name>.pid`.
 */
export function startDetached(name: string, script: string, mode: DetachMode, delaySeconds?: number): string {
  const log = `${STATE_DIR}/${name}.log`
  const exit = `${STATE_DIR}/${name}.exit`
  const pid = shellQuote(`${STATE_DIR}/${name}.pid`)
  // The pid file (setsid) goes when the run ends, so nobody signals a reused pid later.
  const body = `exec > ${shellQuote(log)} 2>&1; ${script}; echo $? > ${shellQuote(exit)}; rm -f ${pid}`
  const prepare = `mkdir -p ${STATE_DIR} && rm -f ${shellQuote(exit)} && : > ${shellQuote(log)}`
  if (mode === 'systemd-run') {
    const timer = delaySeconds === undefined ? [] : [`--on-active=${delaySeconds}s`]
    // A transient unit starts with systemd's default PATH, which on NixOS holds no nixos-rebuild: pass ours.
    return `${prepare} && systemd-run --quiet --collect ${shellJoin([`--unit=${name}`, ...timer])} "--setenv=PATH=$PATH" ${shellJoin(['sh', '-c', body])}`
  }

  const delayed = delaySeconds === undefined ? body : `sleep ${delaySeconds}; ${body}`
  return `${prepare} && cd / && { setsid nohup sh -c ${shellQuote(delayed)} < /dev/null > /dev/null 2>&1 & echo $! > ${pid}; }`
}

/**
 * As root: cancels a detached timer started by {@link startDetached} with a delay, and fails
 * (exit 1, the reason on stderr) unless it is certain the timer's script will not run: the timer
 * must still be pending (its log empty: the script's first line goes there), and afterwards
 * nothing of it may be left. systemd-run: the `<name>.timer` must be active, then it is stopped.
 * setsid: the whole process group in `<name>.pid` gets SIGTERM (`kill -TERM -PGID`, POSIX form:
 * dash's built-in kill rejects `--`), `kill -0 -PGID` must then report the group gone (polled
 * for up to 5 s); only then is the pid file removed.
 */
export function cancelDetached(name: string, mode: DetachMode): string {
  return `n=${shellQuote(name)}; ${cancelNamedDetached(mode)}`
}

/** The body of {@link cancelDetached} for the timer named by the shell variable `$n`. */
function cancelNamedDetached(mode: DetachMode): string {
  const log = `${STATE_DIR}/$n.log`
  const started = `if [ -s "${log}" ]; then echo "$n already started (see ${log}); not cancelled" >&2; exit 1; fi`
  if (mode === 'systemd-run')
    return [
      started,
      `if ! systemctl is-active --quiet "$n.timer"; then echo "$n.timer is not pending any more (it elapsed or was stopped); see ${log}" >&2; exit 1; fi`,
      `systemctl stop "$n.timer" || exit 1`,
    ].join('; ')
  const pid = `${STATE_DIR}/$n.pid`
  return [
    `p=$(cat "${pid}" 2>/dev/null) || { echo "$n is not pending any more (no ${pid}); see ${log}" >&2; exit 1; }`,
    `case $p in '' | *[!0-9]*) echo "${pid} holds no pid: $p" >&2; exit 1 ;; esac`,
    started,
    `kill -TERM -"$p" || { echo "$n: process group $p is gone; see ${log}" >&2; exit 1; }`,
    `i=0; while kill -0 -"$p" 2>/dev/null; do i=$((i + 1)); if [ $i -gt 50 ]; then echo "$n: process group $p still runs 5 s after SIGTERM" >&2; exit 1; fi; sleep 0.1; done`,
    `rm -f "${pid}"`,
  ].join('; ')
}

/**
 * Follows a detached run's log from its start until its exit file appears (GNU tail `--pid`
 * on a waiter), then prints `__HOMELAB_EXIT__ <code>`. Runs as the login user (the log is 0644).
 */
export function followCommand(name: string): string {
  const log = shellQuote(`${STATE_DIR}/${name}.log`)
  const exit = shellQuote(`${STATE_DIR}/${name}.exit`)
  return `(while [ ! -e ${exit} ]; do sleep 0.1; done) & w=$!; tail -s 0.1 -n +1 -f --pid=$w ${log}; echo "${EXIT_MARKER} $(cat ${exit})"`
}

/**
 * The magic-rollback script: unless cancelled, after the delay it switches back only when the
 * running system is still exactly `newSystem`, the one this run activated (a failed switch never
 * rolls back too far, and a stale timer never undoes a later deploy). Its first line goes to the
 * log at once, which tells {@link cancelDetached} that it has started.
 */
export function rollbackScript(newSystem: string): string {
  const quoted = shellQuote(newSystem)
  return [
    'echo "homelab magic rollback: no confirmation came; checking /run/current-system"',
    `if [ "$(readlink -f /run/current-system)" = ${quoted} ]; then nixos-rebuild switch --rollback`,
    `else echo "the running system is $(readlink -f /run/current-system), not ${newSystem.replaceAll(/["$`\\]/g, '')} which this run activated: nothing to roll back"; fi`,
  ].join('; ')
}

/**
 * Lists the magic rollbacks of earlier runs still pending on the host, one `<mode> <name>` line
 * each (mode: `setsid` or `systemd-run`). Runs as the login user: setsid timers are the
 * `/run/homelab/homelab-rollback-*.pid` files whose process still exists; systemd ones the active
 * `homelab-rollback-*.timer` units (`systemctl list-units`).
 */
export const PENDING_ROLLBACKS = [
  `for f in ${STATE_DIR}/homelab-rollback-*.pid; do [ -e "$f" ] || continue; p=$(cat "$f" 2>/dev/null); [ -n "$p" ] && [ -d "/proc/$p" ] || continue; n=\${f##*/}; echo "setsid \${n%.pid}"; done`,
  `if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then systemctl list-units --type=timer --state=active --plain --no-legend --no-pager 'homelab-rollback-*' | while read -r u _; do echo "systemd-run \${u%.timer}"; done; fi`,
  'true',
].join('; ')

/** Parses {@link PENDING_ROLLBACKS} output into `{mode, name}` entries (names must be `homelab-rollback-…`). */
export function parsePendingRollbacks(stdout: string): Array<{mode: DetachMode; name: string}> {
  return stdout
    .split('\n')
    .map((l) => /^(setsid|systemd-run) (homelab-rollback-[\w.-]+)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({mode: m[1] as DetachMode, name: m[2]}))
}

/** `nixos-rebuild <action> --flake <dir>#<host>` (or `switch --rollback`). */
export function rebuildCommand(action: string, flakeDir?: string, hostName?: string): string {
  return action === 'rollback' ? 'nixos-rebuild switch --rollback' : shellJoin(['nixos-rebuild', action, '--flake', `${flakeDir}#${hostName}`])
}

/** Prints the host flake's lock file. */
export function readFlakeLockCommand(flakeDir: string): string {
  return `cat ${shellQuote(`${flakeDir}/flake.lock`)}`
}
