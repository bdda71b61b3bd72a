import type {Homelab} from './load.js'
import type {HostConfig} from './schema.js'
import {UsageError} from '../errors.js'

/**
 * Host selection, as colmena's `--on`: a comma-separated list of host names (`*` matches any
 * characters) and `@tag`s (every host whose `tags:` in homelab.yaml has the tag), e.g.
 * `--on @storage,azalab-0`. Order follows homelab.yaml; a host named twice is listed once.
 * @throws UsageError (exit 3) for an empty list, a name or glob that matches no host, or a tag no host has
 */
export function selectOn(homelab: Homelab, on: string): HostConfig[] {
  const hosts = homelab.config.hosts
  const terms = on.split(',').map((t) => t.trim()).filter((t) => t !== '')
  if (terms.length === 0) throw new UsageError('--on is empty', {suggestions: ['give host names or @tags, e.g. --on @agents,azalab-0']})
  const chosen = new Set<string>()
  for (const term of terms) {
    const matches = term.startsWith('@') ? hosts.filter((h) => h.tags.includes(term.slice(1))) : hosts.filter((h) => globMatch(term, h.name))
    if (matches.length === 0) {
      const tags = [...new Set(hosts.flatMap((h) => h.tags))]
      throw new UsageError(`--on ${term}: no host in homelab.yaml matches`, {
        suggestions: [`hosts: ${hosts.map((h) => h.name).join(', ')}${tags.length > 0 ? `; tags: ${tags.map((t) => `@${t}`).join(', ')}` : ''}`],
      })
    }

    for (const h of matches) chosen.add(h.name)
  }

  return hosts.filter((h) => chosen.has(h.name))
}

/**
 * The hosts a command acts on: `--host NAME` (one host), `--on LIST` ({@link selectOn}), or all
 * of homelab.yaml when neither is given.
 * @throws UsageError (exit 3) when both are given or a name/tag matches nothing
 */
export function selectHosts(homelab: Homelab, select: {host?: string; on?: string} = {}): HostConfig[] {
  if (select.host !== undefined && select.on !== undefined) throw new UsageError('--host and --on select hosts two ways; give one of them')
  if (select.on !== undefined) return selectOn(homelab, select.on)
  if (select.host === undefined) return homelab.config.hosts
  return [hostNamed(homelab, select.host)]
}

/**
 * The host entry of homelab.yaml named `name`, or (no name) the k3s server host.
 * @throws UsageError naming the known hosts when there is no such host
 */
export function pickHost(homelab: Homelab, name: string | undefined): HostConfig {
  return name === undefined ? serverHost(homelab) : hostNamed(homelab, name)
}

/** The host whose role is `server` (the first one when several claim it; validate reports that), else the first host. */
export function serverHost(homelab: Homelab): HostConfig {
  return homelab.config.hosts.find((h) => h.role === 'server') ?? homelab.config.hosts[0]
}

function hostNamed(homelab: Homelab, name: string): HostConfig {
  const host = homelab.config.hosts.find((h) => h.name === name)
  if (host) return host
  const names = homelab.config.hosts.map((h) => h.name)
  throw new UsageError(`homelab.yaml has no host "${name}" (hosts: ${names.join(', ') || 'none'})`, {
    suggestions: names.length > 0 ? [`use --host with one of: ${names.join(', ')}`] : ['add the host to hosts: in homelab.yaml'],
  })
}

function globMatch(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replaceAll(/[.+?^${}()|[\]\\]/g, String.raw`\$&`)).join('.*')}$`)
  return re.test(name)
}
