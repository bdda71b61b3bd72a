import {isSeq, LineCounter, parseDocument} from 'yaml'

import {isCore} from './check.js'
import {isRecord, type KubeObject, lineOf} from './context.js'
import type {FindingList} from './finding.js'

/**
 * Admin surfaces that must not be public behind a password alone (issue 12): the Kopia UI shows
 * every host snapshot (and can restore), vaultwarden's `/admin` manages every vault's users.
 * `image` matches the container image repository (registry and tag/digest ignored).
 */
interface AdminSurface {
  /** What it is, for the finding. */
  name: string
  image: RegExp
  /** The admin path when only part of the app is an admin surface (a cloudflared `path` regex must block it). */
  path?: string
  /**
   * True when the workload runs with its admin surface enabled. vaultwarden: the admin page is
   * disabled unless ADMIN_TOKEN is set (vaultwarden wiki, "Enabling admin page").
   */
  enabled(container: Record<string, unknown>, secretKeys: (secretName: string) => string[] | undefined): boolean
}

const SURFACES: AdminSurface[] = [
  {enabled: () => true, image: /(^|\/)kopia\/kopia$/, name: 'the Kopia UI (every host snapshot)'},
  {
    enabled: (container, secretKeys) => {
      const env = Array.isArray(container.env) ? container.env.filter(isRecord) : []
      if (env.some((e) => e.name === 'ADMIN_TOKEN')) return true
      const envFrom = Array.isArray(container.envFrom) ? container.envFrom.filter(isRecord) : []
      return envFrom.some((source) => {
        const ref = isRecord(source.secretRef) ? source.secretRef : isRecord(source.configMapRef) ? source.configMapRef : undefined
        const keys = typeof ref?.name === 'string' ? secretKeys(ref.name) : undefined
        // An unreadable source may hold ADMIN_TOKEN: count it as enabled.
        return keys === undefined || keys.includes('ADMIN_TOKEN')
      })
    },
    image: /(^|\/)vaultwarden\/server$/,
    name: "vaultwarden's /admin page",
    path: '/admin',
  },
]

/** One cloudflared ingress rule as written in config.yaml (cloudflared `ingress/config.go`). */
interface Rule {
  hostname?: string
  path?: string
  service?: string
  originRequest?: unknown
}

/** `registry/repo:tag@digest` → `repo` path without registry host, tag and digest. */
function imageRepository(image: string): string {
  const noDigest = image.split('@')[0]
  const lastSlash = noDigest.lastIndexOf('/')
  const colon = noDigest.lastIndexOf(':')
  return colon > lastSlash ? noDigest.slice(0, colon) : noDigest
}

/** `http://name.namespace.svc.cluster.local:port` (or `name.namespace.svc`, `name.namespace`) → Service name and namespace. */
function serviceOf(url: string): {name: string; namespace: string} | undefined {
  const match = /^https?:\/\/([a-z0-9-]+)\.([a-z0-9-]+)(\.svc(\.cluster\.local)?)?(:\d+)?\/?$/.exec(url)
  return match ? {name: match[1], namespace: match[2]} : undefined
}

/** True when the rule sends requests through Cloudflare Access (cloudflared `originRequest.access.required`). */
function behindAccess(rule: Rule): boolean {
  const origin = isRecord(rule.originRequest) ? rule.originRequest : undefined
  return isRecord(origin?.access) && origin.access.required === true
}

/** True when a rule's `path` regex (cloudflared matches it against the request path) lets `adminPath` through; no path matches all. */
function pathReaches(rulePath: string | undefined, adminPath: string): boolean {
  if (typeof rulePath !== 'string') return true
  try {
    return new RegExp(rulePath).test(adminPath)
  } catch {
    return true
  }
}

/** True when an earlier rule for `hostname` answers `adminPath` with an `http_status:` (blocked). */
function blockedBefore(rules: Rule[], index: number, hostname: string | undefined, adminPath: string): boolean {
  return rules.slice(0, index).some((rule) => {
    if (rule.hostname !== hostname || typeof rule.path !== 'string' || !String(rule.service).startsWith('http_status:')) return false
    try {
      return new RegExp(rule.path).test(adminPath) && new RegExp(rule.path).test(`${adminPath}/`)
    } catch {
      return false
    }
  })
}

