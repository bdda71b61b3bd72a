#!/usr/bin/env -S node --import tsx
/**
 * bench/diff: `homelab diff --from HEAD~1 --to HEAD` of the bundled homelab (copied into a temp git
 * repository, one commit changing an app's image and a SOPS value) against the same builds done
 * the way a person or flux-local's loop does them: `kubectl kustomize` of every Flux Kustomization's
 * path at both revisions, one after the other (git worktrees made beforehand, not timed).
 * The diff is timed three ways, each against the same sequential baseline (target <= 0.6x):
 * cold (a new, empty build cache for every run: XDG_CACHE_HOME a fresh temp folder), warm (the
 * cache primed by one untimed run of the same diff) and warm with one more app changed since the
 * priming run (a third commit; the primed cache copied afresh for every run). The build counts
 * (kubectl run / read from the cache) of one untimed --json run of each are printed too.
 * Prints medians and the ratios diff / sequential builds.
 *
 * The CLI is measured as built (sources compiled with tsc into a temp folder, run with bin/run.js).
 *
 * Usage: bench/diff [--runs N]   (needs kubectl and git on PATH)
 */
import {execa} from 'execa'
import {promises as fs, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {parseIdentities} from '../src/lib/age/identities.js'
import {setSopsValues} from '../src/lib/sops/index.js'
import {REPO_ROOT} from '../test/helpers/cli.js'
import {copyBundledHomelab} from '../test/helpers/copy-homelab.js'
import {buildCli, formatRatio, interleavedMedians, numberFlag, timed} from './lib/measure.js'

const runs = numberFlag('--runs', 5)
const KEY_FILE = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
const CLUSTER = 'flux/clusters/azalab-0'
const KUSTOMIZATIONS = [CLUSTER, `${CLUSTER}/manifests/cluster`, `${CLUSTER}/manifests/apps`]

if ((await execa('kubectl', ['version', '--client'], {reject: false})).exitCode !== 0) {
  console.error('bench/diff: kubectl is not installed')
  process.exit(1)
}

const work = copyBundledHomelab('homelab-bench-diff-')
const trees: string[] = []
// Every build cache this bench uses is under here (XDG_CACHE_HOME of each run), never the real ~/.cache.
const caches = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-bench-diff-cache-'))
try {
  const git = (args: string[]) => execa('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', '-c', 'commit.gpgsign=false', ...args], {cwd: work})
  await git(['init', '-q', '-b', 'main'])
  await git(['add', '-A'])
  await git(['commit', '-q', '-m', 'base'])
  const deployment = path.join(work, CLUSTER, 'manifests/apps/vaultwarden/deployment.yaml')
  await fs.writeFile(deployment, (await fs.readFile(deployment, 'utf8')).replace(/image: (\S+):(\S+)/, 'image: $1:9.9.9'))
  const identities = await parseIdentities(readFileSync(KEY_FILE, 'utf8'), KEY_FILE)
  await setSopsValues({file: path.join(work, CLUSTER, 'manifests/apps/immich/secret.sops.yaml'), identities, values: {'stringData.DB_PASSWORD': 'BenchPassw0rd'}})
  await git(['commit', '-q', '-am', 'change'])
  for (const rev of ['HEAD~1', 'HEAD']) {
    const tree = await fs.mkdtemp(path.join(work, '..', 'homelab-bench-diff-tree-'))
    await fs.rm(tree, {recursive: true})
    await git(['worktree', 'add', '-q', '--detach', tree, rev])
    trees.push(tree)
  }

  // A third commit: one more app changed (the edit after a diff, in the daily edit-diff loop).
  const kopia = path.join(work, CLUSTER, 'manifests/apps/kopia/deployment.yaml')
  await fs.writeFile(kopia, (await fs.readFile(kopia, 'utf8')).replace(/image: (\S+):(\S+)/, 'image: $1:8.8.8'))
  await git(['commit', '-q', '-am', 'one more app'])
  const [base, change, more] = (await git(['rev-list', '--reverse', 'HEAD'])).stdout.trim().split('\n')

  const built = await buildCli()
  const env = {NO_COLOR: '1', SOPS_AGE_KEY_FILE: KEY_FILE}
  const diff = async (to: string, cacheHome: string, json = false) => {
    const args = [built.bin, 'diff', '--offline', '--from', base, '--to', to, '--repo', work, ...(json ? ['--json'] : [])]
    const {ms, value} = await timed(() => execa(process.execPath, args, {env: {...env, XDG_CACHE_HOME: cacheHome}, reject: false}))
    if (value.exitCode !== 0 || !value.stdout.includes(json ? '"stringData.DB_PASSWORD"' : 'stringData.DB_PASSWORD: value changed'))
      throw new Error(`homelab diff failed (exit ${value.exitCode}): ${value.stdout}${value.stderr}`)
    return {builds: json ? (JSON.parse(value.stdout) as {builds: {cached: number; run: number}}).builds : undefined, ms}
  }

  let fresh = 0
  const freshHome = async () => {
    const dir = path.join(caches, `cold-${fresh++}`)
    await fs.mkdir(dir)
    return dir
  }

  // Warm: primed by one untimed run of the same diff. Primed for "one app changed": the same
  // priming run, its cache copied afresh before each timed run (which then builds only the new side).
  const warmHome = await freshHome()
  await diff(change, warmHome)
  const primedHome = await freshHome()
  await diff(change, primedHome)
  const counts = {
    changed: await (async () => {
      const home = path.join(caches, 'check-changed')
      await fs.cp(primedHome, home, {recursive: true})
      return (await diff(more, home, true)).builds!
    })(),
    cold: (await diff(change, await freshHome(), true)).builds!,
    warm: (await diff(change, warmHome, true)).builds!,
  }

  const medians = await interleavedMedians(runs, {
    async cold() {
      return (await diff(change, await freshHome())).ms
    },
    async warm() {
      return (await diff(change, warmHome)).ms
    },
    async changed() {
      const home = path.join(caches, `changed-${fresh++}`)
      await fs.cp(primedHome, home, {recursive: true})
      return (await diff(more, home)).ms
    },
    async sequential() {
      const {ms} = await timed(async () => {
        for (const tree of trees)
          for (const k of KUSTOMIZATIONS) {
            const r = await execa('kubectl', ['kustomize', path.join(tree, k)], {reject: false, stdout: 'ignore'})
            if (r.exitCode !== 0) throw new Error(`kubectl kustomize ${k} failed: ${r.stderr}`)
          }
      })
      return ms
    },
  })
  const builds = (b: {cached: number; run: number}) => `kustomize builds: ${b.run} run, ${b.cached} cached`
  const line = (label: string, ms: number, b?: {cached: number; run: number}) => `  ${label.padEnd(64)}${ms.toFixed(0).padStart(7)} ms${b ? `  (${builds(b)})` : ''}`
  console.log(`bench/diff: bundled homelab, HEAD~1 → HEAD (an image and a SOPS value changed), ${KUSTOMIZATIONS.length} Flux Kustomizations, median of ${runs} runs`)
  console.log('  cold = every homelab diff run with a new, empty build cache (XDG_CACHE_HOME): the issue\'s target;')
  console.log('  warm = the cache primed by one untimed run of the same diff (the edit-diff loop, nothing edited);')
  console.log('  warm, one app changed = primed with HEAD~1 → HEAD, then HEAD~1 → a commit changing one more app.')
  console.log(line('homelab diff, cold', medians.cold, counts.cold))
  console.log(line('homelab diff, warm', medians.warm, counts.warm))
  console.log(line('homelab diff, warm, one app changed since the priming run', medians.changed, counts.changed))
  console.log(line(`kubectl kustomize x ${KUSTOMIZATIONS.length * 2}, one after the other`, medians.sequential))
  console.log(`  ratio cold/sequential: ${formatRatio(medians.cold / medians.sequential, {atMost: 0.6})}`)
  console.log(`  ratio warm/sequential: ${formatRatio(medians.warm / medians.sequential, {atMost: 0.6})}`)
  console.log(`  ratio warm, one app changed/sequential: ${formatRatio(medians.changed / medians.sequential, {atMost: 0.6})}`)
  await built.remove()
} finally {
  await fs.rm(work, {force: true, recursive: true})
  for (const tree of trees) await fs.rm(tree, {force: true, recursive: true})
  await fs.rm(caches, {force: true, recursive: true})
}
