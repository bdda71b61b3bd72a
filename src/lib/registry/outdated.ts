import {promises as fs} from 'node:fs'
import path from 'node:path'

import {mapLimit} from '../validate/tools.js'
import {listRepoFiles} from '../validate/repo-files.js'
import {parseYamlDocuments} from '../yaml/parse.js'
import {RegistryClient, type RegistryClientOptions, RegistryError} from './client.js'
import {type ImageRef, parseImageRef} from './reference.js'
import {newestInScheme, parseTag} from './tags.js'

/** Where an image is used: a repo-relative file and the 1-based line of its `image:` value. */
export interface ImageUse {
  file: string
  line: number
}

/** One image of the tree and what its registry says. */
export interface OutdatedImage {
  /** The reference as written (`ghcr.io/owner/app:1.2.3[@sha256:…]`). */
  image: string
  registry: string
  repository: string
  /** Current tag (null for a digest-only reference). */
  tag: string | null
  /** Pinned digest, when the tree pins one. */
  digest: string | null
  /**
   * `up-to-date`: no newer tag of the scheme; `outdated`: `latest` is newer; `unversioned`: the
   * tag has no version (latest, a branch name) or there is no tag, so nothing to compare;
   * `unchecked`: the registry could not be asked (`reason` says why): nothing is guessed.
   */
  status: 'up-to-date' | 'outdated' | 'unversioned' | 'unchecked'
  /** Newest tag of the same scheme (null when unversioned or unchecked). */
  latest: string | null
  /** Digest of `latest` (only when the tree pins digests: the update keeps the pin). */
  latestDigest: string | null
  /** The reference to write to update (`repo:latest[@digest]` as written), or null when nothing to do. */
  update: string | null
  reason?: string
  uses: ImageUse[]
}

/** The report of `homelab app outdated` (also its `--json` output, with schemaVersion added by the command). */
export interface OutdatedReport {
  images: OutdatedImage[]
  outdated: number
  /** Images whose registry could not be asked: the report is incomplete (exit 1). */
  unchecked: number
}

/**
 * Every container image in the cluster folder: `image:` of the items of `containers`,
 * `initContainers` and `ephemeralContainers` lists in any YAML document (Deployments,
 * StatefulSets, DaemonSets, Jobs, CronJobs, Pods), SOPS files skipped. Grouped by reference, in
 * file order.
 * @param clusterPath repo-relative folder (homelab.yaml cluster.path)
 */
export async function imagesInTree(root: string, clusterPath: string): Promise<Map<string, ImageUse[]>> {
  const prefix = clusterPath.replace(/^\.\//, '').replace(/\/+$/, '') + '/'
  const files = (await listRepoFiles(root)).filter((f) => f.startsWith(prefix) && /\.ya?ml$/.test(f) && !/\.sops\.ya?ml$/.test(f))
  const out = new Map<string, ImageUse[]>()
  for (const file of files) {
    const text = await fs.readFile(path.join(root, file), 'utf8')
    const {docs, lineCounter} = parseYamlDocuments(text)
    for (const doc of docs) {
      if (doc.errors.length > 0) continue
      const visit = (node: unknown, inContainers: boolean): void => {
        if (!node || typeof node !== 'object') return
        const n = node as {items?: unknown[]; key?: {value?: unknown}; value?: unknown}
        if (Array.isArray(n.items)) {
          for (const item of n.items) {
            const pair = item as {key?: {value?: unknown}; value?: {value?: unknown; range?: [number, number]; items?: unknown[]}}
            if (pair && typeof pair === 'object' && 'key' in pair) {
              const key = pair.key?.value
              if (inContainers && key === 'image' && typeof pair.value?.value === 'string') {
                const ref = pair.value.value
                const line = lineCounter.linePos(pair.value.range?.[0] ?? 0).line
                out.set(ref, [...(out.get(ref) ?? []), {file, line}])
              } else visit(pair.value, false)
              if (key === 'containers' || key === 'initContainers' || key === 'ephemeralContainers')
                for (const c of (pair.value?.items ?? []) as unknown[]) visit(c, true)
            } else visit(item, false)
          }
        }
      }

      visit(doc.contents, false)
    }
  }

  return out
}

/**
 * Asks each image's registry for its tags and reports the newest of the same scheme (see
 * tags.ts); when the tree pins a digest, also the new tag's digest (manifest HEAD). Registries
 * are asked 4 at a time, one client (and token cache) per registry. An image whose registry cannot
 * be reached or refuses is `unchecked` with the reason: never a guess.
 */
export async function checkOutdated(images: ReadonlyMap<string, ImageUse[]>, options: RegistryClientOptions = {}): Promise<OutdatedReport> {
  const clients = new Map<string, RegistryClient>()
  const client = (registry: string) => {
    let c = clients.get(registry)
    if (!c) clients.set(registry, (c = new RegistryClient(registry, options)))
    return c
  }

  const results = await mapLimit([...images], 4, async ([image, uses]): Promise<OutdatedImage> => {
    const ref = parseImageRef(image)
    const base = {digest: ref?.digest ?? null, image, latest: null, latestDigest: null, registry: ref?.registry ?? '', repository: ref?.repository ?? '', tag: ref?.tag ?? null, update: null, uses}
    if (!ref) return {...base, reason: 'not an image reference', status: 'unversioned'}
    if (!ref.tag || !parseTag(ref.tag)) return {...base, reason: ref.tag ? `tag ${ref.tag} has no version to compare` : 'pinned by digest only, no tag to compare', status: 'unversioned'}
    try {
      const tags = await client(ref.registry).tags(ref.repository)
      const latest = newestInScheme(ref.tag, tags)!
      if (latest === ref.tag) return {...base, latest, status: 'up-to-date'}
      const latestDigest = ref.digest ? await client(ref.registry).digest(ref.repository, latest) : null
      return {...base, latest, latestDigest, status: 'outdated', update: replaceTag(ref, latest, latestDigest)}
    } catch (error) {
      if (!(error instanceof RegistryError)) throw error
      return {...base, reason: `cannot check: ${error.message}`, status: 'unchecked'}
    }
  })
  return {images: results, outdated: results.filter((r) => r.status === 'outdated').length, unchecked: results.filter((r) => r.status === 'unchecked').length}
}

/** The reference as written with the tag (and digest, when pinned) replaced. */
function replaceTag(ref: ImageRef, tag: string, digest: string | null): string {
  const name = ref.original.replace(/@sha256:[a-f0-9]{64}$/, '').replace(/:[\w][\w.-]*$/, '')
  return `${name}:${tag}${digest ? `@${digest}` : ''}`
}
