#!/usr/bin/env -S node --import tsx
/**
 * bench/secrets: `homelab secrets rotate` of 200 generated SOPS files (10 values each) in ONE run
 * of the CLI, against the baseline a shell loop over `sops -r` pays per file: one process pipeline
 * per file doing the same age work on the data key with the real `age` CLI (`age -d -i KEY | age -r
 * RECIPIENT -a`). The baseline gets the armored data keys pre-extracted, so it measures only the
 * per-file process and age cost; the CLI does the whole rotation (parse, decrypt, MAC, new data
 * key, re-encrypt every value and the MAC, atomic write). Prints medians and the ratio
 * (baseline / CLI). Target: >= 5x.
 *
 * The CLI is measured as built: the sources are compiled with tsc into a temp folder (the repo's
 * dist/ is left alone) and run with bin/run.js, like an installed homelab.
 *
 * Usage: bench/secrets [--runs N] [--files N] [--dir BASE]   (needs `age` on PATH; BASE is the
 * folder both sides write in, default the OS temp folder: use a tmpfs such as /dev/shm to leave
 * out the CLI's fsyncs, which the shell loop does not do)
 */
import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {formatIdentity, generateIdentity} from '../src/lib/age/index.js'
import {createSopsFile, parseSopsConfig, readSopsMetadata} from '../src/lib/sops/index.js'
import {buildCli, formatRatio, interleavedMedians, numberFlag, timed} from './lib/measure.js'

const runs = numberFlag('--runs', 3)
const FILES = numberFlag('--files', 200)
const VALUES = 10

const age = await execa('age', ['--version'], {reject: false})
if (age.exitCode !== 0) {
  console.error('bench/secrets: the age CLI is not installed (apt-get install age)')
  process.exit(1)
}

const dirAt = process.argv.indexOf('--dir')
const work = await fs.mkdtemp(path.join(dirAt === -1 ? os.tmpdir() : process.argv[dirAt + 1], 'homelab-bench-secrets-'))
try {
  const built = await buildCli()
  const identity = await generateIdentity()
  const keyFile = path.join(work, 'key.txt')
  await fs.writeFile(keyFile, formatIdentity(identity, new Date()), {mode: 0o600})
  const config = parseSopsConfig(`creation_rules:\n  - path_regex: \\.sops\\.yaml$\n    age: ${identity.recipient}\n`, path.join(work, '.sops.yaml'))
  await fs.writeFile(config.file, `creation_rules:\n  - path_regex: \\.sops\\.yaml$\n    age: ${identity.recipient}\n`)
  const files: string[] = []
  for (let i = 0; i < FILES; i++) {
    const rel = `secrets/s${String(i).padStart(3, '0')}.sops.yaml`
    const lines = ['apiVersion: v1', 'kind: Secret', 'metadata:', `    name: s${i}`, 'stringData:']
    for (let v = 0; v < VALUES; v++) lines.push(`    key${v}: value-${i}-${v}-${'x'.repeat(24)}`)
    await createSopsFile({config, file: path.join(work, rel), plaintext: `${lines.join('\n')}\n`})
    files.push(rel)
  }

  // Baseline input: the armored data key of every file, extracted beforehand.
  const encDir = path.join(work, 'enc')
  await fs.mkdir(encDir)
  for (const rel of files) {
    const meta = readSopsMetadata(await fs.readFile(path.join(work, rel), 'utf8'), rel)!
    await fs.writeFile(path.join(encDir, `${path.basename(rel)}.age`), meta.keyGroups[0][0].enc)
  }

  const env = {NO_COLOR: '1', SOPS_AGE_KEY: '', SOPS_AGE_KEY_FILE: keyFile}
  const {base, cli} = await interleavedMedians(runs, {
    async cli() {
      const {ms, value} = await timed(() => execa(process.execPath, [built.bin, 'secrets', 'rotate', ...files], {cwd: work, env, reject: false}))
      if (value.exitCode !== 0) throw new Error(`homelab secrets rotate failed: ${value.stderr}`)
      return ms
    },
    async base() {
      const {ms, value} = await timed(() => execa('sh', ['-c', `for f in "$1"/*.age; do age -d -i "$2" "$f" | age -r "$3" -a > "$f.new" || exit 1; done`, 'sh', encDir, keyFile, identity.recipient], {reject: false}))
      if (value.exitCode !== 0) throw new Error(`age loop failed: ${value.stderr}`)
      return ms
    },
  })
  console.log(`bench/secrets: rotate ${FILES} files x ${VALUES} values in ${path.dirname(work)}, median of ${runs} runs`)
  console.log(`  homelab secrets rotate (one process)          ${cli.toFixed(0).padStart(6)} ms  (${(cli / FILES).toFixed(2)} ms/file)`)
  console.log(`  age -d | age -r per file (baseline, shell loop) ${base.toFixed(0).padStart(4)} ms  (${(base / FILES).toFixed(2)} ms/file)`)
  console.log(`  ratio baseline/CLI: ${formatRatio(base / cli, {atLeast: 5})}`)
  await built.remove()
} finally {
  await fs.rm(work, {force: true, recursive: true})
}
