import {createRequire} from 'node:module'

/**
 * One error of a model's schema validator, as ajv reports it (`instancePath` is a JSON pointer
 * into the validated object, e.g. `/spec/replicas`; `message` is set by ajv-i18n's English locale).
 */
export interface SchemaError {
  instancePath: string
  keyword: string
  params: Record<string, unknown>
  message?: string
}

/**
 * The schema validator of one apiVersion and kind: returns the errors of `data` against the
 * schema (empty when valid). It reads `data` only through property access, so a Proxy can
 * observe which fields the schema declares (see strict-schema.ts).
 */
export type ModelValidator = (data: object) => SchemaError[]

/** Where the validator of an apiVersion/kind comes from, for messages: the npm package and its module. */
export interface SchemaModel {
  validate: ModelValidator
  /** e.g. `kubernetes-models/apps/v1/Deployment`. */
  module: string
}

/** npm package holding the Flux CD CRD models (source, kustomize, helm, notification, image controllers). */
const FLUX_PACKAGE = '@kubernetes-models/flux-cd'
/** npm package holding the built-in Kubernetes API models (OpenAPI of Kubernetes 1.33 in 4.5.x). */
const KUBERNETES_PACKAGE = 'kubernetes-models'

const cache = new Map<string, Promise<SchemaModel | undefined>>()
const require = createRequire(import.meta.url)

/**
 * The module of the model package that would hold `apiVersion`/`kind`: built-in Kubernetes APIs
 * in `kubernetes-models/<group>/<version>/<Kind>` (the core group as `kubernetes-models/v1/<Kind>`),
 * Flux APIs (`*.toolkit.fluxcd.io`) in `@kubernetes-models/flux-cd/<group>/<version>/<Kind>`.
 * Undefined when apiVersion or kind is not shaped like one (so never a path outside the packages).
 */
export function modelModule(apiVersion: string, kind: string): string | undefined {
  if (!/^[A-Z][A-Za-z0-9]*$/.test(kind)) return undefined
  const match = /^(?:([a-z0-9]+(?:[.-][a-z0-9]+)*)\/)?(v[0-9]+(?:(?:alpha|beta)[0-9]+)?)$/.exec(apiVersion)
  if (!match) return undefined
  const [, group, version] = match
  if (!group) return `${KUBERNETES_PACKAGE}/${version}/${kind}`
  const pkg = group.endsWith('.toolkit.fluxcd.io') ? FLUX_PACKAGE : KUBERNETES_PACKAGE
  return `${pkg}/${group}/${version}/${kind}`
}

/**
 * The schema validator for `apiVersion`/`kind` from the bundled model packages
 * (`kubernetes-models`, `@kubernetes-models/flux-cd`), or undefined when they have none (a CRD
 * such as cloudflared's, a Flux API version newer than the package, a typo in apiVersion).
 * Each kind's module is imported on first use only (importing every model costs seconds) and
 * cached for the process. A model counts only when its class declares exactly this apiVersion
 * and kind (so `v1/Container`, a type that is not an API object, does not).
 * @throws Error when a model module exists but fails to load (a broken install)
 */
export function loadSchemaModel(apiVersion: string, kind: string): Promise<SchemaModel | undefined> {
  const key = `${apiVersion} ${kind}`
  let model = cache.get(key)
  if (!model) {
    model = importModel(apiVersion, kind)
    cache.set(key, model)
  }

  return model
}

async function importModel(apiVersion: string, kind: string): Promise<SchemaModel | undefined> {
  const module = modelModule(apiVersion, kind)
  if (!module) return undefined
  // Whether the package has the module: its exports map the same paths for require (./x/*.js)
  // and import (./x/*.mjs); resolving does not load it.
  try {
    require.resolve(module)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' || code === 'MODULE_NOT_FOUND') return undefined
    throw error
  }

  const exports = (await import(module)) as Record<string, unknown>

  const model = exports[kind]
  if (typeof model !== 'function') return undefined
  const statics = model as unknown as {apiVersion?: unknown; kind?: unknown; prototype?: {validate?: unknown}}
  if (statics.apiVersion !== apiVersion || statics.kind !== kind) return undefined
  const run = statics.prototype?.validate
  if (typeof run !== 'function') return undefined
  return {
    module,
    // The model's validate() runs the package's compiled ajv validator on `this` and throws an
    // ajv ValidationError carrying `errors` when it fails.
    validate(data) {
      try {
        run.call(data)
        return []
      } catch (error) {
        const errors = (error as {errors?: unknown}).errors
        if (!Array.isArray(errors)) throw error
        return errors as SchemaError[]
      }
    },
  }
}
