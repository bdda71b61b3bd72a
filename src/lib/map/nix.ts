/**
 * The few values the map reads from the repository's Nix files, without evaluating them: the
 * attributes are literals there (nixos/homelab-module.nix, nixos/backup.nix, flake.nix), so a
 * reader of exactly those attributes is enough and needs no nix on the laptop. Anything it does
 * not recognise is left out (an empty list, null), never guessed.
 */

/** The text with `#` comments and `/* … *\/` comments removed (string contents kept). */
export function stripNixComments(text: string): string {
  let out = ''
  let i = 0
  let inString = false
  while (i < text.length) {
    const c = text[i]
    if (inString) {
      if (c === '\\') {
        out += text.slice(i, i + 2)
        i += 2
        continue
      }

      if (c === '"') inString = false
      out += c
      i++
    } else if (c === '"') {
      inString = true
      out += c
      i++
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2)
      i = end === -1 ? text.length : end + 2
    } else {
      out += c
      i++
    }
  }

  return out
}

/**
 * `networking.firewall.allowedTCPPorts` / `allowedUDPPorts` of a NixOS module: every literal
 * port of those lists in the `networking.firewall = { … }` block (or, without such a block, every
 * such list written in full), sorted, without duplicates. Port ranges, computed lists and
 * per-interface ports (`interfaces.<name>`) are not read.
 */
export function firewallPorts(text: string): {tcp: number[]; udp: number[]} {
  const src = stripNixComments(text)
  // With a `networking.firewall = { … }` block: its own lists plus lists written in full
  // (`networking.firewall.allowedTCPPorts = …`), not lists elsewhere (e.g. the per-interface node
  // ports the module builds in a let binding). Without a block: every such list.
  const start = /\bnetworking\.firewall\s*=\s*\{/.exec(src)
  const scopes = start ? [dropNested(braceBlock(src, start.index + start[0].length - 1)), src] : [src]
  const ports = (attr: string) => {
    const out = new Set<number>()
    scopes.forEach((scope, i) => {
      const re = i === 1 ? String.raw`\bnetworking\.firewall\.${attr}\s*=\s*\[([^\]]*)\]` : String.raw`\b${attr}\s*=\s*\[([^\]]*)\]`
      for (const m of scope.matchAll(new RegExp(re, 'g'))) for (const n of m[1].match(/\b\d+\b/g) ?? []) out.add(Number(n))
    })
    return [...out].sort((a, b) => a - b)
  }

  return {tcp: ports('allowedTCPPorts'), udp: ports('allowedUDPPorts')}
}

/** `services.k3s.role` of a NixOS module (`services.k3s = { role = "server"; … }` or written in full); null when absent. */
export function k3sRole(text: string): string | null {
  const src = stripNixComments(text)
  const full = /\bservices\.k3s\.role\s*=\s*"([^"]*)"/.exec(src)
  if (full) return full[1]
  const start = /\bservices\.k3s\s*=\s*\{/.exec(src)
  if (!start) return null
  const block = braceBlock(src, start.index + start[0].length - 1)
  // Only the block's own attributes: drop nested blocks first.
  const role = /(?:^|[;{\s])role\s*=\s*"([^"]*)"/.exec(dropNested(block))
  return role ? role[1] : null
}

/**
 * The systemd units a NixOS module declares: `systemd.services.NAME` and `systemd.timers.NAME`
 * (NAME bare or quoted, e.g. `"kopia-backup-source@"`), as unit names (`kopia-backup.service`,
 * `kopia-backup.timer`, `kopia-backup-source@.service`), sorted.
 */
