import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {isMap, isScalar, isSeq, parseDocument, Scalar, type Document, type YAMLMap, type YAMLSeq} from 'yaml'

import {ConfigError} from '../errors.js'
import {renderTemplate} from '../templates/render.js'
import type {AppSpec} from '../app/spec.js'

/** The template files of `templates/app/` (see templates/app/README.md). */
export const APP_TEMPLATE_FILES = [
  'kustomization.yaml',
  'namespace.yaml',
  'deployment.yaml',
  'statefulset.yaml',
  'service.yaml',
  'pvc.yaml',
  'secret.yaml',
  'persistent-volume.yaml',
  'ingress-rule.yaml',
] as const
export type AppTemplateFile = (typeof APP_TEMPLATE_FILES)[number]

/** The app templates bundled with the CLI (the `templates/app/` folder of its package). */
export const BUNDLED_APP_TEMPLATES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../templates/app')

/**
 * The folder of app templates for a homelab: its own `templates/app/` when it has one (its house
 * style), else the CLI's bundled copy.
 */
export function appTemplatesDir(repoRoot: string): string {
  const own = path.join(repoRoot, 'templates', 'app')
  return existsSync(path.join(own, 'deployment.yaml')) ? own : BUNDLED_APP_TEMPLATES
}

/** Loads every app template as text. @throws ConfigError naming a missing template file. */
export async function loadAppTemplates(dir: string): Promise<Record<AppTemplateFile, string>> {
  const out = {} as Record<AppTemplateFile, string>
  for (const name of APP_TEMPLATE_FILES) {
    try {
      out[name] = await fs.readFile(path.join(dir, name), 'utf8')
    } catch {
      throw new ConfigError(`${path.join(dir, name)}: app template missing`, {suggestions: [`restore it from the homelab CLI's templates/app/`]})
    }
  }

  return out
}

/** The placeholder values of an app (documented in templates/app/README.md). */
export function appPlaceholders(spec: AppSpec, storageRoot: string): Record<string, string> {
  return {
    claimName: `${spec.name}-data`,
    gid: String(spec.gid),
    hostPath: path.posix.join(storageRoot, spec.name),
    hostname: spec.hostname ?? '',
    image: spec.image,
    kind: spec.kind === 'statefulset' ? 'StatefulSet' : 'Deployment',
    mount: spec.mount,
    name: spec.name,
    namespace: spec.namespace,
    node: spec.node ?? '',
    port: String(spec.port ?? 0),
    runAsGroup: String(spec.root ? 0 : spec.gid),
    runAsNonRoot: String(!spec.root),
    runAsUser: String(spec.root ? 0 : spec.uid),
    secretName: `${spec.name}-secrets`,
    size: spec.storage ?? '0',
    uid: String(spec.uid),
    volumeName: `${spec.name}-data`,
    workloadFile: `${spec.kind}.yaml`,
  }
}

/**
 * The sections of an app (documented in templates/app/README.md): `{{#volume}}` … `{{/volume}}`
 * keeps its lines only when the app has a volume, `{{^volume}}` … `{{/volume}}` only when it has
 * none; likewise `port`, `hostname` and `secret`.
 */
export function appSections(spec: AppSpec): Record<string, boolean> {
  return {hostname: spec.hostname !== undefined, port: spec.port !== undefined, secret: spec.secretKeys.length > 0, volume: spec.storage !== undefined}
}

