import {lineOfKey} from '../../config/yaml-location.js'
import {looksEncrypted} from '../../sops/cipher.js'
import {metadataOfDocument} from '../../sops/metadata.js'
import type {Check} from '../check.js'
import {describeObject} from '../check.js'
import {type KubeObject} from '../context.js'
import {FindingList} from '../finding.js'
import {loadSchemaModel} from '../schema-models.js'
import {formatFieldPath, validateStrict} from '../strict-schema.js'

/**
 * Check 8: every Kubernetes and Flux object validates against the schema of its apiVersion and
 * kind, strictly (an undeclared field is an error, as with `kubeconform -strict` or the API
 * server's strict field validation), offline. Schemas: `kubernetes-models` (the built-in
 * Kubernetes APIs) and `@kubernetes-models/flux-cd` (Flux's CRDs), see schema-models.ts.
 *
 * - An object whose apiVersion/kind those packages do not cover (a CRD, an unknown apiVersion)
 *   is an info finding, "not checked", never passed silently.
 * - A SOPS-encrypted object's top-level `sops:` block is not judged (kustomize-controller removes it
 *   before applying), nor are its `ENC[...]` values (their type is the plaintext's).
 * - kustomize's own `kustomization.yaml` files are not cluster objects and are not read here (they
 *   are not among the context's objects); the kustomize check builds them with `kubectl kustomize`,
 *   which rejects their unknown fields.
 * - Objects without a string apiVersion or kind are left to the yaml check, which reports them.
 */
export const schemaCheck: Check = {
  id: 'schema',
  title: 'every Kubernetes and Flux object matches its API schema, no unknown fields',
  async run(context) {
    const out = new FindingList('schema')
    const objects = context.objects.filter((o): o is KubeObject & {apiVersion: string; kind: string} => o.apiVersion !== undefined && o.kind !== undefined)
    const models = await Promise.all(objects.map((o) => loadSchemaModel(o.apiVersion, o.kind)))
    for (const [i, object] of objects.entries()) {
      const model = models[i]
      const rel = object.file.rel
      const where = (path: ReadonlyArray<string | number>) => lineOfKey(object.doc, object.file.lineCounter, path)
      if (!model) {
        out.info(rel, where([]), `${describeObject(object)}: not checked: no schema for apiVersion ${object.apiVersion} kind ${object.kind} (a CRD or an API the bundled models do not cover)`)
        continue
      }

      const encrypted = metadataOfDocument(object.doc, 'yaml') !== undefined
      const data = encrypted ? withoutSopsBlock(object.value) : object.value
      const ignore = encrypted ? isEncryptedValue : undefined
      const violations = validateStrict(model.validate, data, ignore)
      const flux = isFluxApi(object.apiVersion)
      for (const v of violations) {
        const field = formatFieldPath(v.path)
        const at = where(v.path)
        const what = describeObject(object)
        if (v.keyword !== 'unknown') {
          out.error(rel, at, `${what}: ${field}: ${v.message}`)
        } else if (!flux) {
          out.error(rel, at, `${what}: unknown field "${field}" (not in the ${object.apiVersion} ${object.kind} schema)`)
        } else {
          // The Flux models are Flux 2.3's: a field of another version of this kind is surely
          // misplaced (an error); a field no bundled version has may be a newer Flux's (a warning).
          const other = await otherFluxVersionDeclaring(object.apiVersion, object.kind, data, v.path, ignore)
          if (other) out.error(rel, at, `${what}: unknown field "${field}" in ${object.apiVersion}: it is a field of ${other} ${object.kind}`)
          else
            out.warning(rel, at, `${what}: unknown field "${field}" (not in the ${object.apiVersion} ${object.kind} schema of ${FLUX_SCHEMA_RELEASE}: a typo, or a field of a newer Flux)`)
        }
      }
    }

    out.findings.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
    return {findings: out.findings}
  },
}

/** The Flux release whose CRDs `@kubernetes-models/flux-cd` 2.3.x carries (the newest line for Node 20). */
const FLUX_SCHEMA_RELEASE = 'Flux 2.3'
/** Versions of the Flux APIs the bundled models carry, newest first. */
const FLUX_VERSIONS = ['v1', 'v1beta2', 'v1beta1', 'v2beta2', 'v2beta1']

function isFluxApi(apiVersion: string): boolean {
  return /^[a-z.]+\.toolkit\.fluxcd\.io\//.test(apiVersion)
}

/**
 * The other apiVersion of the same Flux group and kind whose schema declares the field at `path`
 * of `data` (e.g. `kustomize.toolkit.fluxcd.io/v1beta2` for a v1 Kustomization's `spec.validation`),
 * or undefined when no other bundled version has it.
 */
async function otherFluxVersionDeclaring(apiVersion: string, kind: string, data: Record<string, unknown>, path: ReadonlyArray<string | number>, ignore?: (value: unknown) => boolean): Promise<string | undefined> {
  const [group, version] = apiVersion.split('/')
  for (const candidate of FLUX_VERSIONS) {
    if (candidate === version) continue
    const model = await loadSchemaModel(`${group}/${candidate}`, kind)
    if (!model) continue
    const unknown = validateStrict(model.validate, data, ignore).filter((v) => v.keyword === 'unknown')
    // Declared there when no unknown-field violation sits at the path or above it.
    const hidden = unknown.some((v) => v.path.length <= path.length && v.path.every((part, i) => part === path[i]))
    if (!hidden) return `${group}/${candidate}`
  }

  return undefined
}

function withoutSopsBlock(value: Record<string, unknown>): Record<string, unknown> {
  const {sops: _sops, ...rest} = value
  return rest
}

/** A SOPS-encrypted value: `ENC[AES256_GCM,data:…,type:str]`. */
function isEncryptedValue(value: unknown): boolean {
  return typeof value === 'string' && looksEncrypted(value)
}
