import {promises as fs} from 'node:fs'
import path from 'node:path'
import {isMap} from 'yaml'

import type {AgeIdentity} from '../../age/identities.js'
import {HomelabError} from '../../errors.js'
import type {FileChange} from '../../fs/transaction.js'
import {type CreationRule, matchCreationRule, parseSopsConfig, SOPS_CONFIG_NAMES} from '../../sops/creation-rules.js'
import {decryptSopsText, encryptDecrypted, setNodeValue, wrapForGroups} from '../../sops/engine.js'
import {planUpdateSopsKeys} from '../../sops/files.js'
import {ensureScalarAt} from '../../sops/key-path.js'
import {HOST_SECRETS_FILE, secretSegments} from '../install/host-secrets.js'
import {K3S_TOKEN_SECRET} from './plan.js'

/** What {@link planHostSecrets} is asked to do to the host secrets file. */
export interface HostSecretsRequest {
  /** The repository root (absolute). */
  root: string
  /** The operator's age identities (one of them must decrypt the file). */
  identities: readonly AgeIdentity[]
  /** Set `k3s/token` to this value (never logged), or `null` to delete it; absent: leave it. */
  token?: string | null
  /** The `.sops.yaml` text after the command's edit: the file's recipients follow its rule (updatekeys). */
  sopsConfigText?: string
}

/** The planned change of the host secrets file. */
export interface HostSecretsPlan {
  /** Repository-relative path (nixos/secrets/host-secrets.sops.yaml). */
  file: string
  /** The change, or null when the file stays as it is. */
  change: FileChange | null
  /** The value of `k3s/token` in the file now (undefined: absent). Never log it. */
  currentToken: string | undefined
  /** Recipients added to / removed from the file's data key. */
  added: string[]
  removed: string[]
}

/** Reads the host secrets file's current `k3s/token` (without changing anything). @throws as {@link planHostSecrets} */
export async function readHostToken(root: string, identities: readonly AgeIdentity[]): Promise<string | undefined> {
  return (await planHostSecrets({identities, root})).currentToken
}

/**
 * Plans the host secrets file's new text, in memory: `k3s/token` set or deleted (same data key;
 * every other value keeps its ciphertext), and — with `sopsConfigText` — the data key wrapped for
 * exactly the recipients of the file's creation rule in that text, as `homelab secrets updatekeys`
 * does (planUpdateSopsKeys when no value changes; the same wrapForGroups with the token).
 *
 * @throws HomelabError naming the file when it is missing; SopsError when no identity decrypts
 *   it (MAC verified) or a key path runs into a non-map; SopsConfigError when no rule of the new
 *   `.sops.yaml` matches it
 */
export async function planHostSecrets(request: HostSecretsRequest): Promise<HostSecretsPlan> {
  const file = HOST_SECRETS_FILE
  const abs = path.join(request.root, file)
  let text: string
  try {
    text = await fs.readFile(abs, 'utf8')
  } catch {
    throw new HomelabError(`${file}: missing; the hosts' sops-nix secrets live there (homelab init writes it)`)
  }

  const decrypted = await decryptSopsText({file, identities: request.identities, text})
  const doc = decrypted.documents[0]
  const segments = secretSegments(K3S_TOKEN_SECRET)
  const current = doc.getIn(segments)
  const currentToken = typeof current === 'string' && current !== '' ? current : undefined
  let valuesChanged = false
  if (typeof request.token === 'string' && request.token !== currentToken) {
    setNodeValue(ensureScalarAt(doc, segments, file).node, {text: request.token, type: 'str'})
    valuesChanged = true
  } else if (request.token === null && doc.hasIn(segments)) {
    doc.deleteIn(segments)
    const parent = doc.getIn(segments.slice(0, -1))
    if (isMap(parent) && parent.items.length === 0) doc.deleteIn(segments.slice(0, -1))
    valuesChanged = true
  }

  let rule: CreationRule | undefined
  if (request.sopsConfigText !== undefined) {
    const configFile = path.join(request.root, SOPS_CONFIG_NAMES[0])
    rule = matchCreationRule(parseSopsConfig(request.sopsConfigText, configFile), abs)
    if (!rule) throw new HomelabError(`${SOPS_CONFIG_NAMES[0]}: no creation rule matches ${file}`)
  }

  const before = decrypted.metadata.recipients
  const groups = rule ? rule.keyGroups.filter((g) => g.length > 0) : decrypted.metadata.keyGroups.map((g) => g.map((s) => s.recipient))
  const after = [...new Set(groups.flat())]
  const added = after.filter((r) => !before.includes(r))
  const removed = before.filter((r) => !after.includes(r))
  const recipientsChange = added.length > 0 || removed.length > 0
  let newText: string | null = null
  if (valuesChanged) {
    const keyGroups = recipientsChange
      ? await wrapForGroups(decrypted.dataKey, groups, rule?.shamirThreshold, decrypted.metadata.keyGroups.length === 1 ? decrypted.metadata.keyGroups[0] : [])
      : undefined
    newText = encryptDecrypted(decrypted, {inPlace: true, keyGroups})
  } else if (recipientsChange && rule) {
    // Only the recipients change: exactly `homelab secrets updatekeys` (values, MAC, lastmodified kept).
    newText = (await planUpdateSopsKeys({displayName: file, file: abs, identities: request.identities, rule})).after
  }

  return {added, change: newText === null || newText === text ? null : {after: newText, before: text, path: abs}, currentToken, file, removed}
}
