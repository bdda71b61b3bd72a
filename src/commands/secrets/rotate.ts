import {Args} from '@oclif/core'
import os from 'node:os'

import {HomelabCommand} from '../../base-command.js'

/** `homelab secrets rotate --json` result. */
export interface SecretsRotateResult {
  files: Array<{file: string; recipients: string[]}>
}

export default class SecretsRotate extends HomelabCommand {
  static override summary = 'Give SOPS files a new data key and re-encrypt every value (sops -r).'

  static override description = `For each FILE (default: every SOPS file of the homelab), decrypts it (MAC verified), draws a new random data key, re-encrypts every value and the MAC with it and wraps it for the file's same recipients. Use it after a person who had the old data key lost access.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Rotate the data key of every SOPS file.'},
    {command: '<%= config.bin %> <%= command.id %> nixos/secrets/host-secrets.sops.yaml --json', description: 'Rotate one file, report as JSON.'},
  ]

  static override enableJsonFlag = true

  static override args = {
    files: Args.string({ignoreStdin: true, description: 'SOPS files (default: all SOPS files of the homelab)', required: false}),
  }

  static override strict = false

  async run(): Promise<SecretsRotateResult> {
    const {argv, flags} = await this.parse(SecretsRotate)
    const {mapLimit, rotateSopsFile, SOPS_FILE_CONCURRENCY, sopsBatch} = await import('../../lib/sops/index.js')
    const homelabRoot = async () => (await this.homelab(flags.repo)).root
    const {identities, targets} = await sopsBatch({cwd: process.cwd(), env: process.env, files: argv as string[], homeDir: os.homedir(), homelabRoot})
    const rotated = await mapLimit(targets, SOPS_FILE_CONCURRENCY, (t) => rotateSopsFile({displayName: t.file, file: t.path, identities}))
    const result: SecretsRotateResult = {files: rotated.map((r, i) => ({file: targets[i].file, recipients: r.recipients}))}

    if (!this.jsonEnabled()) this.log(targets.length === 0 ? 'no SOPS file found' : `rotated the data key of ${targets.length} file${targets.length === 1 ? '' : 's'}`)
    return result
  }
}
