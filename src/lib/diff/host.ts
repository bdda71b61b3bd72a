import {execa} from 'execa'

import type {HostConfig} from '../config/schema.js'
import {HomelabError, HostUnreachableError, UsageError} from '../errors.js'
import {fetchCheckCommand, type InputSource, parseFetchCheck, readInputSource} from '../deploy/fetch-check.js'
import {parseDiffClosures} from '../deploy/nix.js'
import {CURRENT_SYSTEM, diffClosuresCommand, readFlakeLockCommand, RESULT_MARKER} from '../deploy/remote.js'
import {NIX_FLAGS} from '../deploy/nix.js'
import {shellJoin, shellQuote} from '../ssh/shell.js'

/**
 * The host side of `homelab diff` (issue 16): what activating a commit would change on a NixOS
 * host, found by building the new system ON the host without changing its state, then comparing
 * it with `/run/current-system`. The pieces that compare two systems ({@link compareSystems}) are
 * shared with `homelab deploy`'s closure-diff step.
 */

/** One package whose versions change, from `nix store diff-closures`; `∅` (absent) is an empty list. */
export interface HostPackageChange {
  name: string
  /** Versions before (`ε` = a store path without version); empty when the package is new (or both empty: same versions, only the size changed). */
  from: string[]
  /** Versions after; empty when the package goes away (or both empty: a size-only change). */
  to: string[]
  /** Size change of the package's store paths in KiB when diff-closures printed one (over 8 KiB). */
  sizeKiB?: number
}

/** systemd units the activation would add, remove or restart/reload (unit names, sorted). */
export interface UnitChanges {
  added: string[]
  removed: string[]
  /** The unit file or one of its drop-ins (`<unit>.d/*.conf`) resolves to another store path. */
  changed: string[]
}

/** How two NixOS systems differ (see {@link compareSystems}). */
export interface SystemChange {
  packages: HostPackageChange[]
  /** Closure size of the new system minus that of the old one, in bytes (`nix path-info -S`). */
  sizeDeltaBytes: number
  units: UnitChanges
  /** `nix store diff-closures` output as printed (for deploy's approve callback). */
  diffText: string
}

/** One host's part of `homelab diff --json` (`hosts[]`). */
export interface HostDiff extends Omit<SystemChange, 'diffText'> {
  host: string
  /**
   * `changed`/`unchanged`: built and compared; `skipped`: not built (`--offline`, or the commit
   * is not on the input's remote yet: `message` says which); `failed`: see `message`/`exitCode`.
   */
  status: 'changed' | 'unchanged' | 'skipped' | 'failed'
  /** The commit built (the homelab input overridden to it). */
  commit?: string
  /** The input URL `--override-input` was given (the host flake.lock's source at `commit`). */
  overrideUrl?: string
  currentSystem?: string
  newSystem?: string
  message?: string
  /** For `failed`: 2 host unreachable / host key refused, 1 otherwise. */
  exitCode?: number
}

/**
 * Prints, for the system at `system` (a store path or /run/current-system), each unit file and
 * drop-in under `etc/systemd/system` as `<relative path>\t<readlink -f target>`: top-level
 * entries (`k3s.service`) and files in drop-in folders (`k3s.service.d/overrides.conf`).
 * `*.wants`/`*.requires`/`*.upholds` folders only enable units and are left out. Prints nothing
 * when the folder does not exist. Runs as the login user (the store is world-readable).
 */
export function unitListingCommand(system: string): string {
  const dir = shellQuote(`${system}/etc/systemd/system`)
  return [
    `if [ -d ${dir} ]; then cd ${dir} || exit 1; for f in * */*; do`,
    'case $f in *.wants/* | *.requires/* | *.upholds/*) continue ;; esac;',
    '{ [ -e "$f" ] || [ -L "$f" ]; } || continue; [ -d "$f" ] && continue;',
    `printf '%s\\t%s\\n' "$f" "$(readlink -f "$f")"; done; fi`,
  ].join(' ')
}

