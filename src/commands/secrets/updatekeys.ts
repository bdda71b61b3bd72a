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

  static override description = `For each FILE (default: every SOPS file of the homelab that a creation rule matches), decrypts the data key, verifies the MAC, and wraps the same data key for exactly the recipients of the file's creation rule (sops updatekeys). Values, MAC and lastmodified stay as they are. Prints what changed per file.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Update every SOPS file after editing .sops.yaml.'},
    {command: '<%= config.bin %> <%= command.id %> nixos/secrets/host-secrets.sops.yaml --json', description: 'Update one file, report as JSON.'},
  ]

  static override enableJsonFlag = true

  static override args = {
    files: Args.string({description: 'SOPS files (default: all SOPS files a creation rule matches)', required: false}),
  }

  static override strict = false

  async run(): Promise<SecretsUpdatekeysResult> {
    const {argv, flags} = await this.parse(SecretsUpdatekeys)
    const {loadIdentities, loadSopsConfig, matchCreationRule, updateSopsKeys} = await import('../../lib/sops/index.js')
    const {listSopsFiles} = await import('../../lib/sops/repo.js')
    const identities = await loadIdentities({env: process.env, homeDir: os.homedir()})
    let files = argv as string[]
    let base = process.cwd()
    if (files.length === 0) {
      const homelab = await this.homelab(flags.repo)
      base = homelab.root
      const config = await loadSopsConfig({dir: homelab.root})
      files = (await listSopsFiles(homelab.root)).filter((rel) => matchCreationRule(config, path.join(homelab.root, rel)))
    }

    const result: SecretsUpdatekeysResult = {files: []}
    for (const file of files) {
      const r = await updateSopsKeys({displayName: file, file: path.resolve(base, file), identities})
      result.files.push({added: r.added, changed: r.changed, file, removed: r.removed})
      if (!this.jsonEnabled())
        this.log(r.changed ? `${file}: ${[...r.added.map((a) => `+${a}`), ...r.removed.map((a) => `-${a}`)].join(' ')}` : `${file}: unchanged`)
    }

    if (!this.jsonEnabled() && files.length === 0) this.log('no SOPS file matched a creation rule')
    return result
  }
}
