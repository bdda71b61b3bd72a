import {Args} from '@oclif/core'
import os from 'node:os'
import path from 'node:path'

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
    files: Args.string({description: 'SOPS files (default: all SOPS files of the homelab)', required: false}),
  }

  static override strict = false

  async run(): Promise<SecretsRotateResult> {
    const {argv, flags} = await this.parse(SecretsRotate)
    const {loadIdentities, rotateSopsFile} = await import('../../lib/sops/index.js')
    const {listSopsFiles} = await import('../../lib/sops/repo.js')
    const identities = await loadIdentities({env: process.env, homeDir: os.homedir()})
    let files = argv as string[]
    let base = process.cwd()
    if (files.length === 0) {
      const homelab = await this.homelab(flags.repo)
      base = homelab.root
      files = await listSopsFiles(homelab.root)
    }

    const {mapLimit} = await import('../../lib/sops/pool.js')
    const rotated = await mapLimit(files, 16, (file) => rotateSopsFile({displayName: file, file: path.resolve(base, file), identities}))
    const result: SecretsRotateResult = {files: rotated.map((r, i) => ({file: files[i], recipients: r.recipients}))}

    if (!this.jsonEnabled()) this.log(files.length === 0 ? 'no SOPS file found' : `rotated the data key of ${files.length} file${files.length === 1 ? '' : 's'}`)
    return result
  }
}