/**
 * Reads {@link unitListingCommand} output into unit name → its files (`relative path=target`,
 * sorted), a drop-in counted under its unit (`k3s.service.d/x.conf` → `k3s.service`).
 */
export function parseUnitListing(text: string): Map<string, string[]> {
  const units = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t')
    if (tab <= 0) continue
    const rel = line.slice(0, tab)
    const slash = rel.indexOf('/')
    const unit = slash < 0 ? rel : rel.slice(0, slash).replace(/\.d$/, '')
    const files = units.get(unit) ?? []
    files.push(`${rel}=${line.slice(tab + 1)}`)
    units.set(unit, files)
  }

  for (const files of units.values()) files.sort()
  return units
}

/** Compares two {@link parseUnitListing} results: units only in `after`, only in `before`, and with other files. */
export function diffUnits(before: Map<string, string[]>, after: Map<string, string[]>): UnitChanges {
  const sorted = (xs: Iterable<string>) => [...xs].sort()
  return {
    added: sorted([...after.keys()].filter((u) => !before.has(u))),
    changed: sorted([...after.keys()].filter((u) => before.has(u) && before.get(u)!.join('\n') !== after.get(u)!.join('\n'))),
    removed: sorted([...before.keys()].filter((u) => !after.has(u))),
  }
}

/** As root (single-user Nix needs it): `nix path-info -S` of the given store paths (closure sizes). */
export function closureSizeCommand(paths: string[]): string {
  return shellJoin(['nix', ...NIX_FLAGS, 'path-info', '-S', ...paths])
}

/**
 * Reads `nix path-info -S PATH…` output (one `<store path><whitespace><closure size in bytes>`
 * line per path, Nix `src/nix/path-info.cc`) into path → bytes.
 */
export function parseClosureSizes(text: string): Map<string, number> {
  const sizes = new Map<string, number>()
  for (const line of text.split('\n')) {
    const match = /^(\/\S+)\s+(\d+)\s*$/.exec(line.trim())
    if (match) sizes.set(match[1], Number(match[2]))
  }

  return sizes
}

/** diff-closures changes as {@link HostPackageChange}s (`∅` becomes an empty list). */
export function packageChanges(diffText: string): HostPackageChange[] {
  return parseDiffClosures(diffText).map((c) => {
    const clean = (vs: string[]) => vs.filter((v) => v !== '∅')
    return {from: clean(c.from), name: c.name, to: clean(c.to), ...(c.sizeKiB === undefined ? {} : {sizeKiB: c.sizeKiB})}
  })
}

/** What {@link compareSystems} runs commands on: a host connection (src/lib/ssh HostConnection fits). */
export interface SystemRunner {
  exec(command: string, options?: {timeoutMs?: number}): Promise<{exitCode: number | null; stdout: string; stderr: string}>
  sudo(command: string, options?: {timeoutMs?: number; onStdout?: (l: string) => void; onStderr?: (l: string) => void}): Promise<{exitCode: number | null; stdout: string; stderr: string}>
}

/**
 * Compares the NixOS system `after` with `before` (store paths) on the host, in parallel:
 * `nix store diff-closures` (packages), `nix path-info -S` of both (size delta), and the unit
 * files of both (`etc/systemd/system`, see {@link unitListingCommand}). Shared by `homelab diff`
 * and `homelab deploy`'s closure-diff step. `streaming` receives diff-closures' lines live.
 * @throws HomelabError naming the command that failed and its last line
 */
