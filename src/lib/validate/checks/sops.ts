import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'

import {creationRulePath, describeCreationRule, hasSopsFileName, loadSopsConfig, matchCreationRule, readSopsMetadata, SOPS_CONFIG_NAMES, type SopsConfig, SopsConfigError, unusedCreationRules} from '../../sops/index.js'
import {isSopsCandidate} from '../../sops/repo.js'
import type {Check} from '../check.js'
import {describeObject, isCore} from '../check.js'
import {isRecord, lineOf} from '../context.js'
import {FindingList} from '../finding.js'

/**
 * Check 5: every file that a `.sops.yaml` creation rule matches (path relative to the repository
 * root, first rule wins, as sops does) is a SOPS file whose age recipients are exactly the
 * rule's; and no Kubernetes Secret anywhere in `flux/` holds a plaintext `data`/`stringData`
 * value (every value must be an `ENC[...]` string, or empty: sops leaves empty values as they are).
 * A SOPS file (named `*.sops.yaml`/`.yml`/`.json`, or holding a `sops` block) that no rule matches
 * is an error; a rule that decides no file is a warning (a typo in its `path_regex`); an empty
 * `.sops.yaml` is an error (see parseSopsConfig).
 */
export const sopsCheck: Check = {
  id: 'sops',
  title: 'files matched by .sops.yaml creation rules are encrypted to their recipients; no plaintext Secrets in flux/',
  async run(context) {
    const out = new FindingList('sops')
    const configName = SOPS_CONFIG_NAMES.find((name) => existsSync(path.join(context.root, name)))
    let config: SopsConfig | undefined
    if (!configName) out.error('.sops.yaml', 1, 'missing: no creation rules, so secrets cannot be encrypted (homelab init writes one)')
    else {
      try {
        config = await loadSopsConfig({dir: context.root, file: configName})
      } catch (error) {
        if (!(error instanceof SopsConfigError)) throw error
        const match = /^(\S+?):(\d+): (.*)$/.exec(error.message)
        if (match) out.error(path.relative(context.root, match[1]) || configName, Number(match[2]), match[3])
        else out.error(configName, 1, error.message)
      }
    }

    if (config) {
      const sopsConfig = config
      const configRel = path.relative(context.root, sopsConfig.file)
      await Promise.all(
        context.files.map(async (rel) => {
          if (rel === configRel) return
          const rule = matchCreationRule(sopsConfig, path.join(context.root, rel))
          if (!rule) {
            // A SOPS file no rule decides would keep its old recipients when the rules change.
            if (!hasSopsFileName(rel) && !isSopsCandidate(rel)) return
            const text = hasSopsFileName(rel) ? '' : await fs.readFile(path.join(context.root, rel), 'utf8').catch(() => '')
            if (hasSopsFileName(rel) || readSopsMetadata(text, rel))
              out.error(rel, 1, `a SOPS file that no creation rule of ${configRel} matches (as ${creationRulePath(sopsConfig, path.join(context.root, rel))}): homelab secrets updatekeys cannot update its recipients; fix the path_regex in ${configRel} or move the file`)
            return
          }

          const ruleName = `creation rule ${rule.index + 1} (${configRel}:${rule.line})`
          const text = await fs.readFile(path.join(context.root, rel), 'utf8')
          const meta = readSopsMetadata(text, rel)
          if (!meta) {
            out.error(rel, 1, `not SOPS-encrypted, but ${ruleName} matches ${creationRulePath(sopsConfig, path.join(context.root, rel))}: encrypt it (homelab secrets set writes SOPS files; or sops -e -i)`)
            return
          }

          const missing = rule.recipients.filter((r) => !meta.recipients.includes(r))
          const extra = meta.recipients.filter((r) => !rule.recipients.includes(r))
          if (missing.length === 0 && extra.length === 0) return
          const parts = [...(missing.length > 0 ? [`not encrypted to ${missing.join(', ')}`] : []), ...(extra.length > 0 ? [`encrypted to ${extra.join(', ')} which the rule does not list`] : [])]
          out.error(rel, sopsBlockLine(text), `recipients differ from ${ruleName}: ${parts.join('; ')} (run homelab secrets updatekeys)`)
        }),
      )
      for (const rule of unusedCreationRules(sopsConfig, context.files.map((rel) => path.join(context.root, rel))))
        out.warning(configRel, rule.line, `${describeCreationRule(rule)} matches no file of the repository: check its path_regex for a typo`)
    }

    for (const object of context.objects) {
      if (!object.file.rel.startsWith('flux/') || !isCore(object, 'Secret')) continue
      for (const field of ['data', 'stringData']) {
        const values = object.value[field]
        if (!isRecord(values)) continue
        const plain = Object.entries(values).filter(([, v]) => !(typeof v === 'string' && (v === '' || v.startsWith('ENC['))))
        if (plain.length === 0) continue
        out.error(
          object.file.rel,
          lineOf(object, [field, plain[0][0]]),
          `${describeObject(object)}: plaintext ${field} (${plain.map(([k]) => k).join(', ')}): encrypt the file with SOPS`,
        )
      }
    }

    out.findings.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
    return {findings: out.findings}
  },
}

/** 1-based line of the top-level `sops` key (YAML `sops:` or JSON `"sops":`), 1 when not found. */
function sopsBlockLine(text: string): number {
  const index = text.split('\n').findIndex((l) => /^(sops:|\s*"sops"\s*:)/.test(l))
  return index === -1 ? 1 : index + 1
}
