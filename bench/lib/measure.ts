/**
 * What the bench scripts share: the CLI built into a temp folder, `--runs N`-style flags, timing,
 * medians and ratio lines. Times are wall-clock milliseconds (`performance.now()`).
 */
import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {REPO_ROOT} from '../../test/helpers/cli.js'

/**
 * The number after `name` in `argv` (e.g. `--runs 5`), else `fallback` (also for a missing or
 * non-numeric value, and for 0).
 */
export function numberFlag(name: string, fallback: number, argv: readonly string[] = process.argv): number {
  const at = argv.indexOf(name)
  return at === -1 ? fallback : Number(argv[at + 1]) || fallback
}

/**
 * The median of samples: the middle one, or the mean of the two middle ones for an even count.
 * @throws Error when there are no samples
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no samples')
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/** Runs `task` and returns what it returned with its wall time in ms. */
export async function timed<T>(task: () => Promise<T>): Promise<{ms: number; value: T}> {
  const start = performance.now()
  const value = await task()
  return {ms: performance.now() - start, value}
}

/**
 * Runs every case once per round, `runs` rounds, the cases interleaved in their given order (so
 * drift in machine load hits every case alike), and returns each case's median. A case returns
 * its own time in ms (often from {@link timed}); what else it observes it records itself.
 */
export async function interleavedMedians<K extends string>(runs: number, cases: Record<K, () => Promise<number>>): Promise<Record<K, number>> {
  const names = Object.keys(cases) as K[]
  const samples = new Map<K, number[]>(names.map((name) => [name, []]))
  for (let i = 0; i < runs; i++) for (const name of names) samples.get(name)!.push(await cases[name]())
  return Object.fromEntries(names.map((name) => [name, median(samples.get(name)!)])) as Record<K, number>
}

/**
 * A ratio and its target, e.g. `0.31x (target <= 0.40x: met)`.
 * @param ratio the measured ratio
 * @param target `{atMost}` when smaller is better, `{atLeast}` when larger is better
 */
export function formatRatio(ratio: number, target: {atLeast: number} | {atMost: number}): string {
  const [sign, bound, met] = 'atMost' in target ? ['<=', target.atMost, ratio <= target.atMost] : ['>=', target.atLeast, ratio >= target.atLeast]
  return `${ratio.toFixed(2)}x (target ${sign} ${bound.toFixed(2)}x: ${met ? 'met' : 'NOT met'})`
}

/** A CLI built by {@link buildCli}. */
export interface BuiltCli {
  /** The folder: dist/, bin/, package.json, node_modules (a symlink) and oclif.manifest.json. */
  root: string
  /** `bin/run.js` in it, to run with `process.execPath`. */
  bin: string
  /** Removes the folder. */
  remove(): Promise<void>
}

/**
 * Builds the CLI as an installed homelab runs it, in a new temp folder: the sources compiled with
 * tsc (type errors in half-done files do not stop the emit), bin/ and package.json copied,
 * node_modules linked, the oclif manifest generated. The repo's own dist/ is left alone (never
 * `npm run build`: tests of other people read it while benches run).
 * @throws Error when tsc emitted no commands (its output in the message)
 */
export async function buildCli(): Promise<BuiltCli> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-bench-cli-'))
  const tsc = await execa('npx', ['tsc', '-p', 'tsconfig.json', '--outDir', path.join(root, 'dist')], {all: true, cwd: REPO_ROOT, reject: false})
  if (!(await fs.stat(path.join(root, 'dist/commands')).catch(() => undefined))) throw new Error(`tsc emitted no commands:\n${tsc.all}`)
  await fs.cp(path.join(REPO_ROOT, 'bin'), path.join(root, 'bin'), {recursive: true})
  await fs.copyFile(path.join(REPO_ROOT, 'package.json'), path.join(root, 'package.json'))
  await fs.symlink(path.join(REPO_ROOT, 'node_modules'), path.join(root, 'node_modules'))
  await execa('npx', ['oclif', 'manifest'], {cwd: root, reject: false})
  return {bin: path.join(root, 'bin/run.js'), remove: () => fs.rm(root, {force: true, recursive: true}), root}
}
