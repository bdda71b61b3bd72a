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
 * `delaySeconds` it is a timer: it first waits, then runs `script` only if it can take the
 * timer's token, `<name>.pending` (holding the mode), by renaming it to `<name>.fired`; rename is
 * atomic, so exactly one of the timer and {@link cancelDetached} gets it. systemd-run: unit
 * `<name>` (timer `<name>.timer`); setsid: a new session whose pid (= process group) is in
 * `<name>.pid`.
 */
export function startDetached(name: string, script: string, mode: DetachMode, delaySeconds?: number): string {
  const file = (suffix: string) => shellQuote(`${STATE_DIR}/${name}.${suffix}`)
  const pid = file('pid')
  const claim = delaySeconds === undefined ? '' : `mv ${file('pending')} ${file('fired')} 2>/dev/null || exit 0; `
  // The pid file (setsid) goes when the run ends, so nobody signals a reused pid later.
  const body = `exec > ${file('log')} 2>&1; ${claim}${script}; echo $? > ${file('exit')}; rm -f ${pid}`
  const token = delaySeconds === undefined ? '' : ` && rm -f ${file('fired')} ${file('cancelled')} && echo ${mode} > ${file('pending')}`
  const prepare = `mkdir -p ${STATE_DIR} && rm -f ${file('exit')} && : > ${file('log')}${token}`
  if (mode === 'systemd-run') {
    const timer = delaySeconds === undefined ? [] : [`--on-active=${delaySeconds}s`]
    // A transient unit starts with systemd's default PATH, which on NixOS holds no nixos-rebuild: pass ours.
    return `${prepare} && systemd-run --quiet --collect ${shellJoin([`--unit=${name}`, ...timer])} "--setenv=PATH=$PATH" ${shellJoin(['sh', '-c', body])}`
  }

  const delayed = delaySeconds === undefined ? body : `sleep ${delaySeconds}; ${body}`
  return `${prepare} && cd / && { setsid nohup sh -c ${shellQuote(delayed)} < /dev/null > /dev/null 2>&1 & echo $! > ${pid}; }`
}

/**
 * As root: cancels a timer started by {@link startDetached} with a delay, and fails (exit 1, the
 * reason on stderr) unless it is certain the timer's script will not run. Certainty comes from
 * the token alone: renaming `<name>.pending` to `<name>.cancelled` succeeds only while the timer
 * has not taken it (then its script can never start), and fails at once when it has (`.fired`:
 * already started) or the timer is unknown. Nothing waits for processes to end, so finished
 * processes a slow parent has not reaped yet (zombies) cannot delay or fail the confirmation.
 * Then the waiting timer is stopped, best effort: systemd-run `systemctl stop <name>.timer`;
 * setsid SIGTERM to the process group in `<name>.pid` (`kill -TERM -PGID`, POSIX form: dash's
 * built-in kill rejects `--`), and the pid file is removed.
 */
export function cancelDetached(name: string, mode: DetachMode): string {
  return `n=${shellQuote(name)}; ${cancelNamedDetached(mode)}`
}

/** The body of {@link cancelDetached} for the timer named by the shell variable `$n`. */
function cancelNamedDetached(mode: DetachMode): string {
  const f = (suffix: string) => `"${STATE_DIR}/$n.${suffix}"`
  const claim = [
    `if ! mv ${f('pending')} ${f('cancelled')} 2>/dev/null; then`,
    `if [ -e ${f('fired')} ]; then echo "$n already started (see ${STATE_DIR}/$n.log); not cancelled" >&2;`,
    `else echo "$n is not pending (no ${STATE_DIR}/$n.pending): it was never armed or was cancelled already" >&2; fi; exit 1; fi`,
  ].join(' ')
  if (mode === 'systemd-run') return `${claim}; systemctl stop "$n.timer" 2>/dev/null; true`
  return [claim, `p=$(cat ${f('pid')} 2>/dev/null); case $p in '' | *[!0-9]*) ;; *) kill -TERM -"$p" 2>/dev/null ;; esac`, `rm -f ${f('pid')}`].join('; ')
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

/** The NixOS system profile, whose generations `nixos-rebuild list-generations` lists. */
export const SYSTEM_PROFILE = '/nix/var/nix/profiles/system'

/**
 * `homelab rollback --to N`: what nixos-rebuild(-ng) does for `--rollback`, for one chosen
 * generation: point the system profile at generation N (`nix-env --switch-generation`), then run
 * that generation's `bin/switch-to-configuration switch`.
 */
export function switchGenerationCommand(generation: number | string): string {
  // A string only for --dry-run's placeholder (`<current generation>`).
  const n = typeof generation === 'number' ? Math.trunc(generation) : generation
  return `nix-env --profile ${SYSTEM_PROFILE} --switch-generation ${n} && ${SYSTEM_PROFILE}/bin/switch-to-configuration switch`
}

/**
 * The magic-rollback script: unless cancelled, after the delay it switches back only when the
 * running system is still exactly `newSystem`, the one this run activated (a failed switch never
 * rolls back too far, and a stale timer never undoes a later deploy). It runs only once the timer
 * took its token (see {@link startDetached}); its first line goes to the log at once.
 *
 * With `previous` (the generation the host ran before this run, and its store path) it switches
 * to exactly that generation: `nix-env --switch-generation N` then the profile's
 * `bin/switch-to-configuration switch`, what `nixos-rebuild switch --rollback` does for the
 * numerically previous generation (nixos-rebuild-ng's rollback: `nix-env --rollback` then
 * switch-to-configuration). The numerically previous one is wrong after an earlier rollback: the
 * generation before the new one is then the earlier failed one. Without `previous`, or when
 * generation N no longer holds that system, it falls back to `nixos-rebuild switch --rollback`.
 */
export function rollbackScript(newSystem: string, previous?: {generation: number | string; system: string}): string {
  const quoted = shellQuote(newSystem)
  const back = previous
    ? [
        `if [ "$(readlink -f ${SYSTEM_PROFILE}-${previous.generation}-link)" = ${shellQuote(previous.system)} ]; then echo "switching back to generation ${previous.generation}";`,
        `${switchGenerationCommand(previous.generation)};`,
        `else echo "generation ${previous.generation} no longer holds the previous system: nixos-rebuild switch --rollback"; nixos-rebuild switch --rollback; fi`,
      ].join(' ')
    : 'nixos-rebuild switch --rollback'
  return [
    'echo "homelab magic rollback: no confirmation came; checking /run/current-system"',
    `if [ "$(readlink -f /run/current-system)" = ${quoted} ]; then ${back}`,
    `else echo "the running system is $(readlink -f /run/current-system), not ${newSystem.replaceAll(/["$`\\]/g, '')} which this run activated: nothing to roll back"; fi`,
  ].join('; ')
}

