import {existsSync, promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import type {Check} from '../check.js'
import {describeObject, isFlux} from '../check.js'
import {isRecord, type KubeObject, lineOf, type ValidateContext} from '../context.js'
import {FindingList} from '../finding.js'
import {kustomizationEntries} from '../kustomizations.js'
import {mapLimit} from '../tools.js'

const KUSTOMIZE_GROUP = 'kustomize.toolkit.fluxcd.io'
const HELM_GROUP = 'helm.toolkit.fluxcd.io'
/** Source kinds a Flux Kustomization may reference (kustomize-controller api/v1 CrossNamespaceSourceReference). */
const KUSTOMIZATION_SOURCE_KINDS = ['GitRepository', 'OCIRepository', 'Bucket']

/**
 * Check 2: every kustomization entry exists; every Flux Kustomization's `spec.path` exists and
 * builds with `kubectl kustomize` (skipped, and said so, when kubectl is not installed); every
 * `dependsOn` names a Kustomization (HelmRelease) in the tree and every `sourceRef` a source in
 * the tree. References without a namespace use the referring object's namespace
 * (Flux kustomize-controller api/v1, helm-controller api/v2).
 */
export const kustomizeCheck: Check = {
  id: 'kustomize',
  title: 'kustomizations resolve; Flux Kustomizations build; dependsOn and sourceRef resolve',
  async run(context) {
    const out = new FindingList('kustomize')
    for (const item of kustomizationEntries(context.yaml)) {
      if (item.target === undefined) continue
      if (!existsSync(path.join(context.root, item.target)))
        out.error(item.file.rel, item.line, `${item.field} entry ${item.entry}: no such file or folder`)
    }

    const kustomizations = context.objects.filter((o) => isFlux(o, KUSTOMIZE_GROUP, 'Kustomization'))
    const helmReleases = context.objects.filter((o) => isFlux(o, HELM_GROUP, 'HelmRelease'))
    const builds: Array<{object: KubeObject; dir: string; written: string}> = []

    for (const object of kustomizations) {
      const spec = isRecord(object.value.spec) ? object.value.spec : {}
      checkDependsOn(out, object, spec, kustomizations)
      checkSourceRef(out, object, ['spec', 'sourceRef'], spec.sourceRef, KUSTOMIZATION_SOURCE_KINDS, context.objects)

      const written = typeof spec.path === 'string' ? spec.path : ''
      const rel = path.posix.normalize(written || '.').replace(/^\/+/, '')
      const line = lineOf(object, ['spec', 'path'])
      const dir = path.join(context.root, rel)
      if (path.posix.isAbsolute(written) || rel.startsWith('..')) {
        out.error(object.file.rel, line, `${describeObject(object)}: spec.path ${written} must be a relative path inside the repository`)
        continue
      }

      const stat = await fs.stat(dir).catch(() => undefined)
      if (!stat?.isDirectory()) {
        out.error(object.file.rel, line, `${describeObject(object)}: spec.path ${written} does not exist`)
        continue
      }

      if (!['kustomization.yaml', 'kustomization.yml', 'Kustomization'].some((f) => existsSync(path.join(dir, f)))) {
        out.warning(object.file.rel, line, `${describeObject(object)}: spec.path ${written} has no kustomization.yaml (Flux generates one); not built`)
        continue
      }

      builds.push({dir, object, written})
    }

    for (const object of helmReleases) {
      const spec = isRecord(object.value.spec) ? object.value.spec : {}
      checkDependsOn(out, object, spec, helmReleases)
      const chart = isRecord(spec.chart) && isRecord(spec.chart.spec) ? spec.chart.spec : undefined
      if (chart) checkSourceRef(out, object, ['spec', 'chart', 'spec', 'sourceRef'], chart.sourceRef, ['HelmRepository', 'GitRepository', 'Bucket'], context.objects)
      if (spec.chartRef !== undefined) checkSourceRef(out, object, ['spec', 'chartRef'], spec.chartRef, ['OCIRepository', 'HelmChart'], context.objects)
    }

    if (builds.length === 0) return {findings: out.findings}
    const kubectl = await context.tool('kubectl')
    if (!kubectl) return {findings: out.findings, skipped: `kubectl not found: ${builds.length} Flux Kustomization path(s) not built`}

    const {execa} = await import('execa')
    const results = await mapLimit(builds, Math.max(2, os.availableParallelism()), async (build) => {
      const result = await execa(kubectl, ['kustomize', build.dir], {reject: false, stdout: 'ignore', timeout: 120_000})
      return {build, result}
    })
    for (const {build, result} of results) {
      if (result.exitCode === 0) continue
      out.error(
        build.object.file.rel,
        lineOf(build.object, ['spec', 'path']),
        `${describeObject(build.object)}: kubectl kustomize ${build.written} failed: ${kubectlError(String(result.stderr ?? ''), context.root)}`,
      )
    }

    return {findings: out.findings}
  },
}

/** The useful part of kubectl's error output (klog `err="..."` or `error: ...`), with the repo root made relative. */
export function kubectlError(stderr: string, root: string): string {
  const klog = /err="((?:[^"\\]|\\.)*)"/.exec(stderr)
  let message = klog ? klog[1].replace(/\\(.)/g, '$1') : (stderr.split('\n').find((l) => l.trim()) ?? 'unknown error').replace(/^error: /, '')
  message = message.split(`${root}/`).join('')
  // kustomize repeats a missing resource three times over; name it once.
  const missing = /lstat ([^:']+): no such file or directory/.exec(message)
  if (missing && message.startsWith('accumulating resources')) return `${missing[1]} not found`
  return message.length > 400 ? `${message.slice(0, 400)}…` : message
}

function checkDependsOn(out: FindingList, object: KubeObject, spec: Record<string, unknown>, candidates: KubeObject[]): void {
  if (!Array.isArray(spec.dependsOn)) return
  for (const [i, dep] of spec.dependsOn.entries()) {
    const name = isRecord(dep) && typeof dep.name === 'string' ? dep.name : undefined
    const line = lineOf(object, ['spec', 'dependsOn', i])
    if (!name) {
      out.error(object.file.rel, line, `${describeObject(object)}: dependsOn entry ${i + 1} has no name`)
      continue
    }

    const namespace = isRecord(dep) && typeof dep.namespace === 'string' ? dep.namespace : object.namespace
    if (!candidates.some((c) => c.name === name && sameNamespace(c.namespace, namespace)))
      out.error(object.file.rel, line, `${describeObject(object)}: dependsOn ${qualified(namespace, name)} matches no ${object.kind} in the tree`)
  }
}

function checkSourceRef(
  out: FindingList,
  object: KubeObject,
  keyPath: string[],
  ref: unknown,
  kinds: string[],
  objects: KubeObject[],
): void {
  const line = lineOf(object, [...keyPath, 'name'])
  if (!isRecord(ref) || typeof ref.name !== 'string' || typeof ref.kind !== 'string') {
    out.error(object.file.rel, line, `${describeObject(object)}: ${keyPath.join('.')} needs kind and name`)
    return
  }

  if (!kinds.includes(ref.kind)) {
    out.error(object.file.rel, line, `${describeObject(object)}: ${keyPath.join('.')} kind ${ref.kind} is not one of ${kinds.join(', ')}`)
    return
  }

  const namespace = typeof ref.namespace === 'string' ? ref.namespace : object.namespace
  if (!objects.some((o) => o.kind === ref.kind && o.name === ref.name && sameNamespace(o.namespace, namespace)))
    out.error(object.file.rel, line, `${describeObject(object)}: sourceRef ${ref.kind} ${qualified(namespace, ref.name)} matches no object in the tree`)
}

function sameNamespace(a: string | undefined, b: string | undefined): boolean {
  return (a ?? 'default') === (b ?? 'default')
}

function qualified(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name
}
