import {Args, Flags} from '@oclif/core'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {HomelabCommand} from '../base-command.js'
import {assertKeyFileOutsideGitWorkTree} from '../lib/age/key-file-location.js'
import {createHomelab, type InitResult} from '../lib/init/create.js'
import {inspectKeyFile, operatorKeyFile} from '../lib/init/key-file.js'
import {resolveSshPublicKey} from '../lib/init/ssh-key.js'
import {checkInitValue, defaultGitUrl, type InitValues} from '../lib/init/values.js'
import {colors} from '../ui/color.js'

/** Root of this CLI's repository: templates/ and the host module are copied from it. */
const SOURCE_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * `homelab init [DIR]`: a new homelab repository that passes `homelab validate`.
 * `--json` prints the {@link InitResult}: `{dir, recipient, keyFile, files, branch, sshKeyFound}`.
 */
export default class Init extends HomelabCommand {
  static override summary = 'Create a new homelab repository with its own age identity.'

  static override description = `Fills DIR (new or empty; default: the current folder) with a homelab that passes homelab validate: homelab.yaml, the NixOS host module and its host bootstrap flake, nixos/storage.json with no apps, a Flux tree for the cluster (GitRepository, the infrastructure and apps Kustomizations, the Cloudflare Tunnel), and two SOPS files (host secrets with a new Kopia password, tunnel credentials to fill in). Asks for host name, admin user, SSH target, domain and cluster name unless given as flags (without a terminal every missing one is an error; --yes takes the defaults where there is one).

A new age identity is generated; its recipient goes into .sops.yaml and the identity itself is appended to your sops key file ($SOPS_AGE_KEY_FILE, else $XDG_CONFIG_HOME/sops/age/keys.txt, else ~/.config/sops/age/keys.txt; mode 0600), never into the repository, and never into a file inside any git work tree (such as the committed demo key): that is refused before anything is written. Then git init (branch main).`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> ~/src/homelab', description: 'Create a homelab, answering the questions.'},
    {
      command: '<%= config.bin %> <%= command.id %> /tmp/x --yes --host h --user u --ssh u@h --domain example.org --cluster c',
      description: 'Create one without questions.',
    },
  ]

  static override enableJsonFlag = true

  static override args = {
    dir: Args.directory({ignoreStdin: true, default: '.', description: 'folder of the new homelab (created when missing; must be empty)'}),
  }

  /** No --repo: it works on DIR (init) / the file given (secrets get), never on a homelab found from here. */
  static override baseFlags = {}

  static override flags = {
    host: Flags.string({description: 'host name (a DNS label), also its NixOS configuration name'}),
    user: Flags.string({description: 'admin user on the host [default: your user name]'}),
    ssh: Flags.string({description: 'SSH target as [user@]host[:port] [default: USER@HOST]'}),
    domain: Flags.string({description: 'public DNS zone of the apps, e.g. example.org'}),
    cluster: Flags.string({description: 'Flux cluster name: flux/clusters/CLUSTER [default: HOST]'}),
    'git-url': Flags.string({description: 'Git URL Flux and the host flake pull [default: ssh://git@github.com/USER/homelab]'}),
    'ssh-key': Flags.string({description: 'SSH public key (a key line or a .pub file) allowed to log in [default: ~/.ssh/id_ed25519.pub if present]'}),
    yes: Flags.boolean({char: 'y', default: false, description: 'take the default of every value not given as a flag'}),
  }

  async run(): Promise<InitResult> {
    const {args, flags} = await this.parse(Init)
    const homeDir = process.env.HOME || os.homedir()
    // Before any question: the new private key must not go to a file that could be committed.
    await assertKeyFileOutsideGitWorkTree(operatorKeyFile({env: process.env, homeDir}), process.env)
    await inspectKeyFile(operatorKeyFile({env: process.env, homeDir}))
    const ask = async (key: keyof InitValues, flag: string, message: string, given: string | undefined, fallback?: string): Promise<string> => {
      if (given !== undefined) return given
      if (flags.yes && fallback !== undefined) return fallback
      return this.valueOrPrompt<string>(undefined, flag, async () => {
        const {input} = await import('@inquirer/prompts')
        return input({default: fallback, message, validate: (v) => checkInitValue(key, v) ?? true})
      })
    }

    const login = safeUserName()
    const hostName = await ask('hostName', 'host', 'Host name', flags.host)
    const adminUser = await ask('adminUser', 'user', 'Admin user on the host', flags.user, checkInitValue('adminUser', login ?? '') ? undefined : login)
    const sshTarget = await ask('sshTarget', 'ssh', 'SSH target ([user@]host[:port])', flags.ssh, `${adminUser}@${hostName}`)
    const domain = await ask('domain', 'domain', 'Public domain of the apps', flags.domain)
    const cluster = await ask('cluster', 'cluster', 'Flux cluster name', flags.cluster, hostName)
    const sshPubKey = await resolveSshPublicKey({cwd: process.cwd(), given: flags['ssh-key'], homeDir})
    const gitUrl = flags['git-url'] ?? defaultGitUrl(adminUser)

    const result = await createHomelab({
      dir: path.resolve(args.dir),
      env: process.env,
      homeDir,
      sourceRoot: SOURCE_ROOT,
      values: {adminUser, cluster, domain, gitUrl, hostName, sshPubKey, sshTarget},
    })

    if (!this.jsonEnabled()) {
      const c = colors()
      this.log(`${c.green('✓')} Created homelab ${hostName} in ${result.dir} (${result.files.length} files, git branch ${result.branch})`)
      this.log(`  age recipient  ${result.recipient} (.sops.yaml)`)
      this.log(`  age identity   appended to ${result.keyFile}${result.keyFileTarget ? ` (a link: written to ${result.keyFileTarget})` : ''} (mode 0600); back it up: without it the secrets cannot be decrypted`)
      if (result.keyFileModeWas)
        this.logToStderr(`${c.yellow('warning:')} narrowed the mode of the key file ${result.keyFileTarget ?? result.keyFile} from ${result.keyFileModeWas} to 0600: it holds private keys`)
      this.log(`  Flux source    ${gitUrl}`)
      if (!result.sshKeyFound)
        this.logToStderr(`${c.yellow('warning:')} no SSH public key given (--ssh-key) or found in ~/.ssh: put yours in nixos/configuration.nix (homelab.adminSshKeys) before installing the host`)
      const rel = path.relative(process.cwd(), result.dir)
      this.log(`Next: ${rel === '' ? '' : `cd ${rel.startsWith('..') ? result.dir : rel} && `}homelab validate   (then see README.md)`)
    }

    return result
  }
}

/** The current login name, or undefined when the system cannot tell. */
function safeUserName(): string | undefined {
  try {
    return os.userInfo().username
  } catch {
    return undefined
  }
}
