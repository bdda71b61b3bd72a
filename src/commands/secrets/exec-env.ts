import {Args, Flags} from '@oclif/core'
import os from 'node:os'
import path from 'node:path'

import {HomelabCommand} from '../../base-command.js'
import {UsageError} from '../../lib/errors.js'
import type {ChildOutcome} from '../../lib/sops/exec.js'

/**
 * `homelab secrets exec-env --json` (schemas/secrets-exec-env.schema.json): the command's stdout goes to
 * stderr and stdout holds `{schemaVersion: 1, exitCode, signal?}` once it ended; the exit status
 * is the command's either way.
 */
export interface SecretsExecEnvResult extends ChildOutcome {
  schemaVersion: 1
}

export default class SecretsExecEnv extends HomelabCommand {
  static override summary = 'Run a command with the top-level values of a SOPS file in its environment (as sops exec-env).'

  static override description = `Decrypts FILE with your age identity (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, or ~/.config/sops/age/keys.txt) after verifying its MAC, then runs CMD with each top-level key of the file as an environment variable (strings as they are, numbers and booleans as printed, null as empty). Nested maps and lists are refused, as sops refuses them. The values reach the command only through its environment: never its arguments, never a file, never this command's output. With --json the command's stdout goes to stderr, and stdout holds one JSON document with its exit status.

CMD is given after -- as separate arguments and runs without a shell (write sh -c '…' to use one). Its exit status is passed through (128 + n when signal n ended it), and SIGHUP, SIGINT, SIGTERM and SIGQUIT sent to homelab are forwarded to it.`

  static override examples = [
    {command: `<%= config.bin %> <%= command.id %> secrets/r2.sops.yaml -- sh -c 'aws s3 ls --endpoint-url "$R2_ENDPOINT"'`, description: 'Use R2 credentials from a SOPS file without writing them anywhere.'},
    {command: '<%= config.bin %> <%= command.id %> --pristine db.sops.yaml -- env', description: 'Only the file\'s variables, nothing inherited (as sops --pristine).'},
  ]

  static override enableJsonFlag = true

  // FILE is a path; nothing of the homelab (homelab.yaml, .sops.yaml) is read.
  static override baseFlags = {}

  static override args = {
    file: Args.string({ignoreStdin: true, description: 'SOPS file (YAML or JSON) whose top-level keys become variables', required: true}),
  }

  static override flags = {
    pristine: Flags.boolean({description: 'do not pass this process\'s environment on, only the file\'s variables', default: false}),
  }

  async run(): Promise<SecretsExecEnvResult> {
    // The command is everything after the first --, taken as given (oclif's argv reorders repeated words).
    // (this.parse replaces this.argv with what it parsed: read the command first.)
    const raw = [...this.argv]
    const dashes = raw.indexOf('--')
    const command = dashes === -1 ? [] : raw.slice(dashes + 1)
    const {args, flags} = await this.parse(SecretsExecEnv, dashes === -1 ? raw : raw.slice(0, dashes))
    if (command.length === 0) throw new UsageError('give the command after --', {suggestions: [`homelab secrets exec-env ${args.file} -- env`]})
    const [{decryptSopsFile, loadIdentities}, {envFromDecrypted, execWithEnv}] = await Promise.all([import('../../lib/sops/index.js'), import('../../lib/sops/exec.js')])
    const identities = await loadIdentities({env: process.env, homeDir: os.homedir()})
    const decrypted = await decryptSopsFile({displayName: args.file, file: path.resolve(args.file), identities})
    const variables = envFromDecrypted(decrypted, args.file)
    const outcome = await execWithEnv({baseEnv: process.env, command, pristine: flags.pristine, stdoutToStderr: this.jsonEnabled(), variables})
    process.exitCode = outcome.exitCode
    return {...outcome, schemaVersion: 1}
  }
}
