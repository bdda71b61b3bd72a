import {isMap, isScalar, isSeq, parseDocument, type Scalar, type YAMLMap, type YAMLSeq} from 'yaml'

import {SopsConfigError} from '../../sops/errors.js'

/** The comment `homelab host add` writes above a rule's `age:` for each recipient it added: `host NAME (homelab host add): age1…`. */
const MARK = /^\s*host ([a-z0-9-]+) \(homelab host add\): (age1[0-9a-z]+)\s*$/

/** A creation rule's `age:` pair (flat string or list), or a SopsConfigError for key groups. */
function agePair(doc: ReturnType<typeof parseDocument>, file: string, ruleIndex: number): {rule: YAMLMap; key: Scalar; value: Scalar | YAMLSeq} {
  const rules = isMap(doc.contents) ? (doc.contents as YAMLMap).get('creation_rules', true) : undefined
  if (!isSeq(rules) || !isMap(rules.items[ruleIndex])) throw new SopsConfigError(`${file}: creation_rules[${ruleIndex}] is missing`)
  const rule = rules.items[ruleIndex] as YAMLMap
  if (rule.has('key_groups'))
    throw new SopsConfigError(`${file}: creation_rules[${ruleIndex}] uses key_groups; add the host's age recipient to the right group by hand, then run homelab secrets updatekeys`)
  const pair = rule.items.find((p) => isScalar(p.key) && p.key.value === 'age')
  if (!pair || !isScalar(pair.key) || !(isScalar(pair.value) || isSeq(pair.value)))
    throw new SopsConfigError(`${file}: creation_rules[${ruleIndex}] has no age: recipients`)
  return {key: pair.key as Scalar, rule, value: pair.value as Scalar | YAMLSeq}
}

function recipientsOf(value: Scalar | YAMLSeq): string[] {
  if (isSeq(value)) return value.items.map((i) => String(isScalar(i) ? i.value : i).trim())
  return String(value.value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

function setRecipients(doc: ReturnType<typeof parseDocument>, value: Scalar | YAMLSeq, list: string[]): void {
  if (isSeq(value)) value.items = list.map((r) => doc.createNode(r))
  else value.value = list.join(',')
}

/**
 * `.sops.yaml` text with `recipient` added to creation rule `ruleIndex` (the host secrets rule),
 * and a comment above its `age:` saying which host it is for (`# host NAME (homelab host add):
 * age1…`), so `homelab host remove NAME` can take it out again. yaml Document API: comments,
 * order and the other rules kept. A recipient the rule has already is not added twice (and not
 * marked: it was not this host's to remove).
 *
 * @returns the new text, or null when the rule already has the recipient
 * @throws SopsConfigError when the rule is missing, uses key_groups, or has no `age:`
 */
export function addHostRecipient(text: string, file: string, ruleIndex: number, host: string, recipient: string): string | null {
  const doc = parseDocument(text)
  const {key, value} = agePair(doc, file, ruleIndex)
  const list = recipientsOf(value)
  if (list.includes(recipient)) return null
  setRecipients(doc, value, [...list, recipient])
  const line = ` host ${host} (homelab host add): ${recipient}`
  key.commentBefore = key.commentBefore ? `${key.commentBefore}\n${line}` : line
  return doc.toString({lineWidth: 0})
}

/**
 * `.sops.yaml` text without the recipient `homelab host add` added for `host` (found by its
 * comment, see {@link addHostRecipient}) in any rule; the comment goes too.
 *
 * @returns the new text and the recipient removed, or null when no rule has a recipient marked for the host
 */
export function removeHostRecipient(text: string, file: string, host: string): {text: string; recipient: string} | null {
  const doc = parseDocument(text)
  const rules = isMap(doc.contents) ? (doc.contents as YAMLMap).get('creation_rules', true) : undefined
  if (!isSeq(rules)) return null
  let removed: string | undefined
  for (const [index, rule] of rules.items.entries()) {
    if (!isMap(rule) || rule.has('key_groups')) continue
    let pair
    try {
      pair = agePair(doc, file, index)
    } catch {
      continue
    }

    const lines = (pair.key.commentBefore ?? '').split('\n')
    const mine = lines.map((l) => MARK.exec(l)).find((m) => m?.[1] === host)
    if (!mine) continue
    removed = mine[2]
    const kept = lines.filter((l) => MARK.exec(l)?.[1] !== host)
    pair.key.commentBefore = kept.length > 0 && kept.some((l) => l.trim() !== '') ? kept.join('\n') : undefined
    setRecipients(doc, pair.value, recipientsOf(pair.value).filter((r) => r !== removed))
  }

  return removed ? {recipient: removed, text: doc.toString({lineWidth: 0})} : null
}
