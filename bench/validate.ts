#!/usr/bin/env -S node --import tsx
/**
 * bench/validate: `homelab validate` and `homelab app list` of a generated tree — the bundled
 * homelab plus 200 small apps (Namespace, Deployment, Service) and one app holding a ConfigMap of
 * `--mb` MB (default 10) made of one-line keys of `--value` bytes (default 1000: 10 000 keys), the
 * shape that made homelab's YAML parsing quadratic in the key count —
 * against the baseline `kubectl kustomize` of the apps folder of the same tree (what Flux builds;
 * validate runs it too). Prints medians and the ratios CLI / baseline (targets: validate <= 2x,
 * app list <= 1x: reading the tree must cost no more than one kustomize build of it).
 *
 * The CLI is measured as built: the sources are compiled with tsc into a temp folder (the repo's
 * dist/ is left alone) and run with bin/run.js, like an installed homelab.
 *
 * kubectl's own build is superlinear in the key count too (1.9 MB of 60-byte values, 30 000 keys,
 * takes it ~18 s; 10 MB over 3 minutes), so the default values are long enough to keep the
 * baseline to seconds; `--value 60` gives the many-small-keys case.
 *
 * Usage: bench/validate [--runs N] [--apps N] [--mb MB] [--value BYTES]   (needs kubectl on PATH)
 */
import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import path from 'node:path'

import {copyBundledHomelab} from '../test/helpers/copy-homelab.js'
import {buildCli, formatRatio, interleavedMedians, numberFlag, timed} from './lib/measure.js'

const runs = numberFlag('--runs', 3)
const APPS = numberFlag('--apps', 200)
const MB = numberFlag('--mb', 10)
const VALUE = numberFlag('--value', 1000)

const kubectl = await execa('kubectl', ['version', '--client'], {reject: false})
if (kubectl.exitCode !== 0) {
  console.error('bench/validate: kubectl is not installed (see README: npm test installs it)')
  process.exit(1)
}

/** Writes an app folder `name` with a kustomization listing `files` (name → text). */
async function writeApp(appsDir: string, name: string, files: Record<string, string>): Promise<void> {
  await fs.mkdir(path.join(appsDir, name))
  const list = Object.keys(files).map((f) => `  - ${f}\n`)
  await fs.writeFile(path.join(appsDir, name, 'kustomization.yaml'), `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n${list.join('')}`)
  for (const [file, text] of Object.entries(files)) await fs.writeFile(path.join(appsDir, name, file), text)
}

const work = copyBundledHomelab('homelab-bench-validate-')
try {
  const built = await buildCli()
  const appsDir = path.join(work, 'flux/clusters/azalab-0/manifests/apps')
  const names: string[] = []
  for (let i = 0; i < APPS; i++) {
    const name = `bench-${String(i).padStart(3, '0')}`
    names.push(name)
    await writeApp(appsDir, name, {
      'deployment.yaml': `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\n  namespace: ${name}\nspec:\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: ${name}\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: ${name}\n    spec:\n      containers:\n        - name: ${name}\n          image: ghcr.io/example/${name}:1.0.0\n          ports:\n            - name: http\n              containerPort: 8080\n`,
      'namespace.yaml': `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`,
      'service.yaml': `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: ${name}\nspec:\n  selector:\n    app.kubernetes.io/name: ${name}\n  ports:\n    - name: http\n      port: 8080\n      targetPort: http\n`,
    })
  }

  const lines = ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: big', '  namespace: bench-big', 'data:']
  let size = 0
  for (let k = 0; size < MB * 1e6; k++) {
    const line = `  key${k}: "${'x'.repeat(VALUE)}"`
    lines.push(line)
    size += line.length + 1
  }

  await writeApp(appsDir, 'bench-big', {'configmap.yaml': `${lines.join('\n')}\n`, 'namespace.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-big\n'})
  await fs.appendFile(path.join(appsDir, 'kustomization.yaml'), [...names, 'bench-big'].map((n) => `  - ${n}\n`).join(''))

  const env = {NO_COLOR: '1'}
  const cli = (args: string[]) => async () => {
    const {ms, value} = await timed(() => execa(process.execPath, [built.bin, ...args, '--repo', work], {env, reject: false}))
    if (value.exitCode !== 0) throw new Error(`homelab ${args.join(' ')} failed (exit ${value.exitCode}): ${value.stdout.slice(-2000)}${value.stderr}`)
    return ms
  }

  const medians = await interleavedMedians(runs, {
    appList: cli(['app', 'list']),
    async kustomize() {
      const {ms, value} = await timed(() => execa('kubectl', ['kustomize', appsDir], {reject: false, stdout: 'ignore'}))
      if (value.exitCode !== 0) throw new Error(`kubectl kustomize failed: ${value.stderr}`)
      return ms
    },
    validate: cli(['validate']),
  })
  console.log(`bench/validate: bundled homelab + ${APPS} apps + a ${MB} MB ConfigMap (${lines.length - 6} keys), median of ${runs} runs`)
  console.log(`  homelab validate                       ${medians.validate.toFixed(0).padStart(7)} ms`)
  console.log(`  homelab app list                       ${medians.appList.toFixed(0).padStart(7)} ms`)
  console.log(`  kubectl kustomize apps/ (baseline)     ${medians.kustomize.toFixed(0).padStart(7)} ms`)
  console.log(`  ratio validate/kustomize: ${formatRatio(medians.validate / medians.kustomize, {atMost: 2})}`)
  console.log(`  ratio app list/kustomize: ${formatRatio(medians.appList / medians.kustomize, {atMost: 1})}`)
  await built.remove()
} finally {
  await fs.rm(work, {force: true, recursive: true})
}
