import {Args, Flags} from '@oclif/core'
import os from 'node:os'
import path from 'node:path'

import {HomelabCommand} from '../../base-command.js'
import {UsageError} from '../../lib/errors.js'

/** `homelab secrets get --json` result: the file, the key path (absent with --all) and the plaintext value. */
export interface SecretsGetResult {
  file: string
  keyPath?: string
  /** A string/number/boolean for one value, an object or list for a map/list, the document(s) with --all. */
  value: unknown
}

export default class SecretsGet extends HomelabCommand {
  static override summary = 'Print one decrypted value of a SOPS file (or the whole document with --all).'

  static override description = `Decrypts FILE with your age identity (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, or ~/.config/sops/age/keys.txt) after verifying its MAC, and prints the value at KEY_PATH.

KEY_PATH is dotted as yq and sops-age write it: stringData.password, a list item as a.list.0, a key holding a dot in double quotes: data."tls.crt". A map or list prints as YAML. Nothing is written to disk.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> nixos/secrets/host-secrets.sops.yaml kopia.repository_password', description: 'Print the Kopia repository password.'},
    {command: '<%= config.bin %> <%= command.id %> flux/clusters/azalab-0/manifests/apps/secrets.sops.yaml --all', description: 'Print the whole decrypted document.'},
    {command: `<%= config.bin %> <%= command.id %> flux/clusters/azalab-0/manifests/apps/secrets.sops.yaml 'stringData."credentials.json"' --json`, description: 'A key with a dot, as JSON.'},
  ]

  static override enableJsonFlag = true

  static override args = {
    file: Args.string({ignoreStdin: true, description: 'SOPS file (YAML or JSON)', required: true}),
    keyPath: Args.string({ignoreStdin: true, description: 'dotted key path, e.g. stringData.password or data."tls.crt"', required: false}),
  }

  /** No --repo: it works on DIR (init) / the file given (secrets get), never on a homelab found from here. */
  static override baseFlags = {}

  static override flags = {
    all: Flags.boolean({description: 'print the whole decrypted document instead of one value', default: false}),
  }

  async run(): Promise<SecretsGetResult> {
    const {args, flags} = await this.parse(SecretsGet)
    if (!args.keyPath && !flags.all) throw new UsageError('give a KEY_PATH, or --all for the whole document')
    if (args.keyPath && flags.all) throw new UsageError('give either a KEY_PATH or --all, not both')
    const {decryptSopsFile, loadIdentities, nodeAt, parseKeyPath} = await import('../../lib/sops/index.js')
    const {serializePlain} = await import('../../lib/sops/serialize.js')
    const {isCollection, isScalar, stringify} = await import('yaml')
    const file = path.resolve(args.file)
    const identities = await loadIdentities({env: process.env, homeDir: os.homedir()})
    const decrypted = await decryptSopsFile({displayName: args.file, file, identities})
    if (flags.all) {
      if (!this.jsonEnabled()) process.stdout.write(serializePlain(decrypted.documents, decrypted.format, decrypted.style))
      return {file: args.file, value: decrypted.values.length === 1 ? decrypted.values[0] : decrypted.values}
    }

    const node = nodeAt(decrypted.documents[0], parseKeyPath(args.keyPath!), args.file)
    const value = node.toJSON()
    if (!this.jsonEnabled()) {
      if (isScalar(node)) process.stdout.write(`${String(value)}\n`)
      else if (isCollection(node)) process.stdout.write(stringify(value, {indent: 2, lineWidth: 0}))
    }

    return {file: args.file, keyPath: args.keyPath, value}
  }
}
