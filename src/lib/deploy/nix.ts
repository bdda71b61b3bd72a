import {shellJoin} from '../ssh/shell.js'

/** Flags that enable flakes on any Nix 2.x (harmless where they are already on). */
export const NIX_FLAGS = ['--extra-experimental-features', 'nix-command flakes']

/** A Nix version as `nix --version` prints it: `nix (Nix) 2.8.0`, `nix (Nix) 2.28.3`. */
export interface NixVersion {
  text: string
  major: number
  minor: number
}

/** Parses `nix --version` output; undefined when it names no version. */
export function parseNixVersion(output: string): NixVersion | undefined {
  const match = /(\d+)\.(\d+)(?:\.\d+)?\S*/.exec(output)
  if (!match) return undefined
  return {major: Number(match[1]), minor: Number(match[2]), text: match[0]}
}

/**
 * The command that re-locks one flake input to its newest revision, by Nix version (NixOS/nix
 * release notes 2.19: `nix flake update` takes input names from 2.19 on; before, it re-locked
 * every input and `nix flake lock --update-input <input>` did one).
 */
export function flakeUpdateCommand(version: NixVersion, flakeDir: string, input: string): string {
  const modern = version.major > 2 || (version.major === 2 && version.minor >= 19)
  return modern
    ? shellJoin(['nix', ...NIX_FLAGS, 'flake', 'update', input, '--flake', flakeDir])
    : shellJoin(['nix', ...NIX_FLAGS, 'flake', 'lock', '--update-input', input, flakeDir])
}

/** What a host flake.lock pins for one input (flake.lock version 7: nodes.root.inputs → node → locked). */
export interface FlakePin {
  /** The locked commit, when the input is a git/github source. */
  rev?: string
  /** e.g. `git`, `github`, `path`. */
  type?: string
  url?: string
  ref?: string
  lastModified?: number
}

/**
 * Reads the pin of `input` from flake.lock text (Nix `src/libexpr/flake/lockfile.cc` format:
 * `{nodes: {root: {inputs: {<input>: <node name>}}, <node>: {locked: {type, rev, url, ref, …}}}, root, version}`).
 * Returns undefined when the input is not in the lock.
 * @throws Error for text that is not JSON.
 */
export function readFlakePin(lockText: string, input: string): FlakePin | undefined {
  const lock = JSON.parse(lockText) as {root?: string; nodes?: Record<string, {inputs?: Record<string, string | string[]>; locked?: Record<string, unknown>}>}
  const root = lock.nodes?.[lock.root ?? 'root']
  const nodeName = root?.inputs?.[input]
  if (typeof nodeName !== 'string') return undefined
  const locked = lock.nodes?.[nodeName]?.locked
  if (!locked) return undefined
  return {
    lastModified: typeof locked.lastModified === 'number' ? locked.lastModified : undefined,
    ref: typeof locked.ref === 'string' ? locked.ref : undefined,
    rev: typeof locked.rev === 'string' ? locked.rev : undefined,
    type: typeof locked.type === 'string' ? locked.type : undefined,
    url: typeof locked.url === 'string' ? locked.url : undefined,
  }
}

/** One generation as `nixos-rebuild list-generations --json` prints it (NixOS >= 23.11). */
export interface Generation {
  generation: number
  date: string
  nixosVersion: string
  kernelVersion: string
  /** `system.configurationRevision`; empty when unset. */
  configurationRevision: string
  specialisations: string[]
  current: boolean
}

/** Parses `nixos-rebuild list-generations --json`. @throws Error when it is not a JSON array. */
export function parseGenerations(text: string): Generation[] {
  const data = JSON.parse(text) as unknown
  if (!Array.isArray(data)) throw new Error('list-generations --json did not print an array')
  return data as Generation[]
}

/** The current generation (the one marked `current`), else the highest. */
export function currentGeneration(generations: Generation[]): Generation | undefined {
  return generations.find((g) => g.current) ?? [...generations].sort((a, b) => b.generation - a.generation)[0]
}

/** One line of `nix store diff-closures`: `name: old → new, +12.3 KiB` (∅ = absent, ε = empty version). */
export interface ClosureChange {
  name: string
  from: string[]
  to: string[]
  /** Size change in KiB when printed, else undefined. */
  sizeKiB?: number
  line: string
}

/** Parses `nix store diff-closures OLD NEW` output (nix `src/nix/diff-closures.cc`). ANSI colour is removed. */
export function parseDiffClosures(text: string): ClosureChange[] {
  const changes: ClosureChange[] = []
  // eslint-disable-next-line no-control-regex
  for (const raw of text.replaceAll(/\u001B\[[0-9;]*m/g, '').split('\n')) {
    const line = raw.trim()
    // A size-only line (`bluez-qt: +12.6 KiB`: same versions, the store paths grew) has no arrow.
    const sizeOnly = /^(.+?): ([+-][\d.]+) KiB$/.exec(line)
    if (sizeOnly) {
      changes.push({from: [], line, name: sizeOnly[1], sizeKiB: Number(sizeOnly[2]), to: []})
      continue
    }

    const match = /^(.+?): (.*?)(?: → (.*?))?(?:, ([+-][\d.]+) KiB)?$/.exec(line)
    if (!match) continue
    const split = (s: string | undefined) => (s ? s.split(', ').filter((v) => v !== '') : [])
    changes.push({from: split(match[2]), line, name: match[1], sizeKiB: match[4] ? Number(match[4]) : undefined, to: split(match[3])})
  }

  return changes
}
