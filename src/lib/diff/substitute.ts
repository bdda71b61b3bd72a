/**
 * Flux post-build variable substitution, as kustomize-controller does it after `kustomize build`
 * (Flux docs, kustomize-controller "Kustomization" API, section "Post build variable substitution",
 * https://fluxcd.io/flux/components/kustomize/kustomizations/#post-build-variable-substitution):
 *
 * - variables come from `spec.postBuild.substituteFrom` (ConfigMaps and Secrets, in list order,
 *   a later one overriding an earlier one; `optional: true` lets a missing one be skipped), then
 *   `spec.postBuild.substitute`, which overrides them all;
 * - each object's YAML is substituted as text: `${var}` → the value (an unset variable becomes
 *   empty), `${var:=default}` / `${var:-default}` → the default when unset, `$${var}` → a literal
 *   `${var}` (the escape);
 * - an object with the annotation or label `kustomize.toolkit.fluxcd.io/substitute: disabled` is
 *   left as it is.
 */
import {parse, stringify} from 'yaml'

/** The annotation (or label) that turns substitution off for one object (kustomize-controller docs). */
export const SUBSTITUTE_ANNOTATION = 'kustomize.toolkit.fluxcd.io/substitute'

/** Variable names Flux accepts in `substitute`/`substituteFrom` keys (kustomize-controller: `^[_[:alpha:]][_[:alpha:][:digit:]]*$`). */
export const VARIABLE_NAME = /^[A-Za-z_]\w*$/

/**
 * Substitutes `${…}` references in `text` (drone/envsubst syntax as Flux uses it: `${var}`,
 * `${var:=default}`, `${var:-default}`, `${var=default}`, `${var-default}`; `$${…}` is the escape
 * and yields `${…}` unsubstituted). Other `$` text is kept.
 * @param vars variable name → value (plain text)
 * @returns the substituted text
 */
export function substituteText(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replaceAll(/\$(\$?)\{([A-Za-z_]\w*)(?:(:?[=-])([^}]*))?\}/g, (whole, escape: string, name: string, op: string | undefined, fallback: string | undefined) => {
    if (escape) return whole.slice(1)
    const value = vars.get(name)
    if (op === undefined) return value ?? ''
    // `:=`/`:-` use the default when unset or empty, `=`/`-` only when unset (bash semantics, drone/envsubst).
    if (op.startsWith(':')) return value === undefined || value === '' ? (fallback ?? '') : value
    return value ?? fallback ?? ''
  })
}

/** True when an object carries `kustomize.toolkit.fluxcd.io/substitute: disabled` as annotation or label. */
export function substitutionDisabled(object: Record<string, unknown>): boolean {
  const metadata = (object.metadata ?? {}) as {annotations?: Record<string, unknown>; labels?: Record<string, unknown>}
  return metadata.annotations?.[SUBSTITUTE_ANNOTATION] === 'disabled' || metadata.labels?.[SUBSTITUTE_ANNOTATION] === 'disabled'
}

/**
 * Substitutes one built object (Flux works on each resource's YAML): serialises it, substitutes
 * the text, parses it back. Objects with substitution disabled, and objects holding no `${`, are
 * returned unchanged.
 * @throws Error when the substituted text no longer parses as YAML (Flux fails the same way)
 */
export function substituteObject(object: Record<string, unknown>, vars: ReadonlyMap<string, string>): Record<string, unknown> {
  if (substitutionDisabled(object)) return object
  const text = stringify(object, {lineWidth: 0})
  if (!text.includes('${')) return object
  return parse(substituteText(text, vars)) as Record<string, unknown>
}
