import type {Homelab} from '../../config/load.js'
import type {HostConfig} from '../../config/schema.js'
import {HomelabError} from '../../errors.js'
import {type RemoteResult, type RemoteRunner, runKubectl} from '../../flux/kubectl.js'
import {FLUX_RESOURCES} from '../../flux/types.js'
import type {BootstrapSource} from './source.js'
import {
  deployKeyScript,
  EXIT_BAD_KEY,
  EXIT_KEY_DIFFERS,
  EXIT_NO_AGE_KEY,
  fluxInstallScript,
  HOST_AGE_KEY_FILE,
  parseReport,
  sopsAgeScript,
  syncApplyScript,
} from './scripts.js'

/** What one step did. */
export type StepResult = 'created' | 'unchanged' | 'updated'

/** One step of the bootstrap, in order: `flux`, `deploy-key`, `sops-age`, `sync`. */
export interface BootstrapStep {
  step: 'deploy-key' | 'flux' | 'sops-age' | 'sync'
  result: StepResult
  /** A few words: the Flux version and how it ran, which key, which objects. */
  detail: string
  /** Milliseconds the step took. */
  ms: number
}

/** The deploy key Flux authenticates with: its public half and where to add it. */
export interface DeployKeyReport {
  /** `ssh-ed25519 AAAA… comment` (public: safe to print). */
  publicKey: string
  /** `generated` on the host now, `given` (--deploy-key-file), or `kept` (already in the Secret). */
  source: 'generated' | 'given' | 'kept'
}

/** The Secret holds a different deploy key than --deploy-key-file, and replacing it was not allowed. Exit 3. */
export class DeployKeyDiffersError extends HomelabError {
  /** The public key now in the Secret. */
  readonly currentPublicKey: string
  constructor(host: string, currentPublicKey: string) {
    super(`${host}: the Secret flux-system/flux-system holds another deploy key (${currentPublicKey || 'unknown'}) than --deploy-key-file`, {
      exitCode: 3,
      suggestions: ['pass --force to replace it (then remove the old key from the repository\'s deploy keys)'],
    })
    this.currentPublicKey = currentPublicKey
  }
}

/** A step failed on the host. Exit 1; the message names the host, the step and the tool's last line. */
export class BootstrapStepError extends HomelabError {}

/**
 * Runs the bootstrap steps on the k3s server over `connection`, in order, each checking first and
 * changing only what differs (see src/lib/cluster/bootstrap/scripts.ts for what runs):
 * 1. `flux`: Flux's controllers at the host's `flux` version (`flux install`);
 * 2. `deploy-key`: the Secret flux-system/flux-system (deploy key + the forge's pinned host keys);
 * 3. `sops-age`: the Secret flux-system/sops-age from the host's /var/lib/sops-nix/key.txt;
 * 4. `sync`: the committed GitRepository and root Kustomization (`source.objects`) applied.
 *
 * @param options.deployKey the private key text of --deploy-key-file (sent on stdin only), or undefined to keep/generate
 * @param options.confirmReplace asked when the Secret holds another key than `deployKey` and `force` is off; false = refuse
 * @param options.onStep called as each step ends
 * @returns every step's result and the deploy key's public half
 * @throws DeployKeyDiffersError (exit 3) when the key differs and replacing is not allowed;
 *   BootstrapStepError when a step fails (missing age key, bad key file, flux or kubectl failing)
 */
