import type {ChalkInstance} from 'chalk'

/** `homelab host add --json` (schemas/host-add.schema.json). No secret value is ever part of it. */
export interface HostAddResult {
  host: string
  role: 'agent' | 'server'
  ssh: string
  /** Repository-relative files created and changed. */
  created: string[]
  changed: string[]
  /** Host secret k3s/token: read from the server's token file, kept (already stored), or generated. */
  token: {source: 'generated' | 'kept' | 'server'; server: string; secret: string; file: string}
  /** The new host's SSH host key: pinned now, or null fingerprint with --no-pin. */
  hostKey: {pinned: boolean; fingerprint: string | null}
  /** Whether the new host runs NixOS; null when it was not reached (--no-pin). */
  nixos: boolean | null
  /** The age recipient added to the host secrets rule (--age-recipient), or null. */
  ageRecipient: string | null
  /** The next command. */
  next: string
}

/** `homelab host remove --json` (schemas/host-remove.schema.json). */
export interface HostRemoveResult {
  host: string
  /** Drained and deleted on the server; false with --no-drain or when the node never joined. */
  drained: boolean
  changed: string[]
  deleted: string[]
  /** Line numbers removed from known_hosts. */
  knownHostsLines: number[]
  ageRecipient: string | null
  /** Host secret k3s/token dropped (the server is alone again). */
  tokenRemoved: boolean
  /** `s3://bucket/prefix/` of the host's Kopia off-site copy, left in the bucket; null when unknown. */
  offsiteCopy: string | null
}

/** The text summary of `homelab host add`. */
export function renderHostAdded(r: HostAddResult, c: ChalkInstance): string {
  const lines = [`${c.green('✓')} host ${c.bold(r.host)} added (${r.role === 'agent' ? `k3s agent of ${r.token.server}` : 'k3s server'}, ssh ${r.ssh})`]
  for (const f of r.created) lines.push(`  ${c.green('created')}  ${f}`)
  for (const f of r.changed) lines.push(`  ${c.yellow('changed')}  ${f}`)
  const where = `${r.token.secret} in ${r.token.file}`
  if (r.token.source === 'server') lines.push(`Cluster token: read from ${r.token.server}:/var/lib/rancher/k3s/server/token (the token its k3s runs with), stored SOPS-encrypted as ${where}.`)
  else if (r.token.source === 'kept') lines.push(`Cluster token: ${where} was already there; kept.`)
  else
    lines.push(
      `Cluster token: a new random token, stored SOPS-encrypted as ${where}. ${r.token.server} must be (re)installed with it: a k3s server that already ran keeps its own token (k3s token rotate first).`,
    )
  lines.push(
    r.ageRecipient
      ? `Host secrets: ${r.ageRecipient} added to the .sops.yaml rule of ${r.token.file}, and the file's data key wrapped for it.`
      : `Host secrets: one file for every host (${r.token.file}: admin/password_hash, git/deploy_key), decrypted with the homelab's identity that homelab host install copies to the host; nothing per host to create.`,
  )
  if (r.hostKey.fingerprint === null) lines.push('Host key: not pinned (--no-pin); homelab host install pins the key it generates.')
  else lines.push(`Host key: ${r.hostKey.fingerprint} ${r.hostKey.pinned ? 'pinned in known_hosts' : 'already known (known_hosts or ~/.ssh/known_hosts); nothing pinned'}.`)
  const why = r.nixos === true
    ? 'it runs the homelab\'s NixOS already; every host deploys, the server first, since the host list changes their firewall and k3s flags'
    : r.nixos === false
      ? 'it does not run the homelab\'s NixOS yet'
      : 'or only homelab deploy for a machine already installed with homelab host install'
  lines.push(`Next: commit, then ${c.bold(r.next)} (${why}).`)
  return lines.join('\n')
}

/** The text summary of `homelab host remove`. */
export function renderHostRemoved(r: HostRemoveResult, c: ChalkInstance): string {
  const lines = [`${c.green('✓')} host ${c.bold(r.host)} removed${r.drained ? ' (node drained and deleted)' : ''}`]
  for (const f of r.deleted) lines.push(`  ${c.red('deleted')}  ${f}`)
  for (const f of r.changed) lines.push(`  ${c.yellow('changed')}  ${f}`)
  if (r.knownHostsLines.length > 0) lines.push(`known_hosts: its line${r.knownHostsLines.length === 1 ? '' : 's'} ${r.knownHostsLines.join(', ')} removed.`)
  if (r.ageRecipient) lines.push(`Host secrets: its recipient ${r.ageRecipient} removed from .sops.yaml and from the file's data key.`)
  if (r.tokenRemoved) lines.push('Host secret k3s/token removed: the server is the only node again.')
  // What the repository cannot take back: the machine itself, and its off-site copy.
  lines.push(
    `The machine still holds the cluster token (full access to the cluster) and the homelab's age identity (/var/lib/sops-nix/key.txt): wipe or reinstall it; if it is lost or not trusted, rotate both (k3s token rotate on the server, then homelab secrets rotate-key).`,
  )
  if (r.offsiteCopy) lines.push(`Its Kopia off-site copy stays at ${r.offsiteCopy}; delete it there once you no longer need its snapshots.`)
  lines.push(`Next: commit, then ${c.bold('homelab deploy')}.`)
  return lines.join('\n')
}