/**
 * Lists the magic rollbacks of earlier runs that are pending or running on the host, one
 * `<state> <mode> <name>` line each (state: `pending` or `running`; mode: `setsid` or
 * `systemd-run`, read from the token). Runs as the login user.
 * - pending: the token `/run/homelab/homelab-rollback-*.pending` is there (neither fired nor
 *   cancelled) and the timer still waits: its systemd timer unit is active, or (setsid) the
 *   process in `<name>.pid` exists and is not a zombie (`/proc/PID/stat` state `Z`: it ended, its
 *   parent has not reaped it).
 * - running: the timer fired (`<name>.fired`), its script has not written `<name>.exit`, and it
 *   still runs (its service unit is active, or the setsid process lives): it is switching the host
 *   back right now, and a deploy must not activate beside it.
 * A token whose timer or script is gone (killed) can never act and is not listed.
 */
export const PENDING_ROLLBACKS = [
  `for f in ${STATE_DIR}/homelab-rollback-*.pending ${STATE_DIR}/homelab-rollback-*.fired; do [ -e "$f" ] || continue; n=\${f##*/};`,
  `case $n in *.pending) st=pending; n=\${n%.pending}; u=timer ;; *) st=running; n=\${n%.fired}; u=service; [ ! -e "${STATE_DIR}/$n.exit" ] || continue ;; esac;`,
  'm=$(cat "$f" 2>/dev/null);',
  `case $m in systemd-run) systemctl is-active --quiet "$n.$u" 2>/dev/null || continue ;;`,
  `setsid) p=$(cat "${STATE_DIR}/$n.pid" 2>/dev/null) || continue; s=$(cat "/proc/$p/stat" 2>/dev/null) || continue; s=\${s##*") "}; [ "\${s%% *}" != Z ] || continue ;;`,
  '*) continue ;; esac; echo "$st $m $n"; done; true',
].join(' ')

/** One line of {@link PENDING_ROLLBACKS}: an earlier run's magic rollback still waiting, or running now. */
export interface EarlierRollback {
  state: 'pending' | 'running'
  mode: DetachMode
  /** `homelab-rollback-<run id>` */
  name: string
}

/** Parses {@link PENDING_ROLLBACKS} output (names must be `homelab-rollback-…`; other lines are ignored). */
export function parsePendingRollbacks(stdout: string): EarlierRollback[] {
  return stdout
    .split('\n')
    .map((l) => /^(pending|running) (setsid|systemd-run) (homelab-rollback-[\w.-]+)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({mode: m[2] as DetachMode, name: m[3], state: m[1] as EarlierRollback['state']}))
}

/** `nixos-rebuild <action> --flake <dir>#<host>` (or `switch --rollback`). */
export function rebuildCommand(action: string, flakeDir?: string, hostName?: string): string {
  return action === 'rollback' ? 'nixos-rebuild switch --rollback' : shellJoin(['nixos-rebuild', action, '--flake', `${flakeDir}#${hostName}`])
}


/** Prints the host flake's lock file. */
export function readFlakeLockCommand(flakeDir: string): string {
  return `cat ${shellQuote(`${flakeDir}/flake.lock`)}`
}