export async function bootstrapCluster(options: {
  connection: RemoteRunner
  homelab: Homelab
  host: HostConfig
  source: BootstrapSource
  forgeHostKeys: string[]
  deployKey?: string
  force?: boolean
  confirmReplace?: (currentPublicKey: string) => Promise<boolean>
  onStep?: (step: BootstrapStep) => void
}): Promise<{steps: BootstrapStep[]; deployKey: DeployKeyReport; flux: {version: string; via: 'nix-run' | 'path'}}> {
  const {connection, host} = options
  const steps: BootstrapStep[] = []
  const fail = (step: string, r: RemoteResult, hint?: string): never => {
    const last = r.stderr.trim().split('\n').filter(Boolean).at(-1) ?? `exit status ${r.exitCode}`
    throw new BootstrapStepError(`${host.name}: bootstrap step ${step} failed: ${last}`, {suggestions: [hint ?? 'fix the cause and run `homelab cluster bootstrap` again: finished steps stay as they are']})
  }

  const timed = async <T>(step: BootstrapStep['step'], run: () => Promise<{result: StepResult; detail: string; value: T}>): Promise<T> => {
    const started = Date.now()
    const {detail, result, value} = await run()
    const done = {detail, ms: Date.now() - started, result, step}
    steps.push(done)
    options.onStep?.(done)
    return value
  }

  const flux = await timed('flux', async () => {
    const r = await connection.sudo(fluxInstallScript(host.flakeDir), {timeoutMs: 15 * 60_000})
    const report = parseReport(r.stdout)
    if (r.exitCode !== 0) fail('flux', r, report.via === 'nix-run' ? `flux is not on root's PATH on ${host.name}: add pkgs.fluxcd to environment.systemPackages, or check that \`nix run --inputs-from ${host.flakeDir} nixpkgs#fluxcd\` works there` : undefined)
    const via = report.via === 'nix-run' ? ('nix-run' as const) : ('path' as const)
    const how = via === 'path' ? 'flux on PATH' : `nix run --inputs-from ${host.flakeDir} nixpkgs#fluxcd`
    const result = report.result as StepResult
    const detail =
      result === 'unchanged' ? `${report.version} already installed (${how})` : result === 'updated' ? `${report.previous} → ${report.version} (flux install, ${how})` : `${report.version} (flux install, ${how})`
    return {detail, result, value: {version: report.version, via}}
  })

  const deployKey = await timed('deploy-key', async () => {
    const run = (force: boolean) =>
      connection.sudo(deployKeyScript({comment: `flux@${options.homelab.config.cluster.name}`, force, given: options.deployKey !== undefined, knownHosts: knownHostsLines(options.source.forge.host, options.forgeHostKeys)}), {
        stdin: options.deployKey,
        timeoutMs: 120_000,
      })
    let r = await run(options.force === true)
    if (r.exitCode === EXIT_KEY_DIFFERS) {
      const current = parseReport(r.stdout).oldpub ?? ''
      if (!(await options.confirmReplace?.(current))) throw new DeployKeyDiffersError(host.name, current)
      r = await run(true)
    }

    if (r.exitCode === EXIT_BAD_KEY) throw new BootstrapStepError(`--deploy-key-file: not an unencrypted OpenSSH private key (ssh-keygen -y on ${host.name} refused it)`, {exitCode: 3})
    if (r.exitCode !== 0) fail('deploy-key', r)
    const report = parseReport(r.stdout)
    const source = (report.key ?? 'kept') as DeployKeyReport['source']
    const result = report.result as StepResult
    const what = source === 'generated' ? 'new key generated on the host' : source === 'given' ? 'key from --deploy-key-file' : 'key kept'
    const detail = result === 'unchanged' ? `Secret flux-system/flux-system already holds the key and ${options.source.forge.host}'s host keys` : `Secret flux-system/flux-system (${what}, ${options.source.forge.host}'s pinned host keys)`
    return {detail, result, value: {publicKey: report.pub ?? '', source}}
  })

  await timed('sops-age', async () => {
    const r = await connection.sudo(sopsAgeScript(), {timeoutMs: 120_000})
    if (r.exitCode === EXIT_NO_AGE_KEY)
      throw new BootstrapStepError(`${host.name}: ${HOST_AGE_KEY_FILE} is missing or empty: Flux could not decrypt the SOPS files`, {
        suggestions: ['install the age identity there first (nixos-anywhere --extra-files at install time, or `homelab secrets rotate-key`)'],
      })
    if (r.exitCode !== 0) fail('sops-age', r)
    const result = parseReport(r.stdout).result as StepResult
    const detail = result === 'unchanged' ? `Secret flux-system/sops-age already holds ${HOST_AGE_KEY_FILE}` : `Secret flux-system/sops-age from ${HOST_AGE_KEY_FILE} (read on the host)`
    return {detail, result, value: undefined}
  })

  await timed('sync', async () => {
    // Check first: the live objects already hold every committed field (the API server and the
    // controllers add defaults and status, and kustomize-controller removes kubectl's
    // last-applied-configuration annotation from what it manages (fluxcd/kustomize-controller
    // PR #527), so kubectl's own "unchanged" is not reliable on a second run).
    const resources = [FLUX_RESOURCES.GitRepository, FLUX_RESOURCES.Kustomization].join(',')
    const liveList = JSON.parse(await runKubectl(connection, ['get', resources, '-n', 'flux-system', '-o', 'json'])) as {items?: Array<Record<string, unknown>>}
    const live = liveList.items ?? []
    const names = options.source.objects.map((o) => `${String(o.kind)} ${(o.metadata as {name?: string})?.name ?? '?'}`).join(', ')
    const counterparts = options.source.objects.map((o) => live.find((l) => l.kind === o.kind && sameName(l, o)))
    if (counterparts.every((l, i) => l !== undefined && holds(l, options.source.objects[i])))
      return {detail: `${names} from ${options.source.syncFile} already applied`, result: 'unchanged' as const, value: undefined}
    const list = JSON.stringify({apiVersion: 'v1', items: options.source.objects, kind: 'List'})
    const r = await connection.sudo(syncApplyScript(), {stdin: list, timeoutMs: 120_000})
    if (r.exitCode !== 0) fail('sync', r)
    const result: StepResult = counterparts.every((l) => l === undefined) ? 'created' : 'updated'
    return {detail: `${names} from ${options.source.syncFile} at ${options.source.head.slice(0, 7)}`, result, value: undefined}
  })

  return {deployKey, flux, steps}
}

