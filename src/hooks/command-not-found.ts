import type {Hook} from '@oclif/core'

import {UsageError} from '../lib/errors.js'
import {argvWantsJson, errorJson, writeErrorLines} from '../ui/error.js'

/** What {@link unknownCommandError} needs to know about the CLI's commands. */
export interface CommandCatalog {
  /** The executable's name, e.g. `homelab`. */
  bin: string
  /** Every visible command id, colon-separated (`app:new`). */
  commandIDs: readonly string[]
  /** True when `id` (colon-separated) is a topic, such as `app`. */
  isTopic(id: string): boolean
}

/**
 * The usage error for a command line oclif found no command for. `id` is oclif's colon-separated
 * guess (`app:nope`, or `app:list:extra` when a command that takes no arguments got one):
 * - a command followed by extra words → "unexpected argument", pointing at its `--help`;
 * - a topic followed by an unknown word → names the topic and the closest of its commands;
 * - a flag where the command belongs → says to name a command first;
 * - anything else → "not a homelab command" and the closest command when one is near.
 * Never prompts and never runs a guess (a typo of `deploy` must not deploy). Exit code 3.
 */
export function unknownCommandError(id: string, catalog: CommandCatalog): UsageError {
  const parts = id.split(':')
  const show = (ids: string[]) => ids.join(' ')
  if (parts[0].startsWith('-'))
    return new UsageError(`${parts[0]} is not a ${catalog.bin} flag here: name a command first (${catalog.bin} COMMAND [FLAGS])`, {suggestions: [`see ${catalog.bin} --help`]})
  const ids = new Set(catalog.commandIDs)
  for (let n = parts.length - 1; n > 0; n--) {
    const prefix = parts.slice(0, n)
    if (ids.has(prefix.join(':'))) {
      const extra = parts.slice(n)
      return new UsageError(`unexpected argument${extra.length === 1 ? '' : 's'}: ${extra.join(' ')} (${catalog.bin} ${show(prefix)} takes none)`, {
        suggestions: [`see ${catalog.bin} ${show(prefix)} --help`],
      })
    }
  }

  for (let n = parts.length - 1; n > 0; n--) {
    const topic = parts.slice(0, n).join(':')
    if (!catalog.isTopic(topic)) continue
    const inTopic = catalog.commandIDs.filter((c) => c.startsWith(`${topic}:`))
    const near = closest(id, inTopic)
    return new UsageError(`${show(parts)} is not a ${catalog.bin} ${show(parts.slice(0, n))} command`, {
      suggestions: [...(near ? [`did you mean ${catalog.bin} ${show(near.split(':'))}?`] : []), `see ${catalog.bin} ${show(parts.slice(0, n))} --help`],
    })
  }

  const near = closest(id, catalog.commandIDs)
  return new UsageError(`${show(parts)} is not a ${catalog.bin} command`, {
    suggestions: [...(near ? [`did you mean ${catalog.bin} ${show(near.split(':'))}?`] : []), `see ${catalog.bin} --help`],
  })
}

/** The candidate nearest to `target` by edit distance, when it is at most a third of the longer one's length (and at least 1 edit is allowed). */
function closest(target: string, candidates: readonly string[]): string | undefined {
  let best: {id: string; distance: number} | undefined
  for (const id of candidates) {
    const distance = editDistance(target, id)
    if (!best || distance < best.distance) best = {distance, id}
  }

  if (!best) return undefined
  return best.distance <= Math.max(1, Math.floor(Math.max(target.length, best.id.length) / 3)) ? best.id : undefined
}

/** Levenshtein distance between `a` and `b` (insertions, deletions, substitutions of UTF-16 units). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    previous = current
  }

  return previous[b.length]
}

/**
 * oclif `command_not_found` hook: an unknown command or topic subcommand is a usage error (exit 3,
 * not oclif's 2, which homelab keeps for "host unreachable"). Prints one `Error:` line and its
 * suggestions on stderr — or, with `--json` among the arguments, the JSON error document on
 * stdout — then exits 3 through oclif (an ExitError, which oclif's handler does not print).
 *
 * On a terminal (stdin and stderr TTYs, no CI, no --json) with a near command, the question is
 * asked by `@oclif/plugin-not-found` ("Did you mean homelab deploy?", run on yes); its "no" (or
 * its 10 s timeout) ends in our one line and exit 3 instead of its exit 127. Never without a TTY.
 */
const hook: Hook.CommandNotFound = async function (options) {
  const config = options.config
  const hidden = new Set(config.commands.filter((c) => c.hidden).map((c) => c.id))
  const err = unknownCommandError(options.id, {
    bin: config.bin,
    commandIDs: config.commandIDs.filter((c) => !hidden.has(c)),
    isTopic: (id) => config.findTopic(id) !== undefined,
  })
  const wantsJson = argvWantsJson([...options.id.split(':'), ...(options.argv ?? [])])
  const terminal = Boolean(process.stdin.isTTY && process.stderr.isTTY) && !process.env.CI && !wantsJson
  if (terminal && err.suggestions.some((s) => s.startsWith('did you mean '))) {
    const {default: notFound} = await import('@oclif/plugin-not-found')
    const context = Object.create(this) as typeof this
    context.warn = () => {} // its "X is not a homelab command." warning: our line comes on "no"
    context.error = (() => {
      writeErrorLines(err)
      this.exit(err.exitCode)
    }) as typeof this.error
    return notFound.call(context, options)
  }

  if (wantsJson) process.stdout.write(`${JSON.stringify(errorJson(err), null, 2)}\n`)
  else writeErrorLines(err)
  this.exit(err.exitCode)
}

export default hook
