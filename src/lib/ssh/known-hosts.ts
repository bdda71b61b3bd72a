import {createHash, createHmac} from 'node:crypto'
import path from 'node:path'

/**
 * OpenSSH known_hosts files: parsing, host matching (plain, `[host]:port`, wildcards, negation,
 * hashed `|1|salt|hash` entries) and SHA256 fingerprints. Format: OpenSSH sshd(8) "SSH_KNOWN_HOSTS
 * FILE FORMAT" and hostfile.c (`|1|` = base64 salt, base64 HMAC-SHA1(key = salt, data = host)).
 */

/** One key line of a known_hosts file. */
export interface KnownHostEntry {
  /** `@revoked` or `@cert-authority` when the line has a marker. */
  marker?: 'revoked' | 'cert-authority'
  /** The comma-separated host patterns as written (a hashed entry is one `|1|…` pattern). */
  patterns: string[]
  /** Key type, e.g. `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`. */
  keyType: string
  /** The public key blob (the base64 field, decoded). */
  key: Buffer
  /** 1-based line number in its file. */
  line: number
  /** The file it was read from (for messages). */
  file: string
}

/** Parses known_hosts text; blank lines, comments and malformed lines are skipped. */
export function parseKnownHosts(text: string, file = 'known_hosts'): KnownHostEntry[] {
  const entries: KnownHostEntry[] = []
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const fields = line.split(/\s+/)
    let marker: KnownHostEntry['marker']
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift()!.slice(1) as KnownHostEntry['marker']
    if (fields.length < 3) continue
    const key = Buffer.from(fields[2], 'base64')
    if (key.length === 0) continue
    entries.push({file, key, keyType: fields[1], line: index + 1, marker, patterns: fields[0].split(',')})
  }

  return entries
}

/** The known_hosts host name for a host and port: `host` for port 22, else `[host]:port`. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

/** True when the hashed pattern `|1|salt|hash` is the HMAC-SHA1 of `name`. */
export function matchesHashed(pattern: string, name: string): boolean {
  const parts = pattern.split('|')
  if (parts.length !== 4 || parts[1] !== '1') return false
  const digest = createHmac('sha1', Buffer.from(parts[2], 'base64')).update(name).digest('base64')
  return digest === parts[3]
}

/** Hashes a host name the way `ssh-keygen -H` / HashKnownHosts does, with the given 20-byte salt. */
export function hashHostName(name: string, salt: Buffer): string {
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replaceAll(/[.+^${}()|[\]\\]/g, String.raw`\$&`).replaceAll('*', '.*').replaceAll('?', '.')
  return new RegExp(`^${body}$`, 'i')
}

/**
 * True when an entry's patterns match the host name (`host` or `[host]:port`): a hashed pattern
 * by its HMAC, others by glob (`*`, `?`, case-insensitive); a matching `!negated` pattern wins.
 */
export function entryMatches(entry: KnownHostEntry, name: string): boolean {
  let matched = false
  for (const pattern of entry.patterns) {
    if (pattern.startsWith('|1|')) {
      if (matchesHashed(pattern, name)) matched = true
      continue
    }

    const negated = pattern.startsWith('!')
    if (globToRegExp(negated ? pattern.slice(1) : pattern).test(name)) {
      if (negated) return false
      matched = true
    }
  }

  return matched
}

/** `SHA256:<base64, no padding>` of a public key blob, as `ssh-keygen -l -E sha256` prints it. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`
}

/** The key type named inside an SSH public key blob (its first string, RFC 4253 section 6.6). */
export function keyTypeOfBlob(key: Buffer): string {
  if (key.length < 4) return 'unknown'
  const length = key.readUInt32BE(0)
  return key.subarray(4, 4 + length).toString('latin1')
}

/** Outcome of checking a presented host key against the known keys. */
export type HostKeyCheck =
  | {status: 'trusted'; entry: KnownHostEntry}
  | {status: 'revoked'; entry: KnownHostEntry}
  | {status: 'changed'; expected: KnownHostEntry[]}
  | {status: 'unknown'}

/**
 * Checks the key a host presented against known_hosts entries for any of `names` (each already
 * in `knownHostName` form). A `@revoked` match refuses; an equal key is trusted; entries for the
 * name with only other keys mean the key CHANGED; no entry at all is unknown.
 * `@cert-authority` lines are ignored (host certificates are not supported).
 */
export function checkHostKey(entries: KnownHostEntry[], names: string[], key: Buffer): HostKeyCheck {
  const forHost = entries.filter((e) => e.marker !== 'cert-authority' && names.some((n) => entryMatches(e, n)))
  const revoked = forHost.find((e) => e.marker === 'revoked' && e.key.equals(key))
  if (revoked) return {entry: revoked, status: 'revoked'}
  const trusted = forHost.find((e) => e.marker === undefined && e.key.equals(key))
  if (trusted) return {entry: trusted, status: 'trusted'}
  const expected = forHost.filter((e) => e.marker === undefined)
  return expected.length > 0 ? {expected, status: 'changed'} : {status: 'unknown'}
}

/** One known_hosts line pinning `key` for `name`: `<name> <type> <base64>`. */
export function knownHostsLine(name: string, key: Buffer): string {
  return `${name} ${keyTypeOfBlob(key)} ${key.toString('base64')}`
}

/**
 * The line said when a connection pinned a new host key into the repository's known_hosts
 * (`file`, absolute): names the file, says it changed and should be committed (with the git
 * command, paths relative to the repository `root`), and that deploy meanwhile counts the added
 * line as a pinned key, not as a dirty tree.
 */
export function pinnedKeyMessage(root: string, hostName: string, fingerprint: string, file: string): string {
  const rel = path.relative(root, file) || file
  return `pinned new host key ${fingerprint} in ${file}: ${rel} changed, commit it (git add ${rel} && git commit -m "Pin the host key of ${hostName}" -- ${rel}); until then deploy counts the added line as a pinned key, not as a dirty tree`
}
