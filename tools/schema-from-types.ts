// Drafts a JSON Schema (draft 2020-12) for a command's --json output from the TypeScript type its
// run() returns (compiler API), so a new command's schema starts from its real type:
//   npx tsx tools/schema-from-types.ts 'app new' > schemas/app-new.schema.json
// With no argument it drafts every command with `enableJsonFlag` that has no schema yet. The
// drafts are then read and committed by hand (descriptions, tighter strings); the files in
// schemas/ are the contract, test/contract/json-schemas.test.ts checks real outputs against them.
import {existsSync, readdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import ts from 'typescript'

const root = path.resolve(import.meta.dirname, '..')

type Schema = Record<string, unknown>

/** Command files of src/commands as [id, file]. */
function commandFiles(dir = path.join(root, 'src/commands'), prefix: string[] = []): Array<[string, string]> {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e): Array<[string, string]> => {
    if (e.isDirectory()) return commandFiles(path.join(dir, e.name), [...prefix, e.name])
    if (!e.name.endsWith('.ts')) return []
    const name = e.name.slice(0, -3)
    return [[(name === 'index' ? prefix : [...prefix, name]).join(' '), path.join(dir, e.name)]]
  })
}

const files = commandFiles()
const program = ts.createProgram(
  files.map(([, f]) => f),
  {module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, target: ts.ScriptTarget.ES2022},
)
const checker = program.getTypeChecker()

function toSchema(type: ts.Type, depth = 0): Schema {
  if (depth > 12) return {}
  const f = type.flags
  if (f & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return {}
  if (f & ts.TypeFlags.StringLiteral) return {const: (type as ts.StringLiteralType).value}
  if (f & ts.TypeFlags.NumberLiteral) return {const: (type as ts.NumberLiteralType).value}
  if (f & ts.TypeFlags.BooleanLiteral) return {const: checker.typeToString(type) === 'true'}
  if (f & ts.TypeFlags.String || f & ts.TypeFlags.TemplateLiteral) return {type: 'string'}
  if (f & ts.TypeFlags.Number) return {type: 'number'}
  if (f & ts.TypeFlags.Boolean) return {type: 'boolean'}
  if (f & ts.TypeFlags.Null) return {type: 'null'}
  if (type.isUnion()) {
    const members = type.types.filter((t) => !(t.flags & ts.TypeFlags.Undefined))
    const literals = members.filter((t) => t.flags & (ts.TypeFlags.StringLiteral | ts.TypeFlags.NumberLiteral))
    const bools = members.filter((t) => t.flags & ts.TypeFlags.BooleanLiteral)
    const rest = members.filter((t) => !literals.includes(t) && !bools.includes(t))
    const parts: Schema[] = []
    if (literals.length > 0) parts.push({enum: literals.map((t) => (t as ts.LiteralType).value)})
    if (bools.length === 2) parts.push({type: 'boolean'})
    else if (bools.length === 1) parts.push(toSchema(bools[0], depth + 1))
    for (const t of rest) parts.push(toSchema(t, depth + 1))
    if (parts.length === 1) return parts[0]
    const simple = parts.every((p) => Object.keys(p).length === 1 && typeof p.type === 'string')
    if (simple) return {type: parts.map((p) => p.type)}
    return {anyOf: parts}
  }

  const symbolName = type.getSymbol()?.getName()
  if (symbolName === 'Date') return {type: 'string'}
  if (checker.isArrayType(type)) return {items: toSchema(checker.getTypeArguments(type as ts.TypeReference)[0], depth + 1), type: 'array'}
  if (checker.isTupleType(type)) return {items: false, prefixItems: checker.getTypeArguments(type as ts.TypeReference).map((t) => toSchema(t, depth + 1)), type: 'array'}
  if (f & ts.TypeFlags.Object || type.isIntersection()) {
    const properties: Record<string, Schema> = {}
    const required: string[] = []
    for (const prop of checker.getPropertiesOfType(type)) {
      const decl = prop.valueDeclaration ?? prop.declarations?.[0]
      const propType = decl ? checker.getTypeOfSymbolAtLocation(prop, decl) : checker.getTypeOfSymbol(prop)
      if (propType.getCallSignatures().length > 0) continue
      const optional = (prop.flags & ts.SymbolFlags.Optional) !== 0 || (propType.isUnion() && propType.types.some((t) => t.flags & ts.TypeFlags.Undefined))
      properties[prop.getName()] = toSchema(propType, depth + 1)
      if (!optional) required.push(prop.getName())
    }

    const index = checker.getIndexInfosOfType(type)[0]
    const schema: Schema = {type: 'object', properties, required, additionalProperties: index ? toSchema(index.type, depth + 1) : false}
    if (Object.keys(properties).length === 0) delete schema.properties
    if (required.length === 0) delete schema.required
    return schema
  }

  return {}
}

function draft(id: string, file: string): Schema | undefined {
  const source = program.getSourceFile(file)!
  let result: Schema | undefined
  let json = false
  const visit = (node: ts.Node) => {
    if (ts.isPropertyDeclaration(node) && node.name.getText() === 'enableJsonFlag' && node.initializer?.getText() === 'true') json = true
    if (ts.isMethodDeclaration(node) && node.name.getText() === 'run') {
      const signature = checker.getSignatureFromDeclaration(node)!
      let returned = checker.getReturnTypeOfSignature(signature)
      const awaited = checker.getAwaitedType(returned)
      if (awaited) returned = awaited
      result = toSchema(returned)
    }

    ts.forEachChild(node, visit)
  }

  visit(source)
  if (!json || !result) return undefined
  const withVersion = (s: Schema): Schema =>
    s.type === 'object'
      ? {...s, properties: {...(s.properties as object), schemaVersion: {const: 1}}, required: ['schemaVersion', ...((s.required as string[]) ?? []).filter((r) => r !== 'schemaVersion')]}
      : s.anyOf
        ? {...s, anyOf: (s.anyOf as Schema[]).map(withVersion)}
        : s
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `urn:homelab:schemas:${id.replaceAll(' ', '-')}`,
    title: `homelab ${id} --json`,
    ...withVersion(result),
  }
}

const wanted = process.argv[2]
for (const [id, file] of files) {
  if (wanted && id !== wanted) continue
  const target = path.join(root, 'schemas', `${id.replaceAll(' ', '-')}.schema.json`)
  if (!wanted && existsSync(target)) continue
  const schema = draft(id, file)
  if (!schema) continue
  const text = `${JSON.stringify(schema, null, 2)}\n`
  if (wanted) process.stdout.write(text)
  else writeFileSync(target, text)
}