/** A section marker: a line holding only `{{#name}}`, `{{^name}}` or `{{/name}}`, bare or as a YAML comment (`# {{#volume}}`). */
const SECTION_LINE = /^\s*(?:#\s*)?\{\{\s*([#^/])\s*([a-zA-Z][a-zA-Z0-9_]*)\s*\}\}\s*$/
/** Any section marker, to refuse one that is not on a line of its own. */
const SECTION_ANYWHERE = /\{\{\s*[#^/]/

/**
 * Keeps or drops the lines between section markers (mustache-style, line-based; sections may
 * nest): `{{#name}}` keeps its lines when `sections[name]` is true, `{{^name}}` when it is false,
 * `{{/name}}` closes. The marker lines themselves are always dropped; placeholders are left for
 * renderTemplate.
 * @param source the template's path, named in errors
 * @throws ConfigError naming the file and line of an unknown, unclosed, mismatched or inline marker
 */
export function renderSections(text: string, sections: Readonly<Record<string, boolean>>, source: string): string {
  const out: string[] = []
  const open: {name: string; sigil: string; keep: boolean; line: number}[] = []
  const lines = text.split('\n')
  for (const [i, line] of lines.entries()) {
    const m = SECTION_LINE.exec(line)
    if (!m) {
      if (SECTION_ANYWHERE.test(line)) throw new ConfigError(`${source}:${i + 1}: a section marker must be on a line of its own`)
      if (open.every((s) => s.keep)) out.push(line)
      continue
    }

    const [, sigil, name] = m
    if (sigil === '/') {
      const top = open.pop()
      if (top?.name !== name) throw new ConfigError(`${source}:${i + 1}: {{/${name}}} closes ${top ? `{{${top.sigil}${top.name}}} of line ${top.line}` : 'no section'}`)
      continue
    }

    if (!(name in sections))
      throw new ConfigError(`${source}:${i + 1}: unknown section {{${sigil}${name}}}`, {suggestions: [`known sections: ${Object.keys(sections).sort().join(', ')}`]})
    open.push({keep: sigil === '#' ? sections[name] : !sections[name], line: i + 1, name, sigil})
  }

  if (open.length > 0) throw new ConfigError(`${source}:${open[0].line}: section {{${open[0].name}}} is never closed ({{/${open[0].name}}})`)
  return out.join('\n')
}

/** The files of a new app's folder (name → text), plus the rendered pieces for the shared files. */
export interface RenderedApp {
  /** File name in the app folder → content; `secret.yaml` is the PLAINTEXT Secret skeleton named `secret.sops.yaml` after encryption. */
  files: Map<string, string>
  /** The PersistentVolume document for persistent-volumes.yaml (undefined without storage). */
  persistentVolume?: string
  /** The ingress rule lines (undefined without hostname). */
  ingressRule?: string[]
  /** The plaintext Secret with `stringData` holding `values` (only when the spec has secret keys and values are given). */
  secretPlaintext?: string
}

/** Stringify options that keep the templates' own flow style (`["ALL"]`, not `[ "ALL" ]`). */
const TO_STRING = {flowCollectionPadding: false} as const

function parseRendered(text: string, source: string): Document {
  const doc = parseDocument(text)
  if (doc.errors.length > 0) throw new ConfigError(`${source}: rendered template is not YAML: ${doc.errors[0].message.split('\n')[0]}`)
  return doc
}

/**
 * The container's `env` list with every value a double-quoted string: `value: "yes"`, never a
 * plain `yes`, `on`, `0755`, `1.0`, `null` or `2024-01-01`, which YAML 1.1 parsers (go-yaml v2,
 * older kubectl) read as a boolean, number, null or timestamp and the API server then refuses
 * (core/v1 EnvVar.value is a string).
 */
function envNode(doc: Document, env: readonly {name: string; value: string}[]): YAMLSeq {
  const seq = doc.createNode(env.map((e) => ({name: e.name, value: e.value}))) as YAMLSeq<YAMLMap>
  for (const item of seq.items) {
    const value = item.get('value', true)
    if (isScalar(value)) value.type = Scalar.QUOTE_DOUBLE
  }

  return seq
}

/** Drops the items of the seq at `path` whose `match` is true; drops the key when the list ends up empty. */
function dropItems(doc: Document, seqPath: (string | number)[], match: (item: unknown) => boolean): void {
  const seq = doc.getIn(seqPath, true) as YAMLSeq | undefined
  if (!isSeq(seq)) return
  seq.items = seq.items.filter((item) => !match(isMap(item) || isSeq(item) ? item.toJSON() : isScalar(item) ? item.value : item))
  if (seq.items.length === 0) doc.deleteIn(seqPath)
}

/**
 * Renders the app folder from the templates and removes the optional parts the app does not use:
 * without a port the container's `ports` and `readinessProbe` and the Service; without storage the
 * volume `data` (and its volumeMount) and pvc.yaml; without secrets the `envFrom` secretRef and
 * the Secret; `env` gets the `--env` pairs (or goes). The folder's kustomization lists only the
 * files written.
 * @param secretValues the secret values by key (omit for a dry run: the Secret is then not rendered)
 * @throws ConfigError naming a template that does not render to YAML or lacks a placeholder value
 */
export function renderApp(
  templates: Record<AppTemplateFile, string>,
  spec: AppSpec,
  storageRoot: string,
  options: {includeNamespace: boolean; secretValues?: ReadonlyMap<string, string>; templatesDir: string},
): RenderedApp {
  const values = appPlaceholders(spec, storageRoot)
  const sections = appSections(spec)
  const render = (name: AppTemplateFile) => {
    const source = path.join(options.templatesDir, name)
    return renderTemplate(renderSections(templates[name], sections, source), values, source)
  }
  const files = new Map<string, string>()
  const workloadFile = `${spec.kind}.yaml`
  const hasSecret = spec.secretKeys.length > 0

  // Workload.
  const workload = parseRendered(render(spec.kind === 'statefulset' ? 'statefulset.yaml' : 'deployment.yaml'), workloadFile)
  const container = ['spec', 'template', 'spec', 'containers', 0]
  if (spec.port === undefined) {
    workload.deleteIn([...container, 'ports'])
    workload.deleteIn([...container, 'readinessProbe'])
  }

  if (spec.env.length === 0) workload.deleteIn([...container, 'env'])
  else workload.setIn([...container, 'env'], envNode(workload, spec.env))
  if (!hasSecret) dropItems(workload, [...container, 'envFrom'], (item) => Boolean((item as {secretRef?: unknown})?.secretRef))
  if (spec.storage === undefined) {
    dropItems(workload, [...container, 'volumeMounts'], (item) => (item as {name?: string})?.name === 'data')
    dropItems(workload, ['spec', 'template', 'spec', 'volumes'], (item) => (item as {name?: string})?.name === 'data')
  }

  // Folder kustomization: only the files written.
  const written = new Set<string>([workloadFile])
  if (options.includeNamespace) written.add('namespace.yaml')
  if (spec.port !== undefined) written.add('service.yaml')
  if (spec.storage !== undefined) written.add('pvc.yaml')
  if (hasSecret) written.add('secret.sops.yaml')
  const kustomization = parseRendered(render('kustomization.yaml'), 'kustomization.yaml')
  dropItems(kustomization, ['resources'], (item) => typeof item === 'string' && !written.has(item))
  const listed = (kustomization.toJS() as {resources?: string[]}).resources ?? []
  for (const file of written)
    if (!listed.includes(file)) throw new ConfigError(`${path.join(options.templatesDir, 'kustomization.yaml')}: resources must list ${file}`)

  files.set('kustomization.yaml', kustomization.toString(TO_STRING))
  if (options.includeNamespace) files.set('namespace.yaml', checkYaml(render('namespace.yaml'), 'namespace.yaml'))
  files.set(workloadFile, workload.toString(TO_STRING))
  if (spec.port !== undefined) files.set('service.yaml', checkYaml(render('service.yaml'), 'service.yaml'))
  if (spec.storage !== undefined) files.set('pvc.yaml', checkYaml(render('pvc.yaml'), 'pvc.yaml'))

  const result: RenderedApp = {files}
  if (spec.storage !== undefined) result.persistentVolume = checkYaml(render('persistent-volume.yaml'), 'persistent-volume.yaml')
  if (spec.hostname !== undefined) {
    const rule = checkYaml(render('ingress-rule.yaml'), 'ingress-rule.yaml')
    result.ingressRule = rule.replace(/\n+$/, '').split('\n')
  }

  if (hasSecret && options.secretValues) {
    const secret = parseRendered(render('secret.yaml'), 'secret.yaml')
    const data = secret.createNode(Object.fromEntries(spec.secretKeys.map((k) => [k, options.secretValues!.get(k) ?? '']))) as YAMLMap
    secret.set('stringData', data)
    result.secretPlaintext = secret.toString(TO_STRING)
  }

  return result
}

function checkYaml(text: string, name: string): string {
  parseRendered(text, name)
  return text
}
