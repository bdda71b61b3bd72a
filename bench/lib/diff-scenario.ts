/**
 * The repositories bench/diff measures: a copy of the bundled homelab in a temp git repository
 * with three commits — the base; the change (vaultwarden's image and immich's SOPS value
 * `stringData.DB_PASSWORD`); one more app changed (kopia's image: the next edit of an edit-diff
 * loop) — and a git worktree of the base and the change for the sequential baseline.
 * `layout: 'per-app'` first gives every app its own Flux Kustomization (per-app-layout.ts).
 */
import {execa} from 'execa'
import {promises as fs, readFileSync} from 'node:fs'
import path from 'node:path'
import {parseAllDocuments} from 'yaml'

import {parseIdentities} from '../../src/lib/age/identities.js'
import {setSopsValues} from '../../src/lib/sops/index.js'
import {REPO_ROOT} from '../../test/helpers/cli.js'
import {copyBundledHomelab} from '../../test/helpers/copy-homelab.js'
import {splitAppsPerKustomization} from './per-app-layout.js'

/** The demo age identity the bundled SOPS files are encrypted to (test/fixtures/keys). */
export const KEY_FILE = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
/** The bundled cluster folder (homelab.yaml cluster.path). */
export const CLUSTER = 'flux/clusters/azalab-0'

/** A prepared repository. */
export interface DiffScenario {
  /** The repository. */
  work: string
  /** Commit ids: the base, the change, and the change plus one more app changed. */
  commits: {base: string; change: string; more: string}
  /** Worktrees of the base and the change. */
  trees: string[]
  /** Repository-relative folder of every Flux Kustomization of the base (the root first). */
  kustomizations: string[]
  /** Removes the repository and the worktrees. */
  remove(): Promise<void>
}

/**
 * Makes the repository of one layout.
 * @throws Error when git, kubectl or the SOPS engine fail
 */
export async function prepareDiffScenario(layout: 'bundled' | 'per-app'): Promise<DiffScenario> {
  const work = copyBundledHomelab('homelab-bench-diff-')
  const trees: string[] = []
  const remove = async () => {
    await fs.rm(work, {force: true, recursive: true})
    for (const tree of trees) await fs.rm(tree, {force: true, recursive: true})
  }

  try {
    if (layout === 'per-app') await splitAppsPerKustomization(work, CLUSTER)
    const git = (args: string[]) => execa('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', '-c', 'commit.gpgsign=false', ...args], {cwd: work})
    await git(['init', '-q', '-b', 'main'])
    await git(['add', '-A'])
    await git(['commit', '-q', '-m', 'base'])
    const deployment = path.join(work, CLUSTER, 'manifests/apps/vaultwarden/deployment.yaml')
    await fs.writeFile(deployment, (await fs.readFile(deployment, 'utf8')).replace(/image: (\S+):(\S+)/, 'image: $1:9.9.9'))
    const identities = await parseIdentities(readFileSync(KEY_FILE, 'utf8'), KEY_FILE)
    await setSopsValues({file: path.join(work, CLUSTER, 'manifests/apps/immich/secret.sops.yaml'), identities, values: {'stringData.DB_PASSWORD': 'BenchPassw0rd'}})
    await git(['commit', '-q', '-am', 'change'])
    const kopia = path.join(work, CLUSTER, 'manifests/apps/kopia/deployment.yaml')
    await fs.writeFile(kopia, (await fs.readFile(kopia, 'utf8')).replace(/image: (\S+):(\S+)/, 'image: $1:8.8.8'))
    await git(['commit', '-q', '-am', 'one more app'])
    const [base, change, more] = (await git(['rev-list', '--reverse', 'HEAD'])).stdout.trim().split('\n')
    for (const rev of [base, change]) {
      const tree = await fs.mkdtemp(path.join(work, '..', 'homelab-bench-diff-tree-'))
      await fs.rm(tree, {recursive: true})
      await git(['worktree', 'add', '-q', '--detach', tree, rev])
      trees.push(tree)
    }

    // The Flux Kustomizations the root defines (one level: the bundled layouts have no deeper ones).
    const root = await execa('kubectl', ['kustomize', path.join(trees[0], CLUSTER)])
    const paths = parseAllDocuments(root.stdout)
      .map((d) => d.toJS() as {kind?: string; spec?: {path?: string}} | null)
      .filter((o) => o?.kind === 'Kustomization' && typeof o.spec?.path === 'string')
      .map((o) => path.posix.normalize(o!.spec!.path!))
      .filter((p) => p !== CLUSTER)
    return {commits: {base, change, more}, kustomizations: [CLUSTER, ...paths], remove, trees, work}
  } catch (error) {
    await remove()
    throw error
  }
}

/**
 * `kubectl kustomize` of every Flux Kustomization folder at both revisions, one after the other
 * (what a person or flux-local's loop does). @throws Error when a build fails
 */
export async function sequentialBuilds(scenario: DiffScenario): Promise<void> {
  for (const tree of scenario.trees)
    for (const k of scenario.kustomizations) {
      const r = await execa('kubectl', ['kustomize', path.join(tree, k)], {reject: false, stdout: 'ignore'})
      if (r.exitCode !== 0) throw new Error(`kubectl kustomize ${k} failed: ${r.stderr}`)
    }
}
