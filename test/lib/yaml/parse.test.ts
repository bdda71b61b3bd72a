import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {Scalar} from 'yaml'

import {readAppFolder} from '../../../src/lib/app/read-app.js'
import {parseYamlWithSchema} from '../../../src/lib/config/load.js'
import {homelabConfigSchema} from '../../../src/lib/config/schema.js'
import {parseYamlFile} from '../../../src/lib/validate/context.js'

/** Counts reads of Scalar#value while `task` runs (what yaml's duplicate-key scan compares). */
function countValueReads(task: () => void): number {
  let reads = 0
  const store = new WeakMap<object, unknown>()
  Object.defineProperty(Scalar.prototype, 'value', {
    configurable: true,
    get(this: object) {
      reads++
      return store.get(this)
    },
    set(this: object, v: unknown) {
      store.set(this, v)
    },
  })
  try {
    task()
  } finally {
    delete (Scalar.prototype as {value?: unknown}).value
  }

  return reads
}

const bigMap = (keys: number) => ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: big', 'data:', ...Array.from({length: keys}, (_, i) => `  key${i}: "v${i}"`)].join('\n') + '\n'

describe('YAML parsing cost', () => {
  it('parses a map of N keys with O(N) key comparisons, not one scan of the earlier keys per key', () => {
    const keys = 4000
    const reads = countValueReads(() => parseYamlFile('big.yaml', bigMap(keys)))
    // yaml's own duplicate-key check reads ~N²/2 = 8 000 000 values here.
    expect(reads).toBeLessThan(10 * keys)
  })

  it('still reports a duplicate key at the second key, in a block and in a flow map', () => {
    const file = parseYamlFile('dup.yaml', 'a: 1\nb:\n  c: 1\n  c: 2\nd: {x: 1, x: 2}\n')
    expect(file.syntaxErrors).toEqual([
      {line: 4, message: 'Map keys must be unique'},
      {line: 5, message: 'Map keys must be unique'},
    ])
  })
})

const BOMB = ['a: &a [x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]', 'e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]', ''].join('\n')

describe('an alias bomb', () => {
  it('is a validate syntax error naming the line of the first alias', () => {
    expect(parseYamlFile('bomb.yaml', BOMB).syntaxErrors).toEqual([{line: 2, message: expect.stringMatching(/^too many YAML aliases/)}])
  })

  it('is one line naming the file and line when homelab.yaml holds it', () => {
    expect(() => parseYamlWithSchema(BOMB, 'homelab.yaml', homelabConfigSchema)).toThrow(/^homelab\.yaml:2: too many YAML aliases/)
  })

  it('is one line naming the file and line when an app folder holds it', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'homelab-bomb-'))
    const {mkdirSync} = await import('node:fs')
    mkdirSync(path.join(root, 'apps/x'), {recursive: true})
    writeFileSync(path.join(root, 'apps/x/bomb.yaml'), BOMB)
    await expect(readAppFolder(root, 'apps/x')).rejects.toThrow(/^apps\/x\/bomb\.yaml:2: too many YAML aliases/)
  })
})
