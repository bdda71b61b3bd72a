import {Args, Flags} from '@oclif/core'
import os from 'node:os'
import path from 'node:path'

import {HomelabCommand} from '../../base-command.js'
import {UsageError} from '../../lib/errors.js'

/** `homelab secrets set --json` result. No value is ever part of it. */
export interface SecretsSetResult {
  file: string
  keyPath: string
  /** True when the file did not exist and was created with its creation rule. */
  created: boolean
  /** False when the value was already the same (nothing written). */
  changed: boolean
}

export default class SecretsSet extends HomelabCommand {
  static override summary = 'Set one value in a SOPS file, from a hidden prompt or stdin (never from the command line).'

  static override description = `Decrypts FILE (MAC verified), sets KEY_PATH to the new string value and encrypts it back with the same data key and recipients. Every other value keeps its ciphertext, so only that line, lastmodified and the MAC change in the diff. When FILE does not exist it is created with the .sops.yaml creation rule that matches its path.

The value is read from a hidden prompt, or with --value-stdin from standard input (one trailing newline is dropped). It is never taken from an argument, so it does not end up in your shell history or the process list. An empty value is refused (an unset variable piped in is a mistake more often than not); \`homelab secrets edit\` stores an empty string as sops does, unencrypted \`""\`.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> nixos/secrets/host-secrets.sops.yaml r2.secret_access_key', description: 'Set a value typed at a hidden prompt.'},
    {command: `printf %s "$TOKEN" | <%= config.bin %> <%= command.id %> flux/clusters/azalab-0/manifests/apps/vaultwarden/secret.sops.yaml stringData.ADMIN_TOKEN --value-stdin`, description: 'Set a value from standard input.'},
  ]

  static override enableJsonFlag = true

  static override journaled = true

  static override args = {
    file: Args.string({ignoreStdin: true, description: 'SOPS file (created with its creation rule when missing)', required: true}),
    keyPath: Args.string({ignoreStdin: true, description: 'dotted key path, e.g. stringData.password or data."tls.crt"', required: true}),
  }

  static override flags = {
    'value-stdin': Flags.boolean({description: 'read the value from standard input instead of a hidden prompt', default: false}),
  }

  async run(): Promise<SecretsSetResult> {
    const {args, flags} = await this.parse(SecretsSet)
    await this.optionalHomelabRoot(flags.repo) // undo a change a killed run left half done
    const {loadIdentities, parseKeyPath, setSopsValues} = await import('../../lib/sops/index.js')
    parseKeyPath(args.keyPath) // fail on a bad path before asking for the value
    const value = flags['value-stdin'] ? await readStdin() : await this.valueOrPrompt(undefined, 'value-stdin', async () => askHidden(args.keyPath))
    if (value === '')
      throw new UsageError(`empty value for ${args.keyPath}${flags['value-stdin'] ? ' on stdin' : ''}: nothing written to ${args.file} (to store an empty string, use homelab secrets edit ${args.file})`)
    const identities = await loadIdentities({env: process.env, homeDir: os.homedir()})
    const result = await setSopsValues({displayName: args.file, file: path.resolve(args.file), identities, values: {[args.keyPath]: value}})
    const out: SecretsSetResult = {changed: result.changed.length > 0, created: result.created, file: args.file, keyPath: args.keyPath}
    if (!this.jsonEnabled()) this.log(out.created ? `created ${args.file} with ${args.keyPath}` : out.changed ? `set ${args.keyPath} in ${args.file}` : `${args.keyPath} in ${args.file} already had that value; nothing written`)
    return out
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}

async function askHidden(keyPath: string): Promise<string> {
  const {password} = await import('@inquirer/prompts')
  return password({mask: false, message: `New value for ${keyPath}`})
}