const sameName = (a: Record<string, unknown>, b: Record<string, unknown>) => {
  const ma = a.metadata as {name?: string; namespace?: string} | undefined
  const mb = b.metadata as {name?: string; namespace?: string} | undefined
  return ma?.name === mb?.name && (ma?.namespace ?? 'flux-system') === (mb?.namespace ?? 'flux-system')
}

/**
 * True when `live` holds every field of `wanted`'s spec, labels and annotations with the same
 * value (objects compared key by key, arrays element by element and of the same length);
 * fields only `live` has (defaults, status) do not matter.
 */
export function holds(live: unknown, wanted: unknown): boolean {
  const w = wanted as {spec?: unknown; metadata?: {labels?: unknown; annotations?: unknown}}
  const l = live as {spec?: unknown; metadata?: {labels?: unknown; annotations?: unknown}}
  return contains(l.spec, w.spec) && contains(l.metadata?.labels, w.metadata?.labels) && contains(l.metadata?.annotations, w.metadata?.annotations)
}

function contains(have: unknown, want: unknown): boolean {
  if (want === undefined || want === null) return true
  if (Array.isArray(want)) return Array.isArray(have) && have.length === want.length && want.every((v, i) => contains(have[i], v))
  if (typeof want === 'object') {
    if (typeof have !== 'object' || have === null || Array.isArray(have)) return false
    return Object.entries(want as Record<string, unknown>).every(([k, v]) => contains((have as Record<string, unknown>)[k], v))
  }

  return have === want
}

/** known_hosts lines for the forge: `<host> <type> <base64>` per pinned key (OpenSSH sshd(8) AUTHORIZED_KEYS/known_hosts format). */
export function knownHostsLines(forge: string, keys: string[]): string[] {
  return keys.map((k) => `${forge} ${k}`)
}