/** Pod template containers of the workloads in `namespace` whose pod labels match `selector`. */
function containersBehind(objects: KubeObject[], namespace: string, selector: Record<string, unknown>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  for (const object of objects) {
    if (!['Deployment', 'StatefulSet', 'DaemonSet'].includes(object.kind ?? '') || (object.namespace ?? 'default') !== namespace) continue
    const template = isRecord(object.value.spec) && isRecord(object.value.spec.template) ? object.value.spec.template : undefined
    const labels = isRecord(template?.metadata) && isRecord(template.metadata.labels) ? template.metadata.labels : {}
    if (!Object.entries(selector).every(([k, v]) => labels[k] === v)) continue
    const podSpec = isRecord(template?.spec) ? template.spec : {}
    for (const list of [podSpec.containers, podSpec.initContainers]) if (Array.isArray(list)) out.push(...list.filter(isRecord))
  }

  return out
}

/**
 * Warns for every Cloudflare Tunnel ingress rule that routes the public to an admin surface
 * (the Kopia UI; vaultwarden with ADMIN_TOKEN set and no earlier rule answering `/admin` with an
 * `http_status:`) without Cloudflare Access in front (`originRequest.access.required: true`).
 * Reads every ConfigMap whose `data.config.yaml` has an `ingress:` list; follows each rule's
 * Service URL to the Service, its selector to the workloads, and their container images.
 * Adds warnings to `out`; never throws.
 */
export function checkAdminSurfaces(out: FindingList, objects: KubeObject[]): void {
  const secretKeys = (namespace: string) => (name: string): string[] | undefined => {
    const source = objects.find((o) => (isCore(o, 'Secret') || isCore(o, 'ConfigMap')) && o.name === name && (o.namespace ?? 'default') === namespace)
    if (!source) return undefined
    return ['data', 'stringData'].flatMap((key) => (isRecord(source.value[key]) ? Object.keys(source.value[key] as object) : []))
  }

  for (const configMap of objects.filter((o) => isCore(o, 'ConfigMap'))) {
    const data = isRecord(configMap.value.data) ? configMap.value.data : undefined
    if (typeof data?.['config.yaml'] !== 'string') continue
    const lineCounter = new LineCounter()
    const inner = parseDocument(data['config.yaml'], {lineCounter})
    const ingress = isRecord(inner.toJS()) ? (inner.toJS() as {ingress?: unknown}).ingress : undefined
    const items = inner.get('ingress', true)
    if (!Array.isArray(ingress) || !isSeq(items)) continue
    const rules = ingress.filter(isRecord) as Rule[]
    // A block scalar's content starts on the line after its key.
    const lineOfRule = (index: number) => {
      const start = (items.items[index] as {range?: [number, number, number]} | undefined)?.range?.[0]
      return lineOf(configMap, ['data', 'config.yaml']) + (start === undefined ? 0 : lineCounter.linePos(start).line)
    }
    for (const [index, rule] of rules.entries()) {
      const target = typeof rule.service === 'string' ? serviceOf(rule.service) : undefined
      if (!target || behindAccess(rule)) continue
      const service = objects.find((o) => isCore(o, 'Service') && o.name === target.name && (o.namespace ?? 'default') === target.namespace)
      const selector = service && isRecord(service.value.spec) && isRecord(service.value.spec.selector) ? service.value.spec.selector : undefined
      if (!selector) continue
      for (const container of containersBehind(objects, target.namespace, selector)) {
        const image = typeof container.image === 'string' ? imageRepository(container.image) : ''
        const surface = SURFACES.find((s) => s.image.test(image))
        if (!surface || !surface.enabled(container, secretKeys(target.namespace))) continue
        if (surface.path !== undefined && (!pathReaches(rule.path, surface.path) || blockedBefore(rules, index, rule.hostname, surface.path))) continue
        const where = rule.hostname ?? '(catch-all)'
        out.warning(
          configMap.file.rel,
          lineOfRule(index),
          `tunnel route ${where} → ${rule.service} exposes ${surface.name} behind a password alone: remove the route, ${surface.path ? `add a rule before it for ${where} with path: ^${surface.path} and service: http_status:404, ` : ''}or put it behind Cloudflare Access (originRequest.access.required: true)`,
        )
        break
      }
    }
  }
}
