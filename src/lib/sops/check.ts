import path from 'node:path'
import {parseAllDocuments} from 'yaml'

import type {AgeIdentity} from '../age/identities.js'
import {creationRulePath, describeCreationRule, hasSopsFileName, matchCreationRule, type SopsConfig, unusedCreationRules} from './creation-rules.js'
import {decryptSopsText} from './engine.js'
import {HomelabError} from '../errors.js'
import {readSopsMetadata} from './metadata.js'

/** One file to check: repository-relative POSIX path and its content (working tree or git index). */
export interface CheckInput {
  rel: string
  text: string
}

/** One problem `homelab secrets check` reports. */
export interface SecretsFinding {
  /** Repository-relative path. */
  file: string
  /** `not-encrypted` (a creation rule matches but it is plaintext), `recipients` (differ from the rule), `mac` (does not verify / does not decrypt), `plaintext-secret` (a Kubernetes Secret with data under flux/), `no-rule` (a SOPS file, by name or `sops` block, that no creation rule matches), `outside-repo` (a `*.sops.yaml` symlink pointing out of the repository). */
  kind: 'mac' | 'no-rule' | 'not-encrypted' | 'outside-repo' | 'plaintext-secret' | 'recipients'
  message: string
}

/** The outcome of {@link checkSecrets}. */
export interface SecretsCheckReport {
  ok: boolean
  /** Files looked at. */
  checked: number
  /** SOPS files whose MAC was verified. */
  macVerified: number
  /** SOPS files whose MAC could not be checked: no identity for their recipients. */
  macUnchecked: string[]
  findings: SecretsFinding[]
  /** Problems that do not fail the check: a creation rule that matches no file of the repository (`file` is the `.sops.yaml`). */
  warnings: SecretsFinding[]
}

/**
 * The checks of `homelab secrets check` over the given files: every file a creation rule matches
 * is a SOPS file encrypted to exactly that rule's recipients; every SOPS file's MAC verifies when
 * an identity is at hand; no plaintext Kubernetes Secret (with `data`/`stringData`) under `flux/`;
 * every SOPS file (named `*.sops.yaml`, or with a `sops` block) is matched by a creation rule.
 * With `repoFiles` (every file of the repository, relative), a rule that decides none of them
 * is a warning (see unusedCreationRules); leave it out when checking a subset (`--staged`).
 * A `*.sops.yaml` (`.yml`, `.json`) among `outsideLinks` (a symbolic link out of the repository)
 * is a finding naming the link.
 * Never throws for a bad file: each problem is a finding. Values are never put in messages.
 */
