// Temporary git repositories for the `homelab diff` tests: real git, files written per test.
import {execFileSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'

/** Runs git in `dir` with a fixed author and no signing; returns stdout. @throws when git fails */
export function git(dir: string, args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args], {cwd: dir, encoding: 'utf8'})
}

/** Writes `text` to `dir/rel`, making its folders. */
export function write(dir: string, rel: string, text: string): void {
  mkdirSync(path.dirname(path.join(dir, rel)), {recursive: true})
  writeFileSync(path.join(dir, rel), text)
}

/** Stages everything and commits (an empty commit too). */
export function commit(dir: string, message: string): void {
  git(dir, ['add', '-A'])
  git(dir, ['commit', '-q', '--allow-empty', '-m', message])
}

/** Makes `dir` a git repository (branch main) holding `files` (path → text), committed with `message`. */
export function initialCommit(dir: string, message: string, files: Record<string, string>): void {
  git(dir, ['init', '-q', '-b', 'main'])
  for (const [rel, text] of Object.entries(files)) write(dir, rel, text)
  commit(dir, message)
}

/** A kustomize kustomization.yaml listing `resources`. */
export const kustomization = (...resources: string[]) => `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n${resources.map((r) => `  - ${r}\n`).join('')}`

/** A Flux Kustomization (kustomize.toolkit.fluxcd.io/v1) of `specPath`, pruning, from the GitRepository flux-system; `extra` is appended under spec. */
export const flux = (name: string, specPath: string, extra = '') =>
  `apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: ${name}\n  namespace: flux-system\nspec:\n  path: ${specPath}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n${extra}`
