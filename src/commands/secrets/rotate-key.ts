import {Flags} from '@oclif/core'
import os from 'node:os'

import {HomelabCommand} from '../../base-command.js'
import {connectionFlags} from '../../connection-flags.js'
import {UsageError} from '../../lib/errors.js'
import type {RotateKeyResult, RotateKeyStep} from '../../lib/sops/rotate-key.js'
import type {HostConnection} from '../../lib/ssh/index.js'

/** `homelab secrets rotate-key --json` result: see {@link RotateKeyResult}. */
export type SecretsRotateKeyResult = RotateKeyResult

export default class SecretsRotateKey extends HomelabCommand {
  static override summary = "Replace the homelab's age identity everywhere: key file, .sops.yaml, every SOPS file, the host and the cluster."

  static override description = `Runs these steps, saving progress after each in $XDG_STATE_HOME/homelab/rotate-key-<repo>.json (default ~/.local/state), so a run that crashed or was interrupted resumes where it stopped:
  1. a new age identity is appended to your key file (SOPS_AGE_KEY_FILE, else ~/.config/sops/age/keys.txt; mode 0600); a key file inside a git work tree is refused before anything changes
  2. its recipient is added next to the old one in .sops.yaml
  3. every SOPS file is re-wrapped for both (updatekeys: values untouched)
  4. the new and old identities are installed on each host as /var/lib/sops-nix/key.txt (root, 0600, via sudo over SSH) and the host decrypts a file with it
  5. the same key is written to the cluster Secret flux-system/sops-age (key age.agekey) and read back
  6. the old recipient is removed from .sops.yaml and 7. every file is re-wrapped for the new one only and gets a new data key (as sops -r), so the old identity and an old copy of a file from git history cannot open it.
At every moment each file is encrypted to an identity in your key file. The old identity stays in your key file, on the host and in the cluster (files already deployed use it); commit, push and deploy, then remove it by hand. The sudo password comes from HOMELAB_SUDO_PASSWORD or a prompt.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Rotate the identity, asking for confirmation and the sudo password.'},
    {command: 'HOMELAB_SUDO_PASSWORD=… <%= config.bin %> <%= command.id %> --yes --json', description: 'Rotate without prompts and report as JSON.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    yes: Flags.boolean({char: 'y', description: 'do not ask for confirmation', default: false}),
    ...connectionFlags,
  }

  async run(): Promise<SecretsRotateKeyResult> {
    const {flags} = await this.parse(SecretsRotateKey)
    const homelab = await this.homelab(flags.repo)
    const {readRotateKeyState, rotateKey, rotateKeyStateFile} = await import('../../lib/sops/rotate-key.js')
    const {sshRotateKeyRemote} = await import('../../lib/sops/rotate-key-remote.js')
    const env = process.env
    const homeDir = env.HOME || os.homedir()
    const pending = await readRotateKeyState(rotateKeyStateFile(homelab.root, env, homeDir))
    if (!flags.yes) {
      const question = pending ? `Resume the rotation to ${pending.newRecipient} (done: ${pending.done.join(', ')})?` : `Replace the age identity of ${homelab.root} on every file, host and cluster?`
      const ok = await this.valueOrPrompt(undefined, 'yes', async () => (await import('@inquirer/prompts')).confirm({default: false, message: question}))
      if (!ok) throw new UsageError('cancelled: nothing was changed')
    }

    const connections: HostConnection[] = []
    const connect = async () => {
      if (connections.length > 0) return connections
      const {openHostConnection} = await import('../../ui/host-connection.js')
      for (const host of homelab.config.hosts) connections.push(await openHostConnection({...this.hostConnectionOptions(flags), env, homelab, host}))
      return connections
    }

    const remote = {
      async installClusterKey(keyText: string, sha256: string) {
        return sshRotateKeyRemote(await connect()).installClusterKey(keyText, sha256)
      },
      async installHostKey(keyText: string, probe: {file: string; armored: string; dataKeyBase64: string}) {
        return sshRotateKeyRemote(await connect()).installHostKey(keyText, probe)
      },
    }
    try {
      const result = await rotateKey({
        afterStep(step: RotateKeyStep) {
          // Test hook: the tests kill the process after a step to prove it resumes.
          if (env.HOMELAB_TEST_CRASH_AFTER === step) process.kill(process.pid, 'SIGKILL')
        },
        env,
        homeDir,
        log: (line) => {
          if (!this.jsonEnabled()) this.log(line)
        },
        remote,
        root: homelab.root,
      })
      if (!this.jsonEnabled())
        this.log(`done: the homelab's age recipient is now ${result.newRecipient}. Commit .sops.yaml and the SOPS files, push, and deploy.`)
      return result
    } finally {
      await Promise.all(connections.map((c) => c.close().catch(() => {})))
    }
  }
}
