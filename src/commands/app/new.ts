import {Args, Flags} from '@oclif/core'

import {HomelabCommand} from '../../base-command.js'
import {pickHost} from '../../lib/config/hosts.js'
import {UsageError} from '../../lib/errors.js'
import {
  type AppSpec,
  checkBackup,
  checkHostname,
  checkId,
  checkImage,
  checkKind,
  checkMount,
  checkName,
  checkPort,
  checkSecretKeys,
  checkStorage,
  parseDotenv,
  parseEnvFlags,
  WORKLOAD_KINDS,
} from '../../lib/app/spec.js'
import {checkNotReserved} from '../../lib/app/reserved.js'
import {BACKUP_MODES, type BackupCapture} from '../../lib/config/schema.js'
import {colors} from '../../ui/color.js'

/**
 * What `homelab app new --json` prints (and `run()` returns).
 * `created`/`changed` are repo-relative paths; `diff` only with `--dry-run`; secret VALUES never appear.
 */
export interface AppNewResult {
  name: string
  namespace: string
  kind: 'deployment' | 'statefulset'
  image: string
  port: number | null
  /** Volume size (`10Gi`) or null for none. */
  storage: string | null
  /** Host folder of the volume (`/srv/<name>`), a Kopia backup source; null without a volume. */
  hostPath: string | null
  /** How the volume's snapshot is captured (storage.json `backup`); null without a volume. */
  backup: BackupCapture | null
  hostname: string | null
  secretKeys: string[]
  dryRun: boolean
  created: string[]
  changed: string[]
  /** Unified diff of every file (only with --dry-run; the Secret's content is not shown). */
  diff?: string
  /** The tunnel (ID or name from config.yaml) that needs a DNS route for the hostname; null without a hostname. */
  tunnel: string | null
  /** What to run next. */
  next: string
}

export default class AppNew extends HomelabCommand {
  static override summary = 'Scaffold a new app: Flux manifests, hostPath volume, backups, SOPS secret and tunnel route, all or nothing.'

  static override description = `Writes flux/clusters/<cluster>/manifests/apps/NAME/ from templates/app/ (kustomization, namespace, Deployment or StatefulSet, Service, PersistentVolumeClaim, and secret.sops.yaml encrypted with the matching .sops.yaml creation rule), and edits, keeping comments and order: the apps kustomization.yaml, manifests/cluster/persistent-volumes.yaml (hostPath <storage root>/NAME, Retain), the storage file (host folder + Kopia backup source), and the cloudflared ingress rules (the new hostname before the catch-all; the Deployment's checksum/config annotation changes so it rolls).

Every change is prepared in memory and written together: any error leaves every file as it was. The workload gets resource requests, a readiness probe on the port and runs as non-root (--uid/--gid, default 1000) unless --root.

In a terminal every flag not given is asked. Without a terminal (or with --yes) nothing is asked: flags and defaults only; --image is then required. Without --port the app gets no Service, probe or hostname; with one, the hostname defaults to NAME.<domain>. Secret values are asked hidden in a terminal, or read as dotenv (KEY=VALUE lines) from stdin with --secrets-from-stdin; they never appear in argv, logs or output.`

  static override examples = [
    {
      command: '<%= config.bin %> <%= command.id %> whoami --image traefik/whoami:v1.10 --port 80 --storage 0',
      description: 'A stateless web app at https://whoami.<domain>.',
    },
    {
      command: "printf 'ADMIN_TOKEN=s3cret\\n' | <%= config.bin %> <%= command.id %> wiki --image ghcr.io/requarks/wiki:2.5 --port 3000 --storage 5Gi --secret ADMIN_TOKEN --secrets-from-stdin --hostname docs.example.org",
      description: 'An app with a 5Gi volume under /srv/wiki (backed up), a SOPS-encrypted secret and its own hostname.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> notes --image ghcr.io/owner/notes:2.1 --port 8080 --storage 2Gi --backup sqlite --backup-database data/notes.db',
      description: 'An app with a SQLite database: each snapshot holds an online copy of data/notes.db, not the live file.',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> pg --image postgres:17 --kind statefulset --storage 20Gi --no-hostname --uid 999 --gid 999 --backup postgres --backup-postgres-database app --backup-postgres-user app --backup-postgres-data-dir pgdata',
      description: 'A PostgreSQL StatefulSet whose snapshots hold a pg_dump taken in its pod (workload: statefulset/pg).',
    },
    {
      command: '<%= config.bin %> <%= command.id %> redis --image redis:7.4 --port 6379 --kind statefulset --no-hostname --uid 999 --gid 999 --dry-run',
      description: 'Show the diff for a StatefulSet without a public route, write nothing.',
    },
  ]

