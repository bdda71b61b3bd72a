/**
 * Image references as the container runtimes read them (distribution/reference `normalize.go`):
 * `[registry[:port]/]path[:tag][@digest]`. A first path component without `.` or `:` (and not
 * `localhost`) is a Docker Hub name: registry `docker.io`, and a single-component name gets the
 * `library/` namespace (`nginx` → `docker.io/library/nginx`). Docker Hub's API host is
 * `registry-1.docker.io`.
 */

/** An image reference, normalised. */
export interface ImageRef {
  /** The reference as written in the tree. */
  original: string
  /** Registry host as named (`docker.io`, `ghcr.io`, `127.0.0.1:5000`). */
  registry: string
  /** Repository path inside the registry (`library/nginx`, `owner/app`). */
  repository: string
  /** Tag; `latest` when neither a tag nor a digest is written (as `docker pull` does). */
  tag?: string
  /** `sha256:…` when the reference pins a digest. */
  digest?: string
}

/** Docker Hub's name in references and the host its distribution API answers on. */
export const DOCKER_HUB = 'docker.io'
export const DOCKER_HUB_API = 'registry-1.docker.io'

/**
 * Parses and normalises an image reference.
 * @returns undefined when `ref` is not an image reference (empty, spaces, a `${variable}`)
 */
export function parseImageRef(ref: string): ImageRef | undefined {
  if (!/^[\w.:/@-]+$/.test(ref)) return undefined
  let rest = ref
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at !== -1) {
    digest = rest.slice(at + 1)
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) return undefined
    rest = rest.slice(0, at)
  }

  let registry = DOCKER_HUB
  const slash = rest.indexOf('/')
  if (slash !== -1) {
    const first = rest.slice(0, slash)
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first
      rest = rest.slice(slash + 1)
    }
  }

  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon !== -1) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!/^\w[\w.-]{0,127}$/.test(tag)) return undefined
  }

  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(rest)) return undefined
  if (registry === 'index.docker.io') registry = DOCKER_HUB
  const repository = registry === DOCKER_HUB && !rest.includes('/') ? `library/${rest}` : rest
  if (tag === undefined && digest === undefined) tag = 'latest'
  return {digest, original: ref, registry, repository, tag}
}

/** The host the registry's distribution API answers on (Docker Hub: registry-1.docker.io). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry
}

/**
 * Whether the registry is reached over plain HTTP: only a loopback registry (`localhost`,
 * `127.0.0.0/8`, `[::1]`, any port), as Docker and containerd treat loopback registries as
 * insecure by default (dockerd `--insecure-registry` defaults to 127.0.0.0/8). Every other
 * registry is HTTPS.
 */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '')
  return host === 'localhost' || /^127(?:\.\d{1,3}){3}$/.test(host) || host === '[::1]'
}

/** The base URL of the registry's API (`https://host` or, for loopback, `http://host`). */
export function registryBaseUrl(registry: string): string {
  return `${isLoopbackRegistry(registry) ? 'http' : 'https'}://${apiHost(registry)}`
}