export async function checkSecrets(options: {
  inputs: readonly CheckInput[]
  config?: SopsConfig
  root: string
  identities: readonly AgeIdentity[]
  repoFiles?: readonly string[]
  /** Symbolic links of the repository that lead outside it (see listLinksOutside): each one named like a SOPS file is a finding. */
  outsideLinks?: ReadonlyArray<{rel: string; target: string}>
}): Promise<SecretsCheckReport> {
  const findings: SecretsFinding[] = []
  for (const link of options.outsideLinks ?? [])
    if (hasSopsFileName(link.rel))
      findings.push({
        file: link.rel,
        kind: 'outside-repo',
        message: `${link.rel} is a symbolic link to ${link.target}, outside the repository: it is not checked, and Flux and sops-nix will not find it; put the SOPS file itself in the repository`,
      })
  const warnings: SecretsFinding[] = []
  if (options.config && options.repoFiles) {
    const configRel = path.relative(options.root, options.config.file).split(path.sep).join('/')
    for (const rule of unusedCreationRules(options.config, options.repoFiles.map((rel) => path.join(options.root, rel))))
      warnings.push({file: configRel, kind: 'no-rule', message: `${configRel}:${rule.line}: ${describeCreationRule(rule)} matches no file of the repository: check its path_regex for a typo`})
  }

  const macUnchecked: string[] = []
  let macVerified = 0
  const mine = new Set(options.identities.map((id) => id.recipient))
  for (const {rel, text} of options.inputs) {
    const meta = readSopsMetadata(text, rel)
    const rule = options.config ? matchCreationRule(options.config, path.join(options.root, rel)) : undefined
    if (options.config && !rule && (meta || hasSopsFileName(rel))) {
      findings.push({
        file: rel,
        kind: 'no-rule',
        message: `${rel} is a SOPS file that no creation rule of .sops.yaml matches (as ${creationRulePath(options.config, path.join(options.root, rel))}): updatekeys cannot update its recipients; fix the path_regex or move the file`,
      })
    }

    if (rule && !meta) {
      findings.push({file: rel, kind: 'not-encrypted', message: `${rel} matches creation rule ${rule.index + 1} of .sops.yaml but is not SOPS-encrypted`})
      continue
    }

    if (rule && meta) {
      const want = new Set(rule.recipients)
      const have = new Set(meta.recipients)
      const missing = [...want].filter((r) => !have.has(r))
      const extra = [...have].filter((r) => !want.has(r))
      if (missing.length > 0 || extra.length > 0)
        findings.push({
          file: rel,
          kind: 'recipients',
          message: `${rel} is not encrypted to exactly its creation rule's recipients${missing.length > 0 ? `; missing ${missing.join(', ')}` : ''}${extra.length > 0 ? `; extra ${extra.join(', ')}` : ''} (run \`homelab secrets updatekeys ${rel}\`)`,
        })
    }

    if (meta) {
      if (!meta.recipients.some((r) => mine.has(r))) {
        macUnchecked.push(rel)
        continue
      }

      try {
        await decryptSopsText({file: rel, identities: options.identities, text})
        macVerified++
      } catch (error) {
        if (!(error instanceof HomelabError)) throw error
        findings.push({file: rel, kind: 'mac', message: error.message})
      }

      continue
    }

    if (rel.startsWith('flux/') && /\.ya?ml$/i.test(rel)) {
      for (const doc of safeDocs(text)) {
        if (!doc || typeof doc !== 'object') continue
        const obj = doc as Record<string, unknown>
        if (obj.kind !== 'Secret') continue
        const hasData = ['data', 'stringData'].some((k) => obj[k] && typeof obj[k] === 'object' && Object.keys(obj[k] as object).length > 0)
        if (hasData) {
          const name = (obj.metadata as {name?: string} | undefined)?.name ?? '(no name)'
          findings.push({file: rel, kind: 'plaintext-secret', message: `${rel} holds the Kubernetes Secret ${name} in plaintext: encrypt it (homelab secrets set, or name it *.sops.yaml so a creation rule matches)`})
        }
      }
    }
  }

  return {checked: options.inputs.length, findings, macUnchecked, macVerified, ok: findings.length === 0, warnings}
}

function safeDocs(text: string): unknown[] {
  try {
    return parseAllDocuments(text).flatMap((d) => ('toJS' in d ? [d.toJS()] : []))
  } catch {
    return []
  }
}

/** Marker line of the pre-commit hook `homelab secrets check --install-hook` writes. */
export const HOOK_MARKER = '# homelab secrets check pre-commit hook'

/**
 * The pre-commit hook script: runs `homelab secrets check --staged`, from PATH when installed,
 * else with the node and CLI entry given (absolute paths).
 */
export function preCommitHook(fallback: {node: string; entry: string}): string {
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`
  return `#!/bin/sh
${HOOK_MARKER}
# Refuses a commit that stages a plaintext secret, a SOPS file with the wrong recipients or one
# whose MAC does not verify. Installed by \`homelab secrets check --install-hook\`.
if command -v homelab >/dev/null 2>&1; then
  exec homelab secrets check --staged
fi
exec ${q(fallback.node)} ${q(fallback.entry)} secrets check --staged
`
}