  static override enableJsonFlag = true

  static override journaled = true

  static override args = {
    name: Args.string({ignoreStdin: true, description: 'app name: a DNS-1123 label (lowercase letters, digits, -; at most 63)', required: true}),
  }

  static override flags = {
    image: Flags.string({description: 'container image, e.g. ghcr.io/owner/app:1.2.3 (required)'}),
    port: Flags.integer({description: 'container port the Service, the readiness probe and the tunnel route use (0 or absent: none)'}),
    storage: Flags.string({description: 'volume size under <storage root>/NAME, backed up (0: no volume) [default: 10Gi]'}),
    mount: Flags.string({description: 'where the volume is mounted in the container [default: /data]'}),
    node: Flags.string({description: 'the host (homelab.yaml hosts[].name) whose disk holds the volume: its PersistentVolume is pinned there [default: the k3s server host]'}),
    hostname: Flags.string({description: 'public hostname through the Cloudflare Tunnel (default NAME.<domain> when there is a port)', exclusive: ['no-hostname']}),
    'no-hostname': Flags.boolean({description: 'no public route'}),
    kind: Flags.string({description: 'workload kind [default: deployment]', options: [...WORKLOAD_KINDS]}),
    env: Flags.string({description: 'plain environment variable NAME=VALUE (repeatable)', multiple: true}),
    secret: Flags.string({description: 'secret environment variable NAME, value asked hidden or read from stdin (repeatable)', multiple: true}),
    'secrets-from-stdin': Flags.boolean({description: 'read secret values as dotenv (KEY=VALUE lines) from stdin'}),
    namespace: Flags.string({
      description: 'Kubernetes namespace (default: NAME); not default, flux-system, kube-*, or a namespace declared outside the apps folder',
    }),
    uid: Flags.integer({description: 'owner uid of the host folder, and the container runAsUser', default: 1000}),
    gid: Flags.integer({description: 'owner gid of the host folder, and the container runAsGroup', default: 1000}),
    root: Flags.boolean({description: 'run the container as root (no runAsNonRoot)'}),
    backup: Flags.string({
      description: 'how each snapshot captures the volume: files (as it is), sqlite (online copy of --backup-database files), postgres (pg_dump in the pod), stop (scale to 0 during the snapshot) [default: files]',
      options: [...BACKUP_MODES],
    }),
    'backup-database': Flags.string({description: 'sqlite: a database file, relative to the app folder (repeatable)', multiple: true}),
    'backup-postgres-workload': Flags.string({description: 'postgres: the workload running PostgreSQL, deployment/NAME or statefulset/NAME [default: the app\'s own]'}),
    'backup-postgres-container': Flags.string({description: 'postgres: its container [default: kubectl\'s default container]'}),
    'backup-postgres-database': Flags.string({description: 'postgres: the database pg_dump dumps'}),
    'backup-postgres-user': Flags.string({description: 'postgres: the role pg_dump connects as (-U)'}),
    'backup-postgres-data-dir': Flags.string({description: 'postgres: the cluster folder (PGDATA) inside the app folder, left out of the snapshot'}),
    'dry-run': Flags.boolean({description: 'show the unified diff, write nothing'}),
    yes: Flags.boolean({char: 'y', description: 'ask nothing: flags and defaults only (implied without a terminal)'}),
  }

