import {isMap, isScalar, isSeq, parseDocument, type Scalar, type YAMLMap, type YAMLSeq} from 'yaml'

import {SopsConfigError} from './errors.js'

/**
 * Edits the age recipients of `.sops.yaml` text in place (yaml Document API: comments, order and
 * the rest of each rule kept): in every creation rule (flat `age:` string or list, and each key
 * group's `age:` list) that holds one of `whenAny`, adds `add` (when missing) and removes `remove`.
 * @returns the new text and how many rules changed
 * @throws SopsConfigError when the text is not a valid `.sops.yaml`
 */
export function editSopsConfigRecipients(text: string, file: string, change: {whenAny: readonly string[]; add?: string; remove?: readonly string[]}): {text: string; changedRules: number} {
  const doc = parseDocument(text)
  if (doc.errors.length > 0) throw new SopsConfigError(`${file}: invalid YAML: ${doc.errors[0].message.split('\n')[0]}`)
  const rules = isMap(doc.contents) ? (doc.contents as YAMLMap).get('creation_rules', true) : undefined
  if (!isSeq(rules)) throw new SopsConfigError(`${file}: creation_rules must be a list`)
  const remove = new Set(change.remove ?? [])
  let changedRules = 0
  const editList = (list: string[]): string[] | undefined => {
    if (!list.some((r) => change.whenAny.includes(r))) return undefined
    let out = list.filter((r) => !remove.has(r))
    if (change.add && !out.includes(change.add)) out = [...out, change.add]
    return out.join(',') === list.join(',') ? undefined : out
  }

  const editAgeNode = (holder: YAMLMap): boolean => {
    const node = holder.get('age', true)
    if (isScalar(node) && typeof node.value === 'string') {
      const list = node.value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
      const out = editList(list)
      if (!out) return false
      ;(node as Scalar).value = out.join(',')
      return true
    }

    if (isSeq(node)) {
      const list = (node as YAMLSeq).items.map((i) => String(isScalar(i) ? i.value : i).trim())
      const out = editList(list)
      if (!out) return false
      const seq = node as YAMLSeq
      seq.items = seq.items.filter((i) => !remove.has(String(isScalar(i) ? i.value : i).trim()))
      if (change.add && !list.includes(change.add)) seq.items.push(doc.createNode(change.add))
      return true
    }

    return false
  }

  for (const rule of rules.items) {
    if (!isMap(rule)) continue
    let changed = false
    const groups = rule.get('key_groups', true)
    if (isSeq(groups) && groups.items.length > 0) {
      for (const group of groups.items) if (isMap(group) && editAgeNode(group)) changed = true
    } else if (editAgeNode(rule)) changed = true
    if (changed) changedRules++
  }

  return {changedRules, text: doc.toString({lineWidth: 0})}
}
