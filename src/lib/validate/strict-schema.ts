import type {ModelValidator, SchemaError} from './schema-models.js'

/** A path into an object: map keys and list indices, e.g. `['spec', 'containers', 0, 'ports']`. */
export type FieldPath = Array<string | number>

/** One way an object breaks its schema. */
export interface SchemaViolation {
  /** Where: the offending field (unknown field, wrong type…), or the object missing a required field. */
  path: FieldPath
  /** What, without the path: `unknown field`, `must be integer (got string "two")`, `missing required field "containerPort"`. */
  message: string
  /** The ajv keyword (`type`, `required`, `enum`, `format`…), or `unknown` for a field the schema does not declare. */
  keyword: string
}

/** What one object node of the data had read from it while the validator ran. */
interface NodeReads {
  keys: Set<string>
  /** The validator listed the node's keys (additionalProperties/patternProperties: any key is allowed). */
  enumerated: boolean
}

/**
 * Validates `data` (plain JSON-like data, e.g. a YAML document's `toJS()`) with a model's schema
 * validator, strictly: besides the schema's own errors, every field the schema does not declare
 * is a violation, as `kubeconform -strict` and the API server's strict field validation do.
 *
 * The model packages ship compiled ajv validators, not their JSON schemas, and the Kubernetes
 * OpenAPI schemas leave additionalProperties open. So the declared fields are observed instead:
 * the data is wrapped in Proxies while the validator runs, and an ajv `properties` validator reads
 * every declared property of the object it checks (`data.foo === undefined || …`). A key of an
 * object node is unknown when the validator read declared properties of that node but never that
 * key. A node whose keys the validator enumerated (a map schema such as labels) accepts any key; a
 * node it read nothing from (a free-form object such as a HelmRelease's values) is not judged.
 * Below an unknown field nothing is reported.
 *
 * `ignoreValue(value)` true drops the schema errors about that value (used for SOPS `ENC[...]`
 * strings, whose type and format are the plaintext's).
 * Violations are sorted by path; never throws for invalid data.
 */
export function validateStrict(validate: ModelValidator, data: object, ignoreValue: (value: unknown) => boolean = () => false): SchemaViolation[] {
  const reads = new Map<object, NodeReads>()
  const proxies = new WeakMap<object, object>()
  const wrap = (target: object): object => {
    let proxy = proxies.get(target)
    if (proxy) return proxy
    const node: NodeReads = {enumerated: false, keys: new Set()}
    reads.set(target, node)
    proxy = new Proxy(target, {
      get(obj, key, receiver) {
        const value: unknown = Reflect.get(obj, key, receiver)
        if (typeof key !== 'string') return value
        node.keys.add(key)
        return typeof value === 'object' && value !== null && Object.hasOwn(obj, key) ? wrap(value) : value
      },
      getOwnPropertyDescriptor(obj, key) {
        if (typeof key === 'string') node.keys.add(key)
        return Reflect.getOwnPropertyDescriptor(obj, key)
      },
      has(obj, key) {
        if (typeof key === 'string') node.keys.add(key)
        return Reflect.has(obj, key)
      },
      ownKeys(obj) {
        node.enumerated = true
        return Reflect.ownKeys(obj)
      },
    })
    proxies.set(target, proxy)
    return proxy
  }

  const violations: SchemaViolation[] = []
  const seen = new Set<string>()
  for (const error of collapseAlternatives(validate(wrap(data)))) {
    const path = pointerToPath(data, error.instancePath)
    if (ignoreValue(valueAt(data, path))) continue
    const message = describeError(error, valueAt(data, path))
    const key = `${JSON.stringify(path)} ${message}`
    if (seen.has(key)) continue
    seen.add(key)
    violations.push({keyword: error.keyword, message, path})
  }

  const walk = (value: unknown, path: FieldPath): void => {
    if (typeof value !== 'object' || value === null) return
    if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) walk(item, [...path, index])
      return
    }

    const node = reads.get(value)
    if (!node) return
    const strict = !node.enumerated && node.keys.size > 0
    for (const [key, child] of Object.entries(value)) {
      if (strict && !node.keys.has(key)) violations.push({keyword: 'unknown', message: 'unknown field', path: [...path, key]})
      else walk(child, [...path, key])
    }
  }

  walk(data, [])
  return violations.sort((a, b) => comparePaths(a.path, b.path))
}