  async run(): Promise<AppNewResult> {
    const {args, flags} = await this.parse(AppNew)
    const homelab = await this.homelab(flags.repo)
    const interactive = this.canPrompt() && !flags.yes
    const prompts = interactive ? await import('@inquirer/prompts') : undefined

    const name = checkName(args.name)
    const {readAppTree} = await import('../../lib/app/tree.js')
    const {checkAppNameFree, checkNewApp, planNewApp} = await import('../../lib/app/plan-new.js')
    const tree = await readAppTree(homelab)
    checkAppNameFree(homelab, name, tree)
    const namespace = checkName(flags.namespace ?? name, '--namespace')
    if (namespace !== name) checkNotReserved(tree, namespace, '--namespace')

    // Each flag not given is asked in a terminal (unless --yes), else takes its default.
    const ask = async <T,>(value: T | undefined, fallback: T, question: (p: NonNullable<typeof prompts>) => Promise<T>): Promise<T> =>
      value !== undefined ? value : prompts ? question(prompts) : fallback
    const image = checkImage(
      await this.valueOrPrompt(flags.image, 'image', () => prompts!.input({message: 'Container image (e.g. ghcr.io/owner/app:1.2.3)', required: true}), interactive),
    )
    const port = checkPort(
      await ask(flags.port, 0, async (p) => Number((await p.input({message: 'Container port (empty: none)', validate: (v) => v === '' || /^\d+$/.test(v) || 'a number'})) || 0)),
    )
    const storage = checkStorage(await ask(flags.storage, '10Gi', (p) => p.input({default: '10Gi', message: `Volume size under ${homelab.config.storage.root}/${name} (0: none)`})))
    const mount = checkMount(storage === undefined ? (flags.mount ?? '/data') : await ask(flags.mount, '/data', (p) => p.input({default: '/data', message: 'Mount path in the container'})))
    const kind = checkKind(
      await ask(flags.kind, 'deployment', (p) => p.select({choices: WORKLOAD_KINDS.map((k) => ({value: k})), default: 'deployment', message: 'Workload kind'})),
    )
    let hostname: string | undefined
    if (flags.hostname !== undefined) hostname = checkHostname(flags.hostname)
    else if (!flags['no-hostname'] && port !== undefined && tree.tunnel) {
      const fallback = `${name}.${homelab.config.domain}`
      const answer = await ask<string>(undefined, fallback, (p) => p.input({default: fallback, message: 'Public hostname through the tunnel (-: none)'}))
      hostname = answer === '-' ? undefined : checkHostname(answer)
    }

    const backup = checkBackup(
      {
        backup: flags.backup,
        database: flags['backup-database'],
        postgresContainer: flags['backup-postgres-container'],
        postgresDataDir: flags['backup-postgres-data-dir'],
        postgresDatabase: flags['backup-postgres-database'],
        postgresUser: flags['backup-postgres-user'],
        postgresWorkload: flags['backup-postgres-workload'],
      },
      {name, namespace, storage, workload: `${kind}/${name}`},
    )

    const stdinValues = flags['secrets-from-stdin'] && !flags['dry-run'] ? parseDotenv(await readStdin()) : undefined
    const secretKeys = checkSecretKeys((flags.secret ?? []).length === 0 && stdinValues ? [...stdinValues.keys()] : (flags.secret ?? []))
    const spec: AppSpec = {
      backup,
      env: parseEnvFlags(flags.env ?? []),
      gid: checkId(flags.gid, 'gid'),
      hostname,
      image,
      kind,
      mount,
      name,
      namespace,
      port,
      root: Boolean(flags.root),
      secretKeys,
      storage,
      uid: checkId(flags.uid, 'uid'),
      ...(flags.node === undefined ? {} : {node: pickHost(homelab, flags.node).name}),
    }

    // Refuse a clash before asking for any secret value.
    await checkNewApp(homelab, spec, tree)

    let secretValues: Map<string, string> | undefined
    if (secretKeys.length > 0 && !flags['dry-run']) secretValues = await this.secretValues(secretKeys, stdinValues, prompts)

    const plan = await planNewApp({homelab, secretValues, spec, tree})
    const {summarize, unifiedDiff, writeChangeSet} = await import('../../lib/app/change-set.js')
    const {changed, created} = summarize(plan.set)
    const result: AppNewResult = {
      backup: plan.hostPath ? (spec.backup ?? {mode: 'files'}) : null,
      changed,
      created,
      dryRun: Boolean(flags['dry-run']),
      hostname: spec.hostname ?? null,
      hostPath: plan.hostPath ?? null,
      image: spec.image,
      kind: spec.kind,
      name: spec.name,
      namespace: spec.namespace,
      next: 'homelab deploy',
      port: spec.port ?? null,
      secretKeys: spec.secretKeys,
      storage: spec.storage ?? null,
      tunnel: plan.tunnel ?? null,
    }
    const c = colors()

    if (flags['dry-run']) {
      const redact = new Map<string, string>()
      if (plan.secretFile)
        redact.set(plan.secretFile, `# Secret ${spec.name}-secrets (keys: ${spec.secretKeys.join(', ')}), SOPS-encrypted with the creation rule of .sops.yaml\n`)
      result.diff = await unifiedDiff(plan.set, redact)
      if (!this.jsonEnabled()) {
        this.log(result.diff.trimEnd())
        this.log(c.dim(`\nDry run: ${created.length} files would be created, ${changed.length} changed; nothing was written.`))
      }

      return result
    }

    if (prompts) {
      this.logToStderr(`${created.length} files to create, ${changed.length} to change (--dry-run shows the diff).`)
      if (!(await prompts.confirm({default: true, message: `Write app ${name}?`}))) throw new UsageError('cancelled; nothing was written')
    }

    await writeChangeSet(plan.set, {command: `app new ${name}`})
    if (!this.jsonEnabled()) this.log(renderNewSummary(result, homelab.config.hosts[0]?.ssh, c))
    return result
  }

