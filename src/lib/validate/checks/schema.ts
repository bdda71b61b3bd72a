import {lineOfKey} from '../../config/yaml-location.js'
import type {Check} from '../check.js'
import {describeObject} from '../check.js'
import {isRecord, type KubeObject} from '../context.js'
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

      const encrypted = isSopsEncrypted(object.value)
      const data = encrypted ? withoutSopsBlock(object.value) : object.value
      const violations = validateStrict(model.validate, data, encrypted ? isEncryptedValue : undefined)
      for (const v of violations) {
        const field = formatFieldPath(v.path)
        const message = v.keyword === 'unknown' ? `unknown field "${field}" (not in the ${object.apiVersion} ${object.kind} schema)` : `${field}: ${v.message}`
        out.error(rel, where(v.path), `${describeObject(object)}: ${message}`)
      }
    }

    out.findings.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
    return {findings: out.findings}
  },
}

/** True for a document carrying SOPS metadata: a top-level `sops` map with `mac` or `version`. */
function isSopsEncrypted(value: Record<string, unknown>): boolean {
  return isRecord(value.sops) && ('mac' in value.sops || 'version' in value.sops)
}

function withoutSopsBlock(value: Record<string, unknown>): Record<string, unknown> {
  const {sops: _sops, ...rest} = value
  return rest
}

/** A SOPS-encrypted value: `ENC[AES256_GCM,data:…,type:str]`. */
function isEncryptedValue(value: unknown): boolean {
  return typeof value === 'string' && value.startsWith('ENC[') && value.endsWith(']')
}
