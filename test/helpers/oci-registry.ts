import {createHash} from 'node:crypto'
import http from 'node:http'
import type {AddressInfo} from 'node:net'

/** One repository the test registry serves: its tags; a manifest digest is derived from name:tag. */
export interface TestRepository {
  tags: string[]
  /** Answer 401 with a Bearer challenge unless the request carries the token of this repository. */
  auth?: boolean
}

/** A request the registry received (for assertions). */
export interface SeenRequest {
  method: string
  url: string
  authorization?: string
  accept?: string
}

/** A running test registry. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`: use images named `127.0.0.1:PORT/<repo>:<tag>`. */
  host: string
  requests: SeenRequest[]
  /** The digest the registry reports for `repo:tag`. */
  digestOf(repository: string, tag: string): string
  close(): Promise<void>
}

/**
 * A small OCI distribution API server on loopback (distribution-spec spec.md), enough for
 * `homelab app outdated`: `GET /v2/<name>/tags/list` paginated by `n` (default page size
 * `pageSize`) and `last` with a `Link: <…>; rel="next"` header, `HEAD /v2/<name>/manifests/<tag>`
 * answering `Docker-Content-Digest` only when Accept names an image index or manifest type, and
 * the token flow of distribution docs/spec/auth/token.md: a repository with `auth` answers 401
 * with `WWW-Authenticate: Bearer realm="http://HOST/token",service="test-registry",scope="repository:NAME:pull"`
 * and `GET /token?service=…&scope=…` returns `{"token": …}`. Unknown repositories answer 404 with
 * the spec's NAME_UNKNOWN error body.
 */
export async function startTestRegistry(repositories: Record<string, TestRepository>, options: {pageSize?: number} = {}): Promise<TestRegistry> {
  const pageSize = options.pageSize ?? 2
  const requests: SeenRequest[] = []
  const tokenOf = (name: string) => createHash('sha256').update(`token:${name}`).digest('hex')
  const digestOf = (name: string, tag: string) => `sha256:${createHash('sha256').update(`${name}:${tag}`).digest('hex')}`
  let host = ''
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, `http://${host}`)
    requests.push({accept: req.headers.accept, authorization: req.headers.authorization, method: req.method!, url: req.url!})
    if (url.pathname === '/token') {
      const scope = url.searchParams.get('scope') ?? ''
      const m = /^repository:(.+):pull$/.exec(scope)
      if (!m || url.searchParams.get('service') !== 'test-registry') {
        res.writeHead(400).end()
        return
      }

      res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({token: tokenOf(m[1])}))
      return
    }

    const m = /^\/v2\/(.+)\/(tags\/list|manifests\/([^/]+))$/.exec(url.pathname)
    const repo = m ? repositories[m[1]] : undefined
    if (!m || !repo) {
      res.writeHead(404, {'content-type': 'application/json'}).end(JSON.stringify({errors: [{code: 'NAME_UNKNOWN', message: 'repository name not known to registry'}]}))
      return
    }

    const name = m[1]
    if (repo.auth && req.headers.authorization !== `Bearer ${tokenOf(name)}`) {
      res
        .writeHead(401, {'www-authenticate': `Bearer realm="http://${host}/token",service="test-registry",scope="repository:${name}:pull"`, 'content-type': 'application/json'})
        .end(JSON.stringify({errors: [{code: 'UNAUTHORIZED', message: 'authentication required'}]}))
      return
    }

    if (m[2] === 'tags/list') {
      const n = Number(url.searchParams.get('n') ?? pageSize)
      const size = Math.min(n, pageSize)
      const sorted = [...repo.tags].sort()
      const last = url.searchParams.get('last')
      const from = last === null ? 0 : sorted.findIndex((t) => t > last)
      const page = from === -1 ? [] : sorted.slice(from, from + size)
      const headers: Record<string, string> = {'content-type': 'application/json'}
      if (from !== -1 && from + size < sorted.length) headers.link = `</v2/${name}/tags/list?n=${size}&last=${encodeURIComponent(page.at(-1)!)}>; rel="next"`
      res.writeHead(200, headers).end(JSON.stringify({name, tags: page}))
      return
    }

    const tag = m[3]
    const accepted = /application\/vnd\.(oci\.image\.index\.v1|docker\.distribution\.manifest\.list\.v2)\+json/.test(req.headers.accept ?? '')
    if (!repo.tags.includes(tag) || !accepted) {
      res.writeHead(404).end()
      return
    }

    res.writeHead(200, {'content-type': 'application/vnd.oci.image.index.v1+json', 'docker-content-digest': digestOf(name, tag)}).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    digestOf,
    host,
    requests,
  }
}

/** A loopback port nothing listens on (bound, then closed): a registry that cannot be reached. */
export async function closedPort(): Promise<number> {
  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
