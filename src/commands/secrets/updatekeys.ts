import {Args} from '@oclif/core'
import os from 'node:os'

import {HomelabCommand} from '../../base-command.js'

/** `homelab secrets updatekeys --json` result: per file the recipients added and removed. */
export interface SecretsUpdatekeysResult {
  files: Array<{file: string; added: string[]; removed: string[]; changed: boolean}>
}

export default class SecretsUpdatekeys extends HomelabCommand {
  static override summary = "Make each SOPS file's recipients equal to its .sops.yaml creation rule's."

  static override description = `For each FILE (default: every SOPS file of the homelab that a creation rule matches), decrypts the data key, verifies the MAC, and wraps the same data key for exactly the recipients of the file's creation rule (sops updatekeys). Values, MAC and lastmodified stay as they are. Prints what changed per file.

All files or none: every file is prepared in memory, then written together; a failure or Ctrl-C puts every file back, and a killed run is undone by the next writing command.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Update every SOPS file after editing .sops.yaml.'},
    {command: '<%= config.bin %> <%= command.id %> nixos/secrets/host-secrets.sops.yaml --json', description: 'Update one file, report as JSON.'},
  ]

  static override enableJsonFlag = true

  static override journaled = true

  static override args = {
    files: Args.string({ignoreStdin: true, description: 'SOPS files (default: all SOPS files a creation rule matches)', required: false}),
  }

  static override strict = false

  async run(): Promise<SecretsUpdatekeysResult> {
    const {argv, flags} = await this.parse(SecretsUpdatekeys)
    const {mapLimit, planUpdateSopsKeys, SOPS_FILE_CONCURRENCY, sopsBatch, writeSopsBatch} = await import('../../lib/sops/index.js')
    const root = await this.optionalHomelabRoot(flags.repo)
    const homelabRoot = async () => root ?? (await this.homelab(flags.repo)).root
    const {identities, targets} = await sopsBatch({cwd: process.cwd(), env: process.env, files: argv as string[], homeDir: os.homedir(), homelabRoot, withCreationRule: true})
    // Every file is prepared in memory first, then all are written together.
    const updated = await mapLimit(targets, SOPS_FILE_CONCURRENCY, (t) => planUpdateSopsKeys({displayName: t.file, file: t.path, identities}))
    await writeSopsBatch(
      updated.map((r, i) => ({after: r.after, before: r.before, target: targets[i]})),
      {command: 'secrets updatekeys', journalRoot: root},
    )
    const result: SecretsUpdatekeysResult = {files: updated.map((r, i) => ({added: r.added, changed: r.changed, file: targets[i].file, removed: r.removed}))}

    if (!this.jsonEnabled()) {
      for (const f of result.files) this.log(f.changed ? `${f.file}: ${[...f.added.map((a) => `+${a}`), ...f.removed.map((a) => `-${a}`)].join(' ')}` : `${f.file}: unchanged`)
      if (targets.length === 0) this.log('no SOPS file matched a creation rule')
    }

    return result
  }
}