  /** Returns the flag's value, else asks (when `interactive`), else fails naming the flag. */
  protected override async valueOrPrompt<T>(value: T | undefined, flag: string, ask: () => Promise<T>, interactive = true): Promise<T> {
    if (value !== undefined) return value
    if (!interactive) throw new UsageError(`--${flag} is required${this.canPrompt() ? ' with --yes' : ' when not running in a terminal'}`)
    return ask()
  }

  /** Secret values by key: from stdin (dotenv) or asked hidden; never from argv. */
  private async secretValues(
    keys: string[],
    stdin: Map<string, string> | undefined,
    prompts: typeof import('@inquirer/prompts') | undefined,
  ): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    if (stdin) {
      for (const key of keys) {
        const value = stdin.get(key)
        if (value === undefined) throw new UsageError(`--secrets-from-stdin: no ${key}=… line on stdin`)
        if (value === '') throw new UsageError(`--secrets-from-stdin: ${key} is empty`)
        out.set(key, value)
      }

      const extra = [...stdin.keys()].filter((k) => !keys.includes(k))
      if (extra.length > 0) throw new UsageError(`--secrets-from-stdin: ${extra.join(', ')} on stdin but not given with --secret`)
      return out
    }

    if (!prompts)
      throw new UsageError(`--secret ${keys[0]} needs a value: pass --secrets-from-stdin (KEY=VALUE lines on stdin) or run in a terminal`)
    for (const key of keys) out.set(key, await prompts.password({message: `Value of ${key} (hidden)`, validate: (v) => v !== '' || 'must not be empty'}))
    return out
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('--secrets-from-stdin needs the values piped in (KEY=VALUE lines), not a terminal')
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function renderNewSummary(r: AppNewResult, ssh: string | undefined, c: ReturnType<typeof colors>): string {
  const lines = [`${c.green('✓')} app ${c.bold(r.name)} (${r.kind === 'statefulset' ? 'StatefulSet' : 'Deployment'}, namespace ${r.namespace}, ${r.image})`]
  for (const f of r.created) lines.push(`  ${c.green('created')}  ${f}`)
  for (const f of r.changed) lines.push(`  ${c.yellow('changed')}  ${f}`)
  if (r.hostPath) lines.push(`Volume: ${r.storage} at ${r.hostPath} on the host${ssh ? ` (${ssh.replace(/^.*@/, '')})` : ''}, a Kopia backup source once deployed (capture: ${r.backup?.mode ?? 'files'}).`)
  if (r.hostname) lines.push(`Route: https://${r.hostname} → ${r.name}.${r.namespace}:${r.port} (DNS record: cloudflared tunnel route dns ${r.tunnel ?? '<tunnel>'} ${r.hostname}).`)
  if (r.secretKeys.length > 0) lines.push(`Secret: ${r.secretKeys.join(', ')} encrypted in ${r.created.find((f) => f.endsWith('.sops.yaml'))}.`)
  lines.push(`Next: commit, then ${c.bold('homelab deploy')}.`)
  return lines.join('\n')
}
