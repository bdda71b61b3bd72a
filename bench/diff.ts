#!/usr/bin/env -S node --import tsx
/**
 * bench/diff: `homelab diff --offline --from <base> --to <change>` (an image and a SOPS value
 * changed; bench/lib/diff-scenario.ts) against the same builds done the way a person or
 * flux-local's loop does them: `kubectl kustomize` of every Flux Kustomization's folder at both
 * revisions, one after the other (git worktrees made beforehand, not timed). Target <= 0.6x.
 *
 * Two trees: the bundled homelab (3 Flux Kustomizations: the issue's target), and the same apps
 * with one Flux Kustomization each (10; bench/lib/per-app-layout.ts). The diff is timed three
 * ways, each against the same sequential baseline: cold (a new, empty build cache for every run:
 * XDG_CACHE_HOME a fresh temp folder), warm (the cache primed by one untimed run of the same diff)
 * and warm with one more app changed since the priming run (the primed cache copied afresh for
 * every run). The build counts (kubectl run / read from the cache) of one untimed --json run of
 * each are printed too. The first line is the floor no diff can go under: `homelab diff --help`
 * (node, oclif and the diff command loaded, nothing built).
 *
 * The CLI is measured as built (sources compiled with tsc into a temp folder, run with bin/run.js).
 *
 * Usage: bench/diff [--runs N]   (needs kubectl and git on PATH)
 */
import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {type DiffScenario, KEY_FILE, prepareDiffScenario, sequentialBuilds} from './lib/diff-scenario.js'
import {buildCli, formatRatio, interleavedMedians, numberFlag, timed} from './lib/measure.js'

const runs = numberFlag('--runs', 5)

if ((await execa('kubectl', ['version', '--client'], {reject: false})).exitCode !== 0) {
  console.error('bench/diff: kubectl is not installed')
  process.exit(1)
}

type Builds = {cached: number; run: number}
const built = await buildCli()
// Every build cache this bench uses is under here (XDG_CACHE_HOME of each run), never the real ~/.cache.
const caches = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-bench-diff-cache-'))
const env = {NO_COLOR: '1', SOPS_AGE_KEY_FILE: KEY_FILE}
let fresh = 0
const freshHome = async () => {
  const dir = path.join(caches, `cache-${fresh++}`)
  await fs.mkdir(dir)
  return dir
}

const line = (label: string, ms: number, b?: Builds) => `  ${label.padEnd(64)}${ms.toFixed(0).padStart(7)} ms${b ? `  (kustomize builds: ${b.run} run, ${b.cached} cached)` : ''}`

/** Times one tree; returns the sequential baseline's median (ms). */
async function measure(title: string, scenario: DiffScenario): Promise<number> {
  const {base, change, more} = scenario.commits
  const diff = async (to: string, cacheHome: string, json = false) => {
    const args = [built.bin, 'diff', '--offline', '--from', base, '--to', to, '--repo', scenario.work, ...(json ? ['--json'] : [])]
    const {ms, value} = await timed(() => execa(process.execPath, args, {env: {...env, XDG_CACHE_HOME: cacheHome}, reject: false}))
    if (value.exitCode !== 0 || !value.stdout.includes(json ? '"stringData.DB_PASSWORD"' : 'stringData.DB_PASSWORD: value changed'))
      throw new Error(`homelab diff failed (exit ${value.exitCode}): ${value.stdout}${value.stderr}`)
    return {builds: json ? (JSON.parse(value.stdout) as {builds: Builds}).builds : undefined, ms}
  }

  const copyOf = async (home: string) => {
    const copy = await freshHome()
    await fs.cp(home, copy, {recursive: true})
    return copy
  }

  // Warm: primed by one untimed run of the same diff. "One app changed": the same priming, copied afresh before each timed run.
  const warmHome = await freshHome()
  await diff(change, warmHome)
  const counts = {
    changed: (await diff(more, await copyOf(warmHome), true)).builds!,
    cold: (await diff(change, await freshHome(), true)).builds!,
    warm: (await diff(change, await copyOf(warmHome), true)).builds!,
  }
  const medians = await interleavedMedians(runs, {
    async cold() {
      return (await diff(change, await freshHome())).ms
    },
    async warm() {
      return (await diff(change, warmHome)).ms
    },
    async changed() {
      return (await diff(more, await copyOf(warmHome))).ms
    },
    async sequential() {
      return (await timed(() => sequentialBuilds(scenario))).ms
    },
  })
  const n = scenario.kustomizations.length
  console.log(`${title}: ${n} Flux Kustomizations`)
  console.log(line('homelab diff, cold', medians.cold, counts.cold))
  console.log(line('homelab diff, warm', medians.warm, counts.warm))
  console.log(line('homelab diff, warm, one app changed since the priming run', medians.changed, counts.changed))
  console.log(line(`kubectl kustomize x ${n * 2}, one after the other`, medians.sequential))
  console.log(`  ratio cold/sequential: ${formatRatio(medians.cold / medians.sequential, {atMost: 0.6})}`)
  console.log(`  ratio warm/sequential: ${formatRatio(medians.warm / medians.sequential, {atMost: 0.6})}`)
  console.log(`  ratio warm, one app changed/sequential: ${formatRatio(medians.changed / medians.sequential, {atMost: 0.6})}`)
  return medians.sequential
}

const scenarios: DiffScenario[] = []
try {
  console.log(`bench/diff: base → change (an image and a SOPS value changed), median of ${runs} runs`)
  console.log('  cold = every homelab diff run with a new, empty build cache (XDG_CACHE_HOME): the issue\'s target;')
  console.log('  warm = the cache primed by one untimed run of the same diff (the edit-diff loop, nothing edited);')
  console.log('  warm, one app changed = primed with base → change, then base → a commit changing one more app.')
  const floor = (await interleavedMedians(runs, {help: async () => (await timed(() => execa(process.execPath, [built.bin, 'diff', '--help'], {env}))).ms})).help
  scenarios.push(await prepareDiffScenario('bundled'))
  const bundled = await measure('bundled homelab (the issue\'s target)', scenarios[0])
  console.log(`  floor: homelab diff --help (node, oclif, the command loaded; nothing built) ${floor.toFixed(0)} ms = ${(floor / bundled).toFixed(2)}x of this baseline`)
  scenarios.push(await prepareDiffScenario('per-app'))
  const perApp = await measure('the same apps, one Flux Kustomization each', scenarios[1])
  console.log(`  floor: ${(floor / perApp).toFixed(2)}x of this baseline`)
} finally {
  await built.remove()
  for (const s of scenarios) await s.remove()
  await fs.rm(caches, {force: true, recursive: true})
}