export function systemdUnits(text: string): string[] {
  const src = stripNixComments(text)
  const out = new Set<string>()
  for (const m of src.matchAll(/\bsystemd\.(services|timers)\.(?:"([^"]+)"|([\w-]+))\s*=/g)) out.add(`${m[2] ?? m[3]}.${m[1] === 'services' ? 'service' : 'timer'}`)
  return [...out].sort()
}

/** One input of a flake.nix: its url and follows. */
export interface FlakeInputDecl {
  name: string
  url: string | null
  follows: Record<string, string>
}

/**
 * The `inputs = { … };` of a flake.nix: per input its `url` and `inputs.X.follows`, whether
 * written `NAME.url = "…";`, `NAME = { url = "…"; inputs.X.follows = "…"; };` or
 * `NAME.inputs.X.follows = "…";`. Sorted by name; empty when the flake declares none.
 */
export function flakeInputs(text: string): FlakeInputDecl[] {
  const src = stripNixComments(text)
  const start = /(?:^|[{;\s])inputs\s*=\s*\{/.exec(src)
  if (!start) return []
  const block = braceBlock(src, start.index + start[0].length - 1)
  const inputs = new Map<string, FlakeInputDecl>()
  const input = (name: string) => {
    let i = inputs.get(name)
    if (!i) inputs.set(name, (i = {follows: {}, name, url: null}))
    return i
  }

  const attrs = (body: string, into: FlakeInputDecl) => {
    const url = /(?:^|[;{\s])url\s*=\s*"([^"]*)"/.exec(body)
    if (url) into.url = url[1]
    for (const f of body.matchAll(/\binputs\.([\w-]+)\.follows\s*=\s*"([^"]*)"/g)) into.follows[f[1]] = f[2]
  }

  let rest = ''
  let i = 0
  while (i < block.length) {
    const hit = /(?:^|[;\s])([\w-]+)\s*=\s*\{/g
    hit.lastIndex = i
    const found = hit.exec(block)
    if (!found) {
      rest += block.slice(i)
      break
    }

    const open = found.index + found[0].length - 1
    rest += block.slice(i, found.index + 1)
    const body = braceBlock(block, open)
    attrs(body, input(found[1]))
    i = open + body.length + 2
  }

  for (const m of rest.matchAll(/\b([\w-]+)\.url\s*=\s*"([^"]*)"/g)) input(m[1]).url = m[2]
  for (const m of rest.matchAll(/\b([\w-]+)\.inputs\.([\w-]+)\.follows\s*=\s*"([^"]*)"/g)) input(m[1]).follows[m[2]] = m[3]
  return [...inputs.values()].sort((a, b) => a.name.localeCompare(b.name))
}

/**
 * The locked revisions of a flake.lock (JSON, version 7: `nodes.root.inputs.NAME` names a node
 * whose `locked.rev` is the commit), by root input name. Inputs without a rev are left out.
 * @throws SyntaxError when the text is not JSON
 */
export function lockedRevs(lockText: string): Record<string, string> {
  const lock = JSON.parse(lockText) as {nodes?: Record<string, {inputs?: Record<string, string | string[]>; locked?: {rev?: string}}>; root?: string}
  const nodes = lock.nodes ?? {}
  const root = nodes[lock.root ?? 'root']
  const out: Record<string, string> = {}
  for (const [name, ref] of Object.entries(root?.inputs ?? {})) {
    if (typeof ref !== 'string') continue
    const rev = nodes[ref]?.locked?.rev
    if (rev) out[name] = rev
  }

  return out
}

/** The text between the brace at `open` and its matching close (strings skipped). */
function braceBlock(src: string, open: number): string {
  let depth = 0
  let inString = false
  for (let i = open; i < src.length; i++) {
    const c = src[i]
    if (inString) {
      if (c === '\\') i++
      else if (c === '"') inString = false
      continue
    }

    if (c === '"') inString = true
    else if (c === '{') depth++
    else if (c === '}' && --depth === 0) return src.slice(open + 1, i)
  }

  return src.slice(open + 1)
}

/** `block` with every nested `{ … }` removed. */
function dropNested(block: string): string {
  let out = ''
  let depth = 0
  for (const c of block) {
    if (c === '{') depth++
    else if (c === '}') depth--
    else if (depth === 0) out += c
  }

  return out
}