export async function compareSystems(runner: SystemRunner, before: string, after: string, streaming: {onStdout?: (l: string) => void; onStderr?: (l: string) => void} = {}): Promise<SystemChange> {
  const [diff, sizes, oldUnits, newUnits] = await Promise.all([
    runner.sudo(diffClosuresCommand(before, after), streaming),
    runner.sudo(closureSizeCommand([before, after])),
    runner.exec(unitListingCommand(before)),
    runner.exec(unitListingCommand(after)),
  ])
  const check = (r: {exitCode: number | null; stderr: string}, what: string) => {
    if (r.exitCode !== 0) throw new HomelabError(`${what} exited with status ${r.exitCode}: ${r.stderr.trim().split('\n').at(-1) ?? ''}`)
  }

  check(diff, 'nix store diff-closures')
  check(sizes, 'nix path-info -S')
  check(oldUnits, `listing ${before}/etc/systemd/system`)
  check(newUnits, `listing ${after}/etc/systemd/system`)
  const size = parseClosureSizes(sizes.stdout)
  return {
    diffText: diff.stdout,
    packages: packageChanges(diff.stdout),
    sizeDeltaBytes: (size.get(after) ?? 0) - (size.get(before) ?? 0),
    units: diffUnits(parseUnitListing(oldUnits.stdout), parseUnitListing(newUnits.stdout)),
  }
}

/**
 * The flake URL that pins the input's own source at `commit`, for `--override-input`: a git
 * source keeps its URL and ref and gains `rev` (`git+ssh://git@host/repo?ref=main&rev=<sha>`:
 * Nix fetches the ref and checks out the rev, so the commit must be on that branch); a forge
 * source puts the commit in place of the ref (`github:owner/repo/<sha>`).
 * @throws Error for a source that is not fetched from a remote (kind `other`)
 */
export function overrideUrl(source: InputSource, commit: string): string {
  if (source.kind === 'git') {
    const query = [...(source.ref ? [`ref=${encodeURIComponent(source.ref)}`] : []), `rev=${commit}`].join('&')
    return `git+${source.url}${source.url.includes('?') ? '&' : '?'}${query}`
  }

  if (source.kind === 'forge') return `${source.type}:${source.owner}/${source.repo}/${commit}${source.host ? `?host=${source.host}` : ''}`
  throw new Error(`input ${source.input} (${source.display}) is not fetched from a remote`)
}

/**
 * As root: builds the host's system with the input overridden, without changing anything:
 * `nixos-rebuild build --flake <dir>#<host> --override-input <input> <url> --no-write-lock-file`
 * (both flags are Nix flake flags nixos-rebuild passes to nix: nixos-rebuild(8), "--override-input
 * input-name flake-uri", added in nixpkgs 26c487ee; `--no-write-lock-file` never writes
 * flake.lock) in a temp folder, so the `result` link never lands in the flake dir; no profile is
 * touched (build never sets one). Prints `__HOMELAB_RESULT__ <store path>`.
 */
export function diffBuildCommand(host: Pick<HostConfig, 'flakeDir' | 'flakeInput' | 'name'>, url: string): string {
  const rebuild = shellJoin(['nixos-rebuild', 'build', '--flake', `${host.flakeDir}#${host.name}`, '--override-input', host.flakeInput, url, '--no-write-lock-file'])
  return `d=$(mktemp -d) && cd "$d" && ${rebuild} && echo "${RESULT_MARKER} $(readlink -f result)"; rc=$?; cd /; rm -rf "$d"; exit $rc`
}

/**
 * Is `commit` on the remote branch whose head is `head`? True when they are equal or the local
 * repository at `root` knows `head` and `commit` is its ancestor (`git merge-base --is-ancestor`).
 * A head the local repository has never fetched counts as not containing it.
 */
export async function commitOnRemote(root: string, commit: string, head: string): Promise<boolean> {
  if (commit === head) return true
  const r = await execa('git', ['merge-base', '--is-ancestor', commit, head], {cwd: root, reject: false})
  return r.exitCode === 0
}

/** What {@link diffHost} needs. */
export interface DiffHostOptions {
  host: HostConfig
  /** An open connection to the host. */
  connection: SystemRunner
  /** The commit to build (what deploy would push: HEAD, or --to). */
  commit: string
  /** The local repository root (to tell whether `commit` is on the remote branch). */
  root: string
  /** `git remote` / branch names for the message when the commit is not pushed yet. */
  remote: string
  branch: string
  /** Receives each remote output line of the build (progress). */
  onLine?: (line: string) => void
}

const empty = (): Omit<SystemChange, 'diffText'> => ({packages: [], sizeDeltaBytes: 0, units: {added: [], changed: [], removed: []}})

