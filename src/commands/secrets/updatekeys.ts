import {Args} from '@oclif/core'
import os from 'node:os'
import path from 'node:path'

import {HomelabCommand} from '../../base-command.js'

/** `homelab secrets updatekeys --json` result: per file the recipients added and removed. */
export interface SecretsUpdatekeysResult {
  files: Array<{file: string; added: string[]; removed: string[]; changed: boolean}>
}

export default class SecretsUpdatekeys extends HomelabCommand {
  static override summary = "Make each SOPS file's recipients equal to its .sops.yaml creation rule's."

  static override description = `For each FILE (default: every SOPS file of the homelab), decrypts the data key, verifies the MAC, and wraps the same data key for exactly the recipients of the file's creation rule (sops updatekeys). Values, MAC and lastmodified stay as they are. Prints what changed per file. Without FILE, a SOPS file that no creation rule matches stops the command before anything is written (exit 1), and a creation rule that matches no file is a warning.

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
    const {describeCreationRule, mapLimit, planUpdateSopsKeys, SOPS_FILE_CONCURRENCY, sopsBatch, SopsConfigError, writeSopsBatch} = await import('../../lib/sops/index.js')
    const root = await this.optionalHomelabRoot(flags.repo)
    const homelabRoot = async () => root ?? (await this.homelab(flags.repo)).root
    const {config, identities, targets, unmatched, unusedRules} = await sopsBatch({cwd: process.cwd(), env: process.env, files: argv as string[], homeDir: os.homedir(), homelabRoot, withCreationRule: true})
    const configName = config ? path.basename(config.file) : '.sops.yaml'
    for (const rule of unusedRules) this.warn(`${configName}:${rule.line}: ${describeCreationRule(rule)} matches no file of the repository: check its path_regex for a typo`)
    if (unmatched.length > 0)
      throw new SopsConfigError(
        `${unmatched.length === 1 ? `the SOPS file ${unmatched[0]} matches` : `${unmatched.length} SOPS files (${unmatched.join(', ')}) match`} no creation rule of ${configName}, so its recipients cannot be updated; nothing was changed`,
        {suggestions: [`fix the path_regex in ${configName} so a rule matches ${unmatched.length === 1 ? 'it' : 'them'}, then run homelab secrets updatekeys again`]},
      )
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
