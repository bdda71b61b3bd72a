import {Args, Flags} from '@oclif/core'
import os from 'node:os'
import path from 'node:path'

import {HomelabCommand} from '../../base-command.js'
import {UsageError} from '../../lib/errors.js'
import type {ChildOutcome} from '../../lib/sops/exec.js'

/**
 * `homelab secrets exec-file --json` (schemas/secrets-exec-file.schema.json): the command's stdout goes to
 * stderr and stdout holds `{schemaVersion: 1, exitCode, signal?}` once it ended; the exit status
 * is the command's either way.
 */
export interface SecretsExecFileResult extends ChildOutcome {
  schemaVersion: 1
}

export default class SecretsExecFile extends HomelabCommand {
  static override summary = 'Run a command that reads the decrypted SOPS file from a FIFO or private temporary file, {} in its arguments (as sops exec-file).'

  static override description = `Decrypts FILE with your age identity (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, or ~/.config/sops/age/keys.txt) after verifying its MAC, then puts the plaintext (in the file's own format) in a new private folder (mode 0700) under the temporary folder: as a FIFO that can be read once (the default, nothing touches the disk), or with --no-fifo as a regular file (mode 0600) for tools that seek or read twice. Every {} in the command's arguments is replaced by its path; the folder is removed when the command ends, whatever happened. With --json the command's stdout goes to stderr, and stdout holds one JSON document with its exit status.

CMD is given after -- as separate arguments and runs without a shell (write sh -c '…' to use one). Its exit status is passed through (128 + n when signal n ended it), and SIGHUP, SIGINT, SIGTERM and SIGQUIT sent to homelab are forwarded to it.`

  static override examples = [
    {command: `<%= config.bin %> <%= command.id %> flux/clusters/azalab-0/manifests/apps/secrets.sops.yaml -- kubectl apply --dry-run=client -f {}`, description: 'Hand the decrypted manifest to a tool through a FIFO.'},
    {command: '<%= config.bin %> <%= command.id %> --no-fifo --filename config.json app.sops.json -- jq .database {}', description: 'A regular temporary file with a chosen name (for tools that read twice).'},
  ]

  static override enableJsonFlag = true

  // FILE is a path; nothing of the homelab (homelab.yaml, .sops.yaml) is read.
  static override baseFlags = {}

  static override args = {
    file: Args.string({ignoreStdin: true, description: 'SOPS file (YAML or JSON)', required: true}),
  }

  static override flags = {
    fifo: Flags.boolean({description: 'hand the plaintext over through a FIFO (--no-fifo: a regular file, mode 0600)', default: true, allowNo: true}),
    filename: Flags.string({description: 'name of the file in the private folder (default: FILE\'s name without .sops)'}),
  }

  async run(): Promise<SecretsExecFileResult> {
    // The command is everything after the first --, taken as given (oclif's argv reorders repeated words).
    // (this.parse replaces this.argv with what it parsed: read the command first.)
    const raw = [...this.argv]
    const dashes = raw.indexOf('--')
    const command = dashes === -1 ? [] : raw.slice(dashes + 1)
    const {args, flags} = await this.parse(SecretsExecFile, dashes === -1 ? raw : raw.slice(0, dashes))
    if (command.length === 0) throw new UsageError('give the command after --, with {} where the decrypted file\'s path goes', {suggestions: [`homelab secrets exec-file ${args.file} -- cat {}`]})
    const [{decryptSopsFile, loadIdentities}, {execWithFile, exposedFileName, plaintextOf}] = await Promise.all([import('../../lib/sops/index.js'), import('../../lib/sops/exec.js')])
    const fileName = exposedFileName(args.file, flags.filename)
    if (!command.some((a) => a.includes('{}'))) throw new UsageError('the command has no {} for the decrypted file\'s path', {suggestions: [`homelab secrets exec-file ${args.file} -- cat {}`]})
    const identities = await loadIdentities({env: process.env, homeDir: os.homedir()})
    const decrypted = await decryptSopsFile({displayName: args.file, file: path.resolve(args.file), identities})
    const outcome = await execWithFile({command, env: process.env, fifo: flags.fifo, fileName, plaintext: plaintextOf(decrypted), stdoutToStderr: this.jsonEnabled()})
    process.exitCode = outcome.exitCode
    return {...outcome, schemaVersion: 1}
  }
}