/**
 * One host's diff: reads where the host flake's input fetches from (its flake.lock), asks that
 * remote as root for the branch head (deploy's fetch check), and when `commit` is on that branch
 * builds the system with the input overridden to it ({@link diffBuildCommand}), then compares
 * it with `/run/current-system` ({@link compareSystems}). The host's flake.lock, profiles and
 * /run/current-system are not changed. A commit not on the remote yet gives `status: skipped`
 * with a one-line message. Never throws for a host-side failure: `status: failed` with a message.
 * @throws UsageError when sudo needs a password and none can be asked (no terminal, no --sudo-password-stdin)
 */
export async function diffHost(options: DiffHostOptions): Promise<HostDiff> {
  const {connection: conn, host} = options
  const base = {...empty(), commit: options.commit, host: host.name}
  const fail = (message: string): HostDiff => ({...base, exitCode: 1, message, status: 'failed'})
  try {
    const lock = await conn.exec(readFlakeLockCommand(host.flakeDir))
    if (lock.exitCode !== 0) return fail(`cannot read ${host.flakeDir}/flake.lock: ${lock.stderr.trim().split('\n').at(-1) ?? ''}`)
    let source: InputSource | undefined
    try {
      source = readInputSource(lock.stdout, host.flakeInput)
    } catch {
      return fail(`${host.flakeDir}/flake.lock is not JSON`)
    }

    if (!source) return fail(`${host.flakeDir}/flake.lock has no input "${host.flakeInput}" (check flakeInput of ${host.name} in homelab.yaml)`)
    if (source.kind === 'other') return fail(`input ${host.flakeInput} is ${source.display}, not fetched from a git remote: cannot build another commit of it`)
    const check = await conn.sudo(fetchCheckCommand(source), {timeoutMs: 120_000})
    const head = parseFetchCheck(source, {exitCode: check.exitCode ?? 1, stderr: check.stderr, stdout: check.stdout})
    if (!head.ok) return fail(`root cannot fetch ${source.display}: ${head.reason} (homelab deploy names what to set up)`)
    if (!(await commitOnRemote(options.root, options.commit, head.head)))
      return {
        ...base,
        message: `commit ${options.commit.slice(0, 7)} is not on ${options.remote}/${options.branch} yet (its head is ${head.head.slice(0, 7)}): git push first, or give --to a pushed commit; host part skipped`,
        status: 'skipped',
      }

    const url = overrideUrl(source, options.commit)
    const current = await conn.exec(CURRENT_SYSTEM)
    if (current.exitCode !== 0) return fail('cannot read /run/current-system')
    const currentSystem = current.stdout.trim()
    const lines: string[] = []
    const build = await conn.sudo(diffBuildCommand(host, url), {
      onStderr: (l) => (lines.push(l), options.onLine?.(l)),
      onStdout: (l) => l.startsWith(RESULT_MARKER) || (lines.push(l), options.onLine?.(l)),
    })
    const newSystem = build.stdout.split('\n').find((l) => l.startsWith(RESULT_MARKER))?.slice(RESULT_MARKER.length + 1).trim()
    if (build.exitCode !== 0 || !newSystem) {
      const last = [...lines, ...build.stderr.split('\n')].filter((l) => l.trim() !== '').at(-1) ?? `exit status ${build.exitCode}`
      return {...fail(`nixos-rebuild build failed: ${last}`), currentSystem, overrideUrl: url}
    }

    const {diffText: _, ...change} = await compareSystems(conn, currentSystem, newSystem)
    const changed = newSystem !== currentSystem
    return {...base, ...change, currentSystem, newSystem, overrideUrl: url, status: changed ? 'changed' : 'unchanged'}
  } catch (error) {
    // A sudo password nobody can give (no TTY, no --sudo-password-stdin) is a usage error of the command.
    if (error instanceof UsageError) throw error
    if (error instanceof HostUnreachableError) return {...fail(error.message), exitCode: 2}
    return fail((error as Error).message)
  }
}

export {hostChanged, skippedHost} from './host-result.js'
