import {Args} from '@oclif/core'
import os from 'node:os'
import path from 'node:path'

import {HomelabCommand} from '../../base-command.js'
import {HomelabError} from '../../lib/errors.js'
import {signalExitCode} from '../../lib/signal-exit.js'

/** `homelab secrets edit --json` result. */
export interface SecretsEditResult {
  file: string
  /** `unchanged`: nothing written; `updated`: re-encrypted; `created`: a new file. */
  status: 'created' | 'unchanged' | 'updated'
}

export default class SecretsEdit extends HomelabCommand {
  static override summary = 'Edit a SOPS file in your editor; it is re-encrypted when you save a change.'

  static override description = `Decrypts FILE (MAC verified) into a private folder (mode 0700, on /dev/shm when present), opens $VISUAL or $EDITOR (default vi) on it, and encrypts it back only when the text changed, with the same data key: lines of unchanged values stay byte-identical. A missing FILE is created with its .sops.yaml creation rule.

The private folder is removed afterwards whatever happens: on Ctrl-C, SIGTERM or SIGHUP the editor is ended too (the signal is forwarded to it, exit 128 + the signal's number), and folders left by a run killed with SIGKILL are removed when secrets edit next starts. When the edited text is not valid YAML you are offered to reopen the editor; without a terminal the command fails and nothing is written.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> nixos/secrets/host-secrets.sops.yaml', description: 'Edit the host secrets.'},
    {command: 'EDITOR=nano <%= config.bin %> <%= command.id %> flux/clusters/azalab-0/manifests/apps/vaultwarden/secret.sops.yaml', description: 'Create or edit an app secret with nano.'},
  ]

  static override enableJsonFlag = true

  static override journaled = true

  static override args = {
    file: Args.string({ignoreStdin: true, description: 'SOPS file (created with its creation rule when missing)', required: true}),
  }

  async run(): Promise<SecretsEditResult> {
    const {args, flags} = await this.parse(SecretsEdit)
    await this.optionalHomelabRoot(flags.repo) // undo a change a killed run left half done
    const {loadIdentities} = await import('../../lib/sops/index.js')
    const {editSopsFile, removePrivateDir, removeStaleEditFolders} = await import('../../lib/sops/edit-session.js')
    const {execa} = await import('execa')
    const stale = await removeStaleEditFolders()
    if (stale.length > 0) this.warn(`removed ${stale.length} private folder${stale.length === 1 ? '' : 's'} left with decrypted secrets by a killed secrets edit: ${stale.join(', ')}`)
    const editor = process.env.VISUAL || process.env.EDITOR || 'vi'
    const identities = await loadIdentities({env: process.env, homeDir: os.homedir()})
    let privateDir: string | undefined
    let editorProcess: {pid?: number; kill(signal: NodeJS.Signals): boolean} | undefined
    // Without a terminal the editor gets its own process group, so a signal reaches all it started;
    // with one it stays in ours (the terminal's job control, and Ctrl-C reaches it already).
    const ownGroup = !process.stdin.isTTY
    let interrupted: NodeJS.Signals | undefined
    const onSignal = (signal: NodeJS.Signals) => {
      if (!editorProcess) {
        if (privateDir) removePrivateDir(privateDir)
        process.exit(signalExitCode(signal))
      }

      // End the editor with us: forward the signal, wait for it (runEditor), then the folder goes.
      interrupted ??= signal
      forward(editorProcess, signal, ownGroup)
      setTimeout(() => editorProcess && forward(editorProcess, 'SIGKILL', ownGroup), 5000).unref()
    }

    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
    for (const s of signals) process.on(s, onSignal)
    try {
      const result = await editSopsFile({
        displayName: args.file,
        file: path.resolve(args.file),
        identities,
        onInvalid: async (message) => {
          this.warn(message)
          if (!this.canPrompt()) return false
          const {confirm} = await import('@inquirer/prompts')
          return confirm({default: true, message: 'Reopen the editor? (no discards the edit)'})
        },
        onPrivateDir(dir) {
          privateDir = dir
        },
        async runEditor(tempFile) {
          const quoted = `'${tempFile.replaceAll("'", "'\\''")}'`
          const child = execa(`${editor} ${quoted}`, {detached: ownGroup, reject: false, shell: true, stdio: 'inherit'})
          editorProcess = child
          const run = await child.finally(() => {
            editorProcess = undefined
          })
          if (interrupted) {
            // What the editor started and left behind (a background job ignores SIGINT) goes too.
            if (ownGroup) forward(child, 'SIGTERM', true)
            throw new HomelabError(`interrupted by ${interrupted}; the editor was ended and nothing was written`, {exitCode: signalExitCode(interrupted)})
          }

          if (run.exitCode !== 0) throw new HomelabError(`the editor (${editor}) exited with ${run.exitCode ?? run.signal}; nothing was written`)
        },
      })
      if (!this.jsonEnabled())
        this.log(result.status === 'unchanged' ? `${args.file}: no change; nothing written` : `${args.file}: ${result.status === 'created' ? 'created' : 'updated'}`)
      return {file: args.file, status: result.status}
    } finally {
      for (const s of signals) process.off(s, onSignal)
    }
  }
}

/** Sends `signal` to the editor: to its whole process group when it has one of its own. */
function forward(child: {pid?: number; kill(signal: NodeJS.Signals): boolean}, signal: NodeJS.Signals, ownGroup: boolean): void {
  try {
    if (ownGroup && child.pid) process.kill(-child.pid, signal)
    else child.kill(signal)
  } catch {
    // already gone
  }
}
