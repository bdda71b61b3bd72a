import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import {beforeAll, describe, expect, it} from 'vitest'

import {REPO_ROOT} from '../helpers/cli.js'
import {type ManifestCommand, manifestCommands} from '../helpers/manifest.js'

// Issue 17, "one contract" for people: messages name commands as typed (`homelab backup
// restore`, never oclif's `backup:restore`); --help reads as prose (no line break in mid-sentence);
// a global flag is offered only by commands that use it. Table-driven from oclif's config.

let own: ManifestCommand[] = []

beforeAll(async () => {
  own = (await manifestCommands()).filter((c) => c.own && !c.hidden)
}, 120_000)

function tsFiles(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? tsFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []))
}

/** The source file of a command (`app new` → src/commands/app/new.ts, or …/index.ts for a bare topic). */
function commandSource(c: ManifestCommand): string {
  for (const file of [path.join(REPO_ROOT, 'src/commands', `${c.words.join('/')}.ts`), path.join(REPO_ROOT, 'src/commands', ...c.words, 'index.ts')]) {
    try {
      return readFileSync(file, 'utf8')
    } catch {}
  }

  throw new Error(`no source for ${c.id}`)
}

/**
 * The text of every string and template literal in `file` (comments are not literals, so a
 * docstring that says `app:new` to explain oclif's ids is not a message), with its line.
 */
function literals(file: string): Array<{line: number; text: string}> {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
  const out: Array<{line: number; text: string}> = []
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) return // module specifiers such as node:fs
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node))
      out.push({line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1, text: (node as ts.LiteralLikeNode).text})
    ts.forEachChild(node, visit)
  }

  visit(source)
  return out
}

/**
 * Line breaks inside a sentence of `text`: a newline not after . : ! ? ) and not before a list
 * item, an indented line or a `$ command`; list and table lines (indented, `-`, `1.`) may end anywhere.
 */
export function midSentenceBreaks(text: string): string[] {
  const found: string[] = []
  for (const paragraph of text.split(/\n\s*\n/)) {
    const lines = paragraph.split('\n')
    for (let i = 0; i < lines.length - 1; i++) {
      if (/[.:!?)]\s*$/.test(lines[i])) continue
      if (/^\s*([-*•]|\d+[.)]|\$ )|^\s{2,}/.test(lines[i]) || /^\s*([-*•]|\d+[.)]|\$ )|^\s{2,}/.test(lines[i + 1])) continue
      found.push(`…${lines[i].slice(-30)}⏎${lines[i + 1].slice(0, 30)}…`)
    }
  }

  return found
}

describe('messages name commands as people type them', () => {
  it('no string in src/ holds an oclif command id such as backup:restore (words joined by a colon)', () => {
    const topics = new Set(own.filter((c) => c.words.length > 1).map((c) => c.words[0]))
    // `topic:word` for any topic (a typo or a future command too); not `git@host:owner/repo` (an
    // scp-style git URL: after @ or followed by /).
    const pattern = new RegExp(`(?<![@\\w.-])(${[...topics].join('|')}):[a-z][a-z-]*\\b(?![/-])`, 'g')
    const problems: string[] = []
    for (const file of tsFiles(path.join(REPO_ROOT, 'src')))
      for (const {line, text} of literals(file)) {
        for (const match of text.matchAll(pattern)) problems.push(`${path.relative(REPO_ROOT, file)}:${line}: ${match[0]}`)
      }

    expect(topics.size).toBeGreaterThanOrEqual(4)
    expect(problems).toEqual([])
  })

  it('finds such an id when one is there (the check can fail)', () => {
    const pattern = /(?<![@\w.-])(app|backup|host):[a-z][a-z-]*\b(?![/-])/g
    expect([...'run `homelab backup:restore` first'.matchAll(pattern)].map((m) => m[0])).toEqual(['backup:restore'])
    expect([...'https://example.org:8443/app, node:fs, git@host:owner/repo'.matchAll(pattern)]).toEqual([])
  })
})

describe('--help reads as prose', () => {
  it('no line break in mid-sentence in any command\'s description, summary, flag or argument text', () => {
    const problems: string[] = []
    for (const c of own) {
      const texts: Array<[string, string | undefined]> = [
        ['description', c.description],
        ['summary', c.summary],
        ...c.flags.map((f): [string, string | undefined] => [`--${f.name}`, f.description]),
        ...c.flags.map((f): [string, string | undefined] => [`--${f.name} summary`, f.summary]),
      ]
      for (const [where, text] of texts) for (const b of midSentenceBreaks(text ?? '')) problems.push(`homelab ${c.words.join(' ')} ${where}: ${b}`)
      if (c.summary?.includes('\n')) problems.push(`homelab ${c.words.join(' ')}: the summary is more than one line`)
    }

    expect(problems).toEqual([])
  })

  it('midSentenceBreaks finds a hard-wrapped sentence and lets paragraphs, lists and tables be', () => {
    expect(midSentenceBreaks('Fills DIR with a homelab that\npasses validate.')).toHaveLength(1)
    expect(midSentenceBreaks('One sentence.\nAnother.\n\nA paragraph\n\nsteps:\n  1. one\n  2. two')).toEqual([])
  })
})

describe('global flags only where they do something', () => {
  it('--repo is offered only by commands that read it, and the connection flags only by commands that connect', () => {
    const problems: string[] = []
    for (const c of own) {
      const source = commandSource(c)
      const has = (name: string) => c.flags.some((f) => f.name === name)
      if (has('repo') && !/flags\.repo\b|flags\['repo'\]/.test(source)) problems.push(`homelab ${c.words.join(' ')} offers --repo but never reads it (set static baseFlags = {})`)
      if (!has('repo') && /flags\.repo\b/.test(source)) problems.push(`homelab ${c.words.join(' ')} reads --repo but does not offer it`)
      if (has('accept-new-host-key') && !/hostConnectionOptions\(|connectionSettings\(/.test(source)) problems.push(`homelab ${c.words.join(' ')} offers the connection flags but opens no connection with them`)
    }

    expect(problems).toEqual([])
    expect(own.find((c) => c.id === 'init')?.flags.map((f) => f.name)).not.toContain('repo')
    expect(own.find((c) => c.id === 'status')?.flags.map((f) => f.name)).toContain('repo')
  })
})
