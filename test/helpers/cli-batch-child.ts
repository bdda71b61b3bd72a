// Child process of runCliBatch (test/helpers/cli-batch.ts): runs each command line the way
// bin/dev.js (TypeScript sources) or bin/run.js (HOMELAB_TEST_BUILT=1: dist/) does, in one
// process (modules load once), as `execute` would — oclif's `run`, then `flush`, or `handle` on an
// error — with stdout and stderr captured and `process.exit` recording the code instead of
// exiting. Prints the results as one JSON array on the real stdout.
import {flush, handle, Plugin, run, settings} from '@oclif/core'
import path from 'node:path'

const {built, cases, root} = JSON.parse(process.argv[2]) as {built: boolean; cases: string[][]; root: string}

/** What bin/run.js (built) or bin/dev.js passes to oclif, fresh for each command line as in a new process. */
async function loadOptions(): Promise<string | {plugins: Map<string, Plugin>; root: string}> {
  if (built) return path.join(root, 'bin/run.js')
  const rootPlugin = new Plugin({ignoreManifest: true, isRoot: true, root})
  await rootPlugin.load()
  return {plugins: new Map([[rootPlugin.name, rootPlugin]]), root}
}

if (!built) {
  // As execute({development: true}) in bin/dev.js.
  process.env.NODE_ENV = 'development'
  settings.debug = true
}

const real = {argv: process.argv, exit: process.exit, stderr: process.stderr.write, stdout: process.stdout.write}
const results: Array<{args: string[]; exitCode: number; stdout: string; stderr: string}> = []
for (const args of cases) {
  const out: string[] = []
  const err: string[] = []
  const capture = (into: string[]) =>
    ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown) => {
      into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'))
      const cb = typeof encoding === 'function' ? encoding : callback
      if (typeof cb === 'function') cb()
      return true
    }) as typeof process.stdout.write
  let exitCode: number | undefined
  process.stdout.write = capture(out)
  process.stderr.write = capture(err)
  process.exitCode = undefined
  process.argv = [real.argv[0], path.join(root, built ? 'bin/run.js' : 'bin/dev.js'), ...args] // oclif's handle reads it for the usage help
  process.exit = ((code?: number) => {
    exitCode ??= code ?? Number(process.exitCode ?? 0)
  }) as typeof process.exit
  try {
    await run(args, await loadOptions())
    await flush()
  } catch (error) {
    await handle(error as Error)
  } finally {
    await new Promise((resolve) => setImmediate(resolve)) // warnings are written on a later tick
    process.argv = real.argv
    process.stdout.write = real.stdout
    process.stderr.write = real.stderr
    process.exit = real.exit
  }

  // As execa reports them: the final newline stripped.
  const strip = (text: string) => text.replace(/\r?\n$/, '')
  results.push({args, exitCode: exitCode ?? Number(process.exitCode ?? 0), stderr: strip(err.join('')), stdout: strip(out.join(''))})
}

process.exitCode = 0
process.stdout.write(`${JSON.stringify(results)}\n`)
