// Start-up fast paths of bin/run.js for `homelab --version` and the root help (`homelab`,
// `homelab --help`): they print what oclif would print, from package.json and
// the oclif manifests, without loading @oclif/core (whose import alone costs about as much as
// starting node). Anything unusual (no manifest, a plugin without one, a summary that oclif
// would lay out differently) returns false and oclif handles the call as usual.
// Layout source: @oclif/core 4 lib/help/{index,root,formatter}.js and lib/screen.js.
import {readFileSync} from 'node:fs'
import path from 'node:path'

/**
 * Handles `argv` when it is a fast path; returns true when it printed the answer.
 * @param {string} root the CLI's package root (holds package.json and oclif.manifest.json)
 * @param {string[]} argv process.argv.slice(2)
 */
export function tryFastPath(root, argv) {
  try {
    if (argv.length === 1 && argv[0] === '--version') return printVersion(root)
    if (argv.length === 0 || (argv.length === 1 && argv[0] === '--help')) return printRootHelp(root)
  } catch {
    // fall through to oclif, which reports problems properly
  }

  return false
}

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'))
}

function userAgent(pjson) {
  const bin = pjson.oclif?.bin ?? pjson.name
  return `${bin}/${pjson.version} ${process.platform}-${process.arch} node-${process.version}`
}

function printVersion(root) {
  const pjson = readJson(path.join(root, 'package.json'))
  process.stdout.write(`${userAgent(pjson)}\n`)
  return true
}

function printRootHelp(root) {
  const pjson = readJson(path.join(root, 'package.json'))
  const oclif = pjson.oclif ?? {}
  if (oclif.helpClass || oclif.state || oclif.theme || oclif.hooks?.init || !oclif.helpOptions?.all) return false
  const separator = oclif.topicSeparator ?? ':'
  const bin = oclif.bin ?? pjson.name
  const commands = [...Object.values(readJson(path.join(root, 'oclif.manifest.json')).commands)]
  for (const plugin of oclif.plugins ?? []) commands.push(...Object.values(readJson(path.join(root, 'node_modules', plugin, 'oclif.manifest.json')).commands))
  const render = (text) => text.replaceAll('<%= config.bin %>', bin)
  if (commands.some((c) => /<%/.test(render(c.summary ?? c.description ?? '')))) return false

  const width = Number.parseInt(process.env.OCLIF_COLUMNS ?? '', 10) || terminalWidth()
  const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR && process.env.FORCE_COLOR !== '0'
  const bold = (text) => (color ? `\u001B[1m${text}\u001B[22m` : text)
  const section = (header, body) => `${bold(header)}\n${indent(body, 2)}`

  const byId = new Map()
  for (const c of commands) if (!byId.has(c.id)) byId.set(c.id, c)
  const ids = [...byId.keys()].sort()
  const topicNames = new Set(Object.keys(oclif.topics ?? {}))
  for (const id of ids) {
    const parts = id.split(':')
    for (let i = 1; i < parts.length; i++) topicNames.add(parts.slice(0, i).join(':'))
  }

  // With helpOptions.all hidden commands are listed, but a topic only hidden commands make is not
  // (the autocomplete plugin's `autocomplete create|script`).
  const topics = [...topicNames].filter((t) => ids.some((id) => id.startsWith(`${t}:`) && !byId.get(id).hidden)).sort()
  const show = (id) => id.replaceAll(':', separator)
  const topicRows = topics.map((t) => [show(t), (topicDescription(oclif.topics, t) ?? '').split('\n')[0]])
  const commandRows = ids.map((id) => {
    const c = byId.get(id)
    return [show(id), render(c.summary ? c.summary.split('\n')[0] : (c.description ?? '').split('\n')[0])]
  })

  const description = render(oclif.description || pjson.description || '')
  if (description.includes('\n')) return false
  const out = [
    [description, section('VERSION', wrap(userAgent(pjson), width - 2)), section('USAGE', wrap(`$ ${bin} [COMMAND]`, width - 2))].join('\n\n'),
  ]
  for (const [header, rows] of [
    ['TOPICS', topicRows],
    ['COMMANDS', commandRows],
  ]) {
    if (rows.length === 0) continue
    const list = renderList(rows, width)
    if (list === undefined) return false
    out.push(section(header, list))
  }

  process.stdout.write(`${out.join('\n\n')}\n\n`)
  return true
}

function topicDescription(topics, name) {
  let node = {subtopics: topics}
  for (const part of name.split(':')) node = node?.subtopics?.[part]
  return node?.description
}

function terminalWidth() {
  if (!process.stdout.isTTY) return 80
  const columns = process.stdout.getWindowSize()[0]
  if (columns < 1) return 80
  return columns < 40 ? 40 : columns
}

function indent(text, n) {
  return text.replace(/^(?!\s*$)/gm, ' '.repeat(n))
}

/** Two columns as oclif's renderList({indentation: 2, spacer: '\n'}); undefined when it would switch to its multi-line layout. */
function renderList(rows, width) {
  const left = Math.max(...rows.map(([l]) => [...l].length))
  const lines = []
  for (const [name, text] of rows) {
    if (!text) {
      lines.push(name)
      continue
    }

    const [first, ...rest] = wrap(text, width - (2 + left + 2)).split('\n')
    if (rest.length > 4) return undefined
    lines.push(name + ' '.repeat(left - [...name].length + 2) + first, ...rest.map((l) => ' '.repeat(left + 2) + l))
  }

  return lines.join('\n')
}

/** Greedy word wrap to `width` columns, breaking words longer than a line (wrap-ansi with hard: true). */
function wrap(text, width) {
  const out = []
  let line = ''
  for (let word of text.trim().split(/ +/)) {
    while ([...word].length > width) {
      if (line) {
        out.push(line)
        line = ''
      }

      out.push(word.slice(0, width))
      word = word.slice(width)
    }

    if (!line) line = word
    else if ([...line].length + 1 + [...word].length <= width) line += ` ${word}`
    else {
      out.push(line)
      line = word
    }
  }

  out.push(line)
  return out.join('\n')
}
