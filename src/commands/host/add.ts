import {Args, Flags} from '@oclif/core'
import os from 'node:os'
import path from 'node:path'

import {HomelabCommand} from '../../base-command.js'
import {connectionFlags} from '../../connection-flags.js'
import {UsageError} from '../../lib/errors.js'
import {colors} from '../../ui/color.js'
import type {HostAddResult} from '../../ui/host-add.js'

export type {HostAddResult} from '../../ui/host-add.js'

export default class HostAdd extends HomelabCommand {
  static override summary = 'Add a machine to the homelab as a k3s agent node: homelab.yaml, its NixOS files, the cluster token, its pinned host key.'

  static override description = `Adds NAME to homelab.yaml hosts: (role agent by default), rewrites nixos/hosts.json, and renders nixos/hosts/NAME/configuration.nix and its host bootstrap flake nixos/hosts/NAME/flake.nix from templates/host-bootstrap.

The k3s cluster token every node shares goes into the host secrets (k3s/token in nixos/secrets/host-secrets.sops.yaml, SOPS-encrypted; never in argv or output): the one already stored is kept; else it is read over SSH (sudo) from the running server's /var/lib/rancher/k3s/server/token, because a server that ran once keeps the token its data is encrypted with; --new-token generates one instead, for a server not installed yet (it must then be (re)installed with it).

The host secrets are one file for every host (admin password hash, deploy key), decrypted with the homelab's identity that homelab host install copies to the host: nothing per host is created. --age-recipient adds the host's own age recipient to the .sops.yaml rule of the host secrets and wraps the file's data key for it.

It connects to --ssh and pins the machine's SSH host key into known_hosts (asked in a terminal; --accept-new-host-key without one; --no-pin for a machine not running yet: homelab host install pins the key it generates). Every step runs before anything is written, then all files are written together: an unreachable server or host, a refused key or a SOPS error leaves the repository as it was.`

  static override examples = [
    {
      command: '<%= config.bin %> <%= command.id %> azalab-1 --ssh aiden@10.0.0.21 --node-interface enp1s0 --server-node-interface enp1s0 --labels homelab.dev/gpu=true --tags ml',
      description: 'Add a second mini PC as an agent; the token is read from the running server.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> nas --ssh root@10.0.0.30 --node-interface eno1 --disk /dev/disk/by-id/ata-WDC_WD40 --no-pin --accept-new-host-key',
      description: 'A machine not installed yet: no host key to pin; next is homelab host install nas.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> azalab-1 --ssh aiden@azalab-1 --node-interface enp1s0 --age-recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p --accept-new-host-key --json',
      description: 'With the host\'s own age recipient for the host secrets; without a terminal; as JSON.',
    },
  ]

  static override enableJsonFlag = true

  static override journaled = true

  static override args = {
    name: Args.string({ignoreStdin: true, description: 'host name: nixosConfigurations.<NAME> and the k3s node name (lowercase letters, digits, -)', required: true}),
  }

  static override flags = {
    ssh: Flags.string({description: 'how to reach it: [user@]host[:port], resolved through ~/.ssh/config (required)', helpValue: 'USER@HOST', required: true}),
    role: Flags.string({default: 'agent', description: 'k3s role (one server per homelab: HA servers are a later step)', options: ['agent', 'server']}),
    labels: Flags.string({description: 'Kubernetes node labels, KEY=VALUE pairs separated by commas', helpValue: 'K=V,…'}),
    tags: Flags.string({description: 'homelab.yaml tags for --on @tag, separated by commas', helpValue: 'A,B'}),
    address: Flags.string({description: 'the address the other nodes reach it at (default: the host part of --ssh)'}),
    'node-interface': Flags.string({description: 'its LAN interface the nodes reach each other on (repeatable; k3s\'s node ports open only there)', helpValue: 'IF', multiple: true}),
    'server-node-interface': Flags.string({description: 'the server\'s LAN interface, when homelab.yaml names none for it yet (repeatable)', helpValue: 'IF', multiple: true}),
    'flake-dir': Flags.string({description: 'the host\'s bootstrap flake folder on the host (homelab.yaml flakeDir; default /etc/nixos)', helpValue: 'PATH'}),
    disk: Flags.string({default: '/dev/nvme0n1', description: 'the disk homelab host install erases and partitions (a /dev/disk/by-id path is safest)', helpValue: '/dev/…'}),
    'age-recipient': Flags.string({description: 'the host\'s own age recipient for the host secrets (default: it gets the homelab\'s identity at host install)', helpValue: 'age1…'}),
    'new-token': Flags.boolean({default: false, description: 'generate a new cluster token instead of reading the running server\'s (a server not installed yet)'}),
    'sudo-password-stdin': Flags.boolean({default: false, description: 'read the server\'s sudo password (to read its token file) from the first line of stdin'}),
    pin: Flags.boolean({allowNo: true, default: true, description: 'connect to --ssh and pin its SSH host key; --no-pin for a machine not running yet'}),
    ...connectionFlags,
  }

