import {Args} from '@oclif/core'
import os from 'node:os'

import {HomelabCommand} from '../../base-command.js'

/** `homelab secrets rotate --json` result. */
export interface SecretsRotateResult {
  files: Array<{file: string; recipients: string[]}>
}

export default class SecretsRotate extends HomelabCommand {
  static override summary = 'Give SOPS files a new data key and re-encrypt every value (sops -r).'

  static override description = `For each FILE (default: every SOPS file of the homelab), decrypts it (MAC verified), draws a new random data key, re-encrypts every value and the MAC with it and wraps it for the file's same recipients. Use it after a person who had the old data key lost access.

All files or none: every file is prepared in memory, then written together; a failure (e.g. a read-only folder) or Ctrl-C puts every file back, and a killed run is undone by the next writing command.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Rotate the data key of every SOPS file.'},
    {command: '<%= config.bin %> <%= command.id %> nixos/secrets/host-secrets.sops.yaml --json', description: 'Rotate one file, report as JSON.'},
  ]

  static override enableJsonFlag = true

  static override journaled = true

  static override args = {
    files: Args.string({ignoreStdin: true, description: 'SOPS files (default: all SOPS files of the homelab)', required: false}),
  }

  static override strict = false

  async run(): Promise<SecretsRotateResult> {
    const {argv, flags} = await this.parse(SecretsRotate)
    const {mapLimit, planRotateSopsFile, SOPS_FILE_CONCURRENCY, sopsBatch, writeSopsBatch} = await import('../../lib/sops/index.js')
    const root = await this.optionalHomelabRoot(flags.repo)
    const homelabRoot = async () => root ?? (await this.homelab(flags.repo)).root
    const {identities, targets} = await sopsBatch({cwd: process.cwd(), env: process.env, files: argv as string[], homeDir: os.homedir(), homelabRoot})
    // Every file is decrypted and re-encrypted in memory first, then all are written together.
    const rotated = await mapLimit(targets, SOPS_FILE_CONCURRENCY, (t) => planRotateSopsFile({displayName: t.file, file: t.path, identities}))
    await writeSopsBatch(
      rotated.map((r, i) => ({after: r.after, before: r.before, target: targets[i]})),
      {command: 'secrets rotate', journalRoot: root},
    )
    const result: SecretsRotateResult = {files: rotated.map((r, i) => ({file: targets[i].file, recipients: r.recipients}))}

    if (!this.jsonEnabled()) this.log(targets.length === 0 ? 'no SOPS file found' : `rotated the data key of ${targets.length} file${targets.length === 1 ? '' : 's'}`)
    return result
  }
}
