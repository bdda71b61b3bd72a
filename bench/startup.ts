/**
 * bench/startup: wall time of `homelab --version` and `homelab --help` (bin/run.js of a CLI built
 * into a temp folder, as installed) against bare `node -e 0`, in the same run, interleaved;
 * prints medians and ratios. Target: <= 2.0x bare node.
 * Also shows `homelab validate --help` (loads @oclif/core: no fast path) for comparison.
 *
 * Usage: bench/startup [--runs N] (N >= 10, default 15) [--no-build] (use this repository's
 * own bin/run.js and dist/, built with `npm run build`)
 */
import {execFileSync} from 'node:child_process'
import path from 'node:path'

import {REPO_ROOT} from '../test/helpers/cli.js'
import {buildCli, formatRatio, median, numberFlag} from './lib/measure.js'

const runs = Math.max(10, numberFlag('--runs', 15))
const cli = process.argv.includes('--no-build') ? {bin: path.join(REPO_ROOT, 'bin/run.js'), remove: async () => {}, root: REPO_ROOT} : await buildCli()

const cases = [
  {argv: ['-e', '0'], label: 'node -e 0'},
  {argv: [cli.bin, '--version'], label: 'homelab --version', target: true},
  {argv: [cli.bin, '--help'], label: 'homelab --help', target: true},
  {argv: [cli.bin, 'validate', '--help'], label: 'homelab validate --help'},
]

/** One run: wall time in ms of the child from spawn to exit (stdout discarded, no colour). */
function once(argv: string[]): number {
  const start = performance.now()
  execFileSync(process.execPath, argv, {cwd: cli.root, env: {...process.env, NO_COLOR: '1'}, stdio: ['ignore', 'ignore', 'pipe']})
  return performance.now() - start
}

try {
  for (const c of cases) for (let i = 0; i < 2; i++) once(c.argv) // warm the file cache
  const samples = cases.map(() => [] as number[])
  // Interleaved rounds: drift in machine load hits every case alike.
  for (let r = 0; r < runs; r++) for (const [i, c] of cases.entries()) samples[i].push(once(c.argv))

  const base = median(samples[0])
  console.log(`startup: median of ${runs} runs each, node ${process.version}, ${process.platform}-${process.arch}`)
  for (const [i, c] of cases.entries()) {
    const ms = median(samples[i])
    const note = i === 0 ? 'baseline' : c.target ? formatRatio(ms / base, {atMost: 2}) : `${(ms / base).toFixed(2)}x (no fast path: loads @oclif/core)`
    console.log(`  ${c.label.padEnd(24)} ${ms.toFixed(1).padStart(7)} ms  ${note}`)
  }
} finally {
  await cli.remove()
}
