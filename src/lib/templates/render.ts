import {HomelabError} from '../errors.js'

/**
 * Placeholder syntax of every file under `templates/`: `{{name}}` (spaces inside the braces
 * allowed), where `name` is `[a-zA-Z][a-zA-Z0-9_]*`. Nothing else is special: templates are plain
 * YAML/Nix/text, not code. `{{{{` and `}}}}` are not escapes; a literal `{{` that is not a
 * placeholder is left as it is.
 */
export const PLACEHOLDER = /\{\{\s*([a-zA-Z][a-zA-Z0-9_]*)\s*\}\}/g

/**
 * Replaces every `{{name}}` in `text` with `values[name]`.
 * @param source the template's path, named in errors
 * @throws HomelabError naming the template and the placeholder when a value is missing
 */
export function renderTemplate(text: string, values: Readonly<Record<string, string>>, source: string): string {
  return text.replace(PLACEHOLDER, (_match, name: string) => {
    const value = values[name]
    if (value === undefined)
      throw new HomelabError(`${source}: placeholder {{${name}}} has no value`, {
        suggestions: [`known placeholders: ${Object.keys(values).sort().join(', ')}`],
      })
    return value
  })
}

/** The placeholder names a template uses, in first-use order. */
export function placeholdersOf(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]))]
}
