#!/usr/bin/env -S node --import tsx
/**
 * bench/diff: `homelab diff --from HEAD~1 --to HEAD` of the bundled homelab (copied into a temp git
 * repository, one commit changing an app's image and a SOPS value) against the same builds done
 * the way a person or flux-local's loop does them: `kubectl kustomize` of every Flux Kustomization's
 * path at both revisions, one after the other (git worktrees made beforehand, not timed).
 * Prints medians and the ratio diff / sequential builds (target <= 0.6x).
 *
 * The CLI is measured as built (sources compiled with tsc into a temp folder, run with bin/run.js).
 *
 * Usage: bench/diff [--runs N]   (needs kubectl and git on PATH)
 */
import {execa} from 'execa'
import {promises as fs, readFileSync} from 'node:fs'
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

  const built = await buildCli()
  const env = {NO_COLOR: '1', SOPS_AGE_KEY_FILE: KEY_FILE}
  const medians = await interleavedMedians(runs, {
    async diff() {
      const {ms, value} = await timed(() => execa(process.execPath, [built.bin, 'diff', '--offline', '--from', 'HEAD~1', '--to', 'HEAD', '--repo', work], {env, reject: false}))
      if (value.exitCode !== 0 || !value.stdout.includes('stringData.DB_PASSWORD: value changed')) throw new Error(`homelab diff failed (exit ${value.exitCode}): ${value.stdout}${value.stderr}`)
      return ms
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
  console.log(`bench/diff: bundled homelab, HEAD~1 → HEAD (an image and a SOPS value changed), ${KUSTOMIZATIONS.length} Flux Kustomizations, median of ${runs} runs`)
  console.log(`  homelab diff                                  ${medians.diff.toFixed(0).padStart(7)} ms`)
  console.log(`  kubectl kustomize x ${KUSTOMIZATIONS.length * 2}, one after the other  ${medians.sequential.toFixed(0).padStart(7)} ms`)
  console.log(`  ratio diff/sequential: ${formatRatio(medians.diff / medians.sequential, {atMost: 0.6})}`)
  await built.remove()
} finally {
  await fs.rm(work, {force: true, recursive: true})
  for (const tree of trees) await fs.rm(tree, {force: true, recursive: true})
}