/**
 * Formats a field path the way kubectl's strict field validation names fields:
 * `spec.template.spec.containers[0].ports[0].contianerPort`; keys that are not plain identifiers
 * are bracketed (`metadata.annotations["checksum/config"]`); `(top level)` for the empty path.
 */
export function formatFieldPath(path: FieldPath): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else if (/^[A-Za-z_$][\w$-]*$/.test(part)) out += out ? `.${part}` : part
    else out += `[${JSON.stringify(part)}]`
  }

  return out || '(top level)'
}

/**
 * A value failing a `oneOf`/`anyOf` of types (IntOrString: string or integer) gets one type error
 * per alternative plus the oneOf error; this makes them one `type` error listing the alternatives.
 */
function collapseAlternatives(errors: SchemaError[]): SchemaError[] {
  const alternatives = new Set(errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf').map((e) => e.instancePath))
  const out: SchemaError[] = []
  const merged = new Map<string, SchemaError>()
  for (const error of errors) {
    if (!alternatives.has(error.instancePath)) out.push(error)
    else if (error.keyword === 'type') {
      const previous = merged.get(error.instancePath)
      if (previous) previous.params = {type: `${String(previous.params.type)} or ${String(error.params.type)}`}
      else {
        const copy = {...error, params: {...error.params}}
        merged.set(error.instancePath, copy)
        out.push(copy)
      }
    }
  }

  for (const error of errors) if ((error.keyword === 'oneOf' || error.keyword === 'anyOf') && !merged.has(error.instancePath)) out.push(error)
  return out
}

/** The value at `path` in `data` (undefined when absent). */
function valueAt(data: unknown, path: FieldPath): unknown {
  let value = data
  for (const part of path) {
    if (typeof value !== 'object' || value === null) return undefined
    value = (value as Record<string | number, unknown>)[part]
  }

  return value
}

/** A JSON pointer (`/spec/containers/0`) as a path, list indices as numbers where the data holds a list. */
function pointerToPath(data: unknown, pointer: string): FieldPath {
  if (!pointer) return []
  const path: FieldPath = []
  let value = data
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~')
    const part = Array.isArray(value) && /^\d+$/.test(key) ? Number(key) : key
    path.push(part)
    value = typeof value === 'object' && value !== null ? (value as Record<string | number, unknown>)[part] : undefined
  }

  return path
}

/** One schema error in words, with the offending value where it helps. */
function describeError(error: SchemaError, value: unknown): string {
  const params = error.params
  switch (error.keyword) {
    case 'required': {
      return `missing required field "${String(params.missingProperty)}"`
    }

    case 'type': {
      return `must be ${String(params.type)} (got ${describeValue(value)})`
    }

    case 'enum': {
      const allowed = Array.isArray(params.allowedValues) ? params.allowedValues.map((v) => JSON.stringify(v)).join(', ') : ''
      return `must be one of ${allowed} (got ${describeValue(value)})`
    }

    case 'format': {
      return `must be a valid ${String(params.format)} (got ${describeValue(value)})`
    }

    default: {
      return error.message ?? `fails the schema's ${error.keyword}`
    }
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a map'
  const text = JSON.stringify(value)
  return `${typeof value} ${text.length > 40 ? `${text.slice(0, 37)}...` : text}`
}

function comparePaths(a: FieldPath, b: FieldPath): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] === b[i]) continue
    if (typeof a[i] === 'number' && typeof b[i] === 'number') return (a[i] as number) - (b[i] as number)
    return String(a[i]).localeCompare(String(b[i]))
  }

  return a.length - b.length
}
