/**
 * A read-only client of the OCI distribution API (https://github.com/opencontainers/distribution-spec,
 * spec.md "Listing Tags" and "Checking if content exists"): `GET /v2/<name>/tags/list` with
 * Link-header pagination (RFC 8288, `rel="next"`), `HEAD /v2/<name>/manifests/<tag>` for the
 * digest (`Docker-Content-Digest`), and the anonymous bearer token flow of Docker's token
 * authentication spec (distribution docs/spec/auth/token.md): a 401 with
 * `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` is answered by a GET of the realm
 * with `service` and `scope=repository:<name>:pull`, whose JSON `token` (or `access_token`) is
 * sent as `Authorization: Bearer …`. No credentials are ever sent.
 */
import {registryBaseUrl} from './reference.js'

/** Why a registry could not answer (one line, no stack). */
export class RegistryError extends Error {}

/** The Accept header of a manifest HEAD: image indexes and manifests, OCI and Docker v2 (what containerd sends). */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ')

/** At most this many tag pages are read per repository (a registry that paginates forever is cut off). */
const MAX_PAGES = 200

/** Options of {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** fetch to use (default: global fetch). */
  fetch?: typeof fetch
  /** Per-request timeout in milliseconds (default 20 000). */
  timeoutMs?: number
}

/** Parses a `WWW-Authenticate: Bearer k="v",…` challenge; undefined for any other scheme. */
export function parseBearerChallenge(header: string | null): Record<string, string> | undefined {
  if (!header || !/^bearer\s/i.test(header)) return undefined
  const params: Record<string, string> = {}
  for (const m of header.slice(7).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params[m[1].toLowerCase()] = m[2]
  return params
}

/** The `rel="next"` target of a Link header, or undefined. */
export function nextLink(header: string | null): string | undefined {
  if (!header) return undefined
  for (const part of header.split(',')) {
    const m = /<([^>]*)>\s*;(.*)$/.exec(part.trim())
    if (m && /rel="?next"?/.test(m[2])) return m[1]
  }

  return undefined
}

/** Reads tags and manifest digests of one registry, anonymously; tokens are cached per repository. */
export class RegistryClient {
  private readonly base: string
  private readonly fetch: typeof fetch
  private readonly timeoutMs: number
  private readonly tokens = new Map<string, string>()

  /** @param registry the registry as named in references (`ghcr.io`, `docker.io`, `127.0.0.1:5000`) */
  constructor(
    readonly registry: string,
    options: RegistryClientOptions = {},
  ) {
    this.base = registryBaseUrl(registry)
    this.fetch = options.fetch ?? fetch
    this.timeoutMs = options.timeoutMs ?? 20_000
  }

  /**
   * Every tag of `repository`, following Link pagination.
   * @throws RegistryError naming the registry and what failed (unreachable, HTTP status, bad JSON)
   */
  async tags(repository: string): Promise<string[]> {
    const out: string[] = []
    let url: string | undefined = `${this.base}/v2/${repository}/tags/list?n=1000`
    for (let page = 0; url && page < MAX_PAGES; page++) {
      const response = await this.request(url, repository, {method: 'GET'})
      if (!response.ok) throw new RegistryError(`${this.registry}: GET /v2/${repository}/tags/list answered HTTP ${response.status}`)
      let body: {tags?: unknown}
      try {
        body = (await response.json()) as {tags?: unknown}
      } catch {
        throw new RegistryError(`${this.registry}: /v2/${repository}/tags/list is not JSON`)
      }

      if (Array.isArray(body.tags)) out.push(...body.tags.filter((t): t is string => typeof t === 'string'))
      const next = nextLink(response.headers.get('link'))
      url = next === undefined ? undefined : new URL(next, url).href
    }

    return out
  }

  /**
   * The digest of `repository:tag` from a HEAD of its manifest (the `Docker-Content-Digest` header).
   * @throws RegistryError when the registry does not answer 200 or sends no digest
   */
  async digest(repository: string, tag: string): Promise<string> {
    const response = await this.request(`${this.base}/v2/${repository}/manifests/${tag}`, repository, {headers: {Accept: MANIFEST_ACCEPT}, method: 'HEAD'})
    if (!response.ok) throw new RegistryError(`${this.registry}: HEAD /v2/${repository}/manifests/${tag} answered HTTP ${response.status}`)
    const digest = response.headers.get('docker-content-digest')
    if (!digest || !/^sha256:[a-f0-9]{64}$/.test(digest)) throw new RegistryError(`${this.registry}: HEAD /v2/${repository}/manifests/${tag} sent no Docker-Content-Digest`)
    return digest
  }

  /** One request, with the cached token; a Bearer challenge is answered once with an anonymous token. */
  private async request(url: string, repository: string, init: {method: string; headers?: Record<string, string>}): Promise<Response> {
    const send = (token?: string) =>
      this.send(url, {...init, headers: {...init.headers, ...(token ? {Authorization: `Bearer ${token}`} : {})}})
    let response = await send(this.tokens.get(repository))
    if (response.status !== 401) return response
    const challenge = parseBearerChallenge(response.headers.get('www-authenticate'))
    if (!challenge?.realm) throw new RegistryError(`${this.registry}: ${repository} needs credentials (HTTP 401 without a Bearer token challenge); homelab only reads public images`)
    await response.body?.cancel()
    const token = await this.token(challenge, repository)
    this.tokens.set(repository, token)
    response = await send(token)
    if (response.status === 401) throw new RegistryError(`${this.registry}: ${repository} refuses anonymous pulls (HTTP 401 with a token): a private image`)
    return response
  }

  private async token(challenge: Record<string, string>, repository: string): Promise<string> {
    const realm = new URL(challenge.realm)
    if (challenge.service) realm.searchParams.set('service', challenge.service)
    realm.searchParams.set('scope', challenge.scope ?? `repository:${repository}:pull`)
    const response = await this.send(realm.href, {method: 'GET'})
    if (!response.ok) throw new RegistryError(`${this.registry}: token service ${realm.origin} answered HTTP ${response.status}`)
    const body = (await response.json().catch(() => ({}))) as {token?: unknown; access_token?: unknown}
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined
    if (!token) throw new RegistryError(`${this.registry}: token service ${realm.origin} sent no token`)
    return token
  }

  private async send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetch(url, {...init, redirect: 'follow', signal: AbortSignal.timeout(this.timeoutMs)})
    } catch (error) {
      const cause = (error as {cause?: {code?: string; message?: string}}).cause
      const why = cause?.code ?? cause?.message ?? (error as Error).message
      throw new RegistryError(`${this.registry} unreachable (${why})`)
    }
  }
}