  async run(): Promise<HostAddResult> {
    const {args, flags} = await this.parse(HostAdd)
    if (flags.pin && !flags['accept-new-host-key'] && !this.canPrompt())
      throw new UsageError(`--accept-new-host-key is required when not running in a terminal: host add pins ${args.name}'s SSH host key (or pass --no-pin for a machine not running yet); nothing was changed`)
    const homelab = await this.homelab(flags.repo)
    const [{addHost, checkAgeRecipient}, {parseLabels}, {loadIdentities}, {connectHost}, {connectionPrompts, openHostConnection}, {renderHostAdded}, {HOST_SECRETS_FILE}, {K3S_TOKEN_SECRET}] = await Promise.all([
      import('../../lib/host/add/add.js'),
      import('../../lib/host/add/plan.js'),
      import('../../lib/age/identities.js'),
      import('../../lib/ssh/index.js'),
      import('../../ui/host-connection.js'),
      import('../../ui/host-add.js'),
      import('../../lib/host/install/host-secrets.js'),
      import('../../lib/host/add/plan.js'),
    ])
    const labels = parseLabels(flags.labels)
    const tags = (flags.tags ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '')
    const ageRecipient = flags['age-recipient'] === undefined ? undefined : checkAgeRecipient(flags['age-recipient'])
    const identities = await loadIdentities({env: process.env, homeDir: os.homedir()})
    const canPrompt = this.canPrompt()
    const progress = this.jsonEnabled() || !process.stderr.isTTY ? undefined : (line: string) => process.stderr.write(`${colors(process.stderr).dim(line)}\n`)
    const prompts = connectionPrompts({canPrompt, env: process.env})
    const knownHostsFile = path.join(homelab.root, homelab.config.knownHosts)
    let stdinPassword: string | undefined
    if (flags['sudo-password-stdin']) {
      const {readStdinLine} = await import('../../ui/deploy-callbacks.js')
      stdinPassword = await readStdinLine(process.stdin)
    }

    const outcome = await addHost({
      ageRecipient,
      // The server's key must be pinned already (deploy pins it): nothing is pinned outside the change.
      connect: async (host) =>
        openHostConnection({...this.hostConnectionOptions(flags), homelab, host, settings: {acceptNewHostKey: false, connectTimeoutSeconds: flags['connect-timeout']}, stdinFlag: '--sudo-password-stdin', stdinPassword}),
      connectNew: async (shadow, host) =>
        connectHost({
          ...prompts,
          acceptNewHostKey: flags['accept-new-host-key'],
          // The key goes into a temp copy of known_hosts; the question names the repository's file.
          askHostKey: prompts.askHostKey && (async (q) => prompts.askHostKey!({...q, knownHostsFile})),
          connectTimeoutSeconds: flags['connect-timeout'],
          env: process.env,
          homelab: shadow,
          host,
          onProxyStderr: (text) => process.stderr.write(text),
        }),
      homelab,
      identities,
      newToken: flags['new-token'],
      onProgress: progress,
      pin: flags.pin,
      serverNodeInterfaces: flags['server-node-interface'] ?? [],
      spec: {
        address: flags.address,
        diskDevice: flags.disk,
        flakeDir: flags['flake-dir'],
        labels,
        name: args.name,
        nodeInterfaces: flags['node-interface'] ?? [],
        role: flags.role as 'agent' | 'server',
        ssh: flags.ssh,
        tags,
      },
    })
    const result: HostAddResult = {
      ageRecipient: outcome.ageRecipient,
      changed: outcome.changed,
      created: outcome.created,
      host: outcome.host.name,
      hostKey: {fingerprint: outcome.hostKey.fingerprint, pinned: outcome.hostKey.pinned},
      next: outcome.next,
      nixos: outcome.nixos,
      role: outcome.host.role,
      ssh: outcome.host.ssh,
      token: {file: HOST_SECRETS_FILE, secret: K3S_TOKEN_SECRET, server: outcome.token.server, source: outcome.token.source},
    }
    if (!this.jsonEnabled()) {
      this.log(renderHostAdded(result, colors()))
      // The map lists the hosts: validate's map check wants it regenerated.
      const {existsSync} = await import('node:fs')
      if (existsSync(path.join(homelab.root, 'docs/topology.md'))) this.log('Map: docs/topology.md lists the hosts; regenerate it: homelab map --format markdown --output docs/topology.md')
    }

    return result
  }
}
