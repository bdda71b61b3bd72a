import {type AgeIdentity, parseIdentities} from '../../age/identities.js'
import {TIMER_UNITS} from '../../backup/timers.js'
import {readBackupStatus} from '../../backup/status.js'
import type {Homelab} from '../../config/load.js'
import type {HostConfig} from '../../config/schema.js'
import {fetchCheckCommand, fetchFailureMessage, methodForSource, parseFetchCheck, readInputSource, DEPLOY_KEY_PUBLIC_COMMAND} from '../../deploy/fetch-check.js'
import {readFlakeLockCommand} from '../../deploy/remote.js'
import {HOST_KEY_FILE} from '../../sops/rotate-key-remote.js'
import {decryptSopsText} from '../../sops/engine.js'
import {readSopsMetadata} from '../../sops/metadata.js'
import {listRepoFiles} from '../../validate/repo-files.js'
import {getFluxState, runKubectl} from '../../flux/kubectl.js'
import {assessHealth} from '../../flux/health.js'
import {rootKustomization, rootSource, DISK_FULL_PERCENT} from '../../status/gather.js'
import type {HostConnection} from '../../ssh/index.js'
import {shellQuote} from '../../ssh/shell.js'
import type {DoctorCheck, DoctorCheckId} from './types.js'
import {promises as fs} from 'node:fs'
import path from 'node:path'

const message = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0]

/** The units nixos/backup.nix installs: the timers (src/lib/backup/timers.ts) and the services they start. */
export const BACKUP_UNITS = [...TIMER_UNITS, ...TIMER_UNITS.map((t) => t.replace(/\.timer$/, '.service'))]

/** Titles of the host checks, by id. */
export const HOST_CHECK_TITLES: Partial<Record<DoctorCheckId, string>> = {
  'backup-runs': 'backups ran and are fresh',
  'backup-units': 'backup units installed',
  'cluster-sops-age': 'Secret flux-system/sops-age holds the host identity',
  'disk-boot': 'disk space on /boot',
  'disk-storage': 'disk space under the storage root',
  'flux-controllers': 'Flux controllers running',
  'flux-source': 'Flux GitRepository fetching',
  'host-age-key': "host age key decrypts the host secrets",
  'host-key': 'host key pinned and matching',
  'k3s-nodes': 'k3s running, every node Ready',
  'repo-fetch': 'host can fetch the homelab repository',
  'ssh-login': 'SSH login works',
  sudo: 'sudo works',
}

type Outcome = {ok: true; detail: string} | {ok: false; detail: string; fix: string}

/** Runs one check body; a thrown error is a ✗ with its first line and `fix`. Never throws. */
async function check(id: DoctorCheckId, fix: string, body: () => Promise<Outcome>): Promise<DoctorCheck> {
  const title = HOST_CHECK_TITLES[id] ?? id
  try {
    const r = await body()
    return r.ok ? {detail: r.detail, fix: null, id, status: 'ok', title} : {detail: r.detail, fix: r.fix, id, status: 'fail', title}
  } catch (error) {
    return {detail: message(error), fix, id, status: 'fail', title}
  }
}

/** A check that could not run: `because` names what it needs. */
export function skipped(id: DoctorCheckId, because: string): DoctorCheck {
  return {detail: because, fix: null, id, status: 'skip', title: HOST_CHECK_TITLES[id] ?? id}
}

/** `df -Pk` output → used percent and the mount, per path given. */
export function parseDf(stdout: string): Array<{mount: string; usedPercent: number; availableBytes: number}> {
  return stdout
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 6)
    .map((f) => ({availableBytes: Number(f[3]) * 1024, mount: f.slice(5).join(' '), usedPercent: Number(f[4].replace('%', ''))}))
}

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`

/**
 * Every check that needs the host, over one logged-in connection: sudo, the fetch check of
 * deploy (src/lib/deploy/fetch-check.ts), the host age key against the host secrets and the
 * cluster Secret flux-system/sops-age (compared by recipient; the keys are read into memory
 * only), k3s nodes, Flux controllers and source (src/lib/flux), backup units and runs
 * (src/lib/backup/status.ts), and disk space (df). A failing check never stops the others; checks
 * that need sudo are skipped when sudo failed. Never throws.
 */
export async function hostChecks(options: {homelab: Homelab; host: HostConfig; connection: HostConnection; now?: Date}): Promise<DoctorCheck[]> {
  const {connection, homelab, host} = options
  const sudo = await check('sudo', `check ${host.ssh.split('@')[0] ?? 'the SSH user'}'s sudo rights on the host (wheel) and the password (HOMELAB_SUDO_PASSWORD or the prompt)`, async () => {
    const r = await connection.sudo('true', {timeoutMs: 60_000})
    if (r.exitCode !== 0) return {detail: r.stderr.trim().split('\n').at(-1) ?? `exit ${r.exitCode}`, fix: 'check sudo on the host', ok: false}
    return {detail: (await connection.sudoNeedsPassword()) ? 'with the password' : 'without a password', ok: true}
  })
  const needsSudo = async (id: DoctorCheckId, body: () => Promise<DoctorCheck>) => (sudo.status === 'ok' ? body() : skipped(id, 'needs sudo, which failed'))

  // The host's age identity, read once as root (kept in memory only; compared by recipient).
  const hostIdentity: Promise<{state: 'skip' | 'missing' | 'ok'; ids: AgeIdentity[]}> =
    sudo.status === 'ok'
      ? connection
          .sudo(`cat ${HOST_KEY_FILE}`, {timeoutMs: 60_000})
          .then(async (r) => (r.exitCode === 0 ? parseIdentities(r.stdout, `${host.name}:${HOST_KEY_FILE}`) : []))
          .catch(() => [])
          .then((ids) => ({ids, state: ids.length > 0 ? 'ok' : 'missing'}))
      : Promise.resolve({ids: [], state: 'skip'})

  const [fetchCheck, ageCheck, clusterAge, nodes, controllers, source, units, runs, disks] = await Promise.all([
    needsSudo('repo-fetch', () =>
      check('repo-fetch', `see \`homelab deploy --dry-run\`; the host fetches as root with ${host.flakeDir}/flake.lock's input ${host.flakeInput}`, async () => {
        const lock = await connection.exec(readFlakeLockCommand(host.flakeDir), {timeoutMs: 60_000})
        if (lock.exitCode !== 0) return {detail: `cannot read ${host.flakeDir}/flake.lock: ${lock.stderr.trim().split('\n').at(-1)}`, fix: `check flakeDir of ${host.name} in homelab.yaml (homelab host install makes it)`, ok: false}
        const src = readInputSource(lock.stdout, host.flakeInput)
        if (!src) return {detail: `${host.flakeDir}/flake.lock has no input "${host.flakeInput}"`, fix: `check flakeInput of ${host.name} in homelab.yaml`, ok: false}
        if (src.kind === 'other') return {detail: `${src.display}: not fetched from a remote`, ok: true}
        const outcome = parseFetchCheck(src, await connection.sudo(fetchCheckCommand(src), {timeoutMs: 120_000}))
        if (outcome.ok) return {detail: `${src.display}: ${src.ref ?? 'HEAD'} at ${outcome.head.slice(0, 12)}`, ok: true}
        const method = methodForSource(src)
        const publicKey = method === 'deploy-key' ? (await connection.sudo(DEPLOY_KEY_PUBLIC_COMMAND).catch(() => undefined))?.stdout.trim() || undefined : undefined
        const text = fetchFailureMessage({method, outcome, publicKey, source: src})
        const [what, todo] = text.split('; ')
        return {detail: what, fix: todo ?? 'see homelab deploy', ok: false}
      }),
    ),
    hostIdentity.then(async (got) =>
      got.state === 'skip'
        ? skipped('host-age-key', 'needs sudo, which failed')
        : check('host-age-key', `put the host's age identity in ${HOST_KEY_FILE} (root, mode 0600): homelab host install does, homelab secrets rotate-key replaces it`, async () => {
            if (got.state !== 'ok') return {detail: `${HOST_KEY_FILE} is missing, empty or holds no age identity`, fix: `put the host's age identity in ${HOST_KEY_FILE} (homelab host install; homelab secrets rotate-key)`, ok: false}
            const {ids} = got
            const files = (await listRepoFiles(homelab.root)).filter((f) => f.startsWith('nixos/') && /\.sops\.(ya?ml|json)$/.test(f))
            if (files.length === 0) return {detail: `${ids[0].recipient}; the repository has no host secrets (nixos/**/*.sops.yaml)`, ok: true}
            const bad: string[] = []
            for (const rel of files) {
              const text = await fs.readFile(path.join(homelab.root, rel), 'utf8')
              const meta = readSopsMetadata(text, rel)
              if (!meta?.recipients.some((rcp) => ids.some((i) => i.recipient === rcp))) bad.push(`${rel} is not encrypted to it`)
              else await decryptSopsText({file: rel, identities: ids, text}).catch((error: unknown) => bad.push(`${rel}: ${message(error)}`))
            }

            if (bad.length > 0) return {detail: `host identity ${ids[0].recipient}: ${bad.join('; ')}`, fix: 'add the host recipient to the host-secrets rule of .sops.yaml, then `homelab secrets updatekeys`', ok: false}
            return {detail: `${ids[0].recipient} decrypts ${files.join(', ')}`, ok: true}
          }),
    ),
    hostIdentity.then(async (got) =>
      got.state === 'skip'
        ? skipped('cluster-sops-age', 'needs sudo, which failed')
        : got.state !== 'ok'
          ? skipped('cluster-sops-age', `needs the host age key, which is missing`)
          : check('cluster-sops-age', 'run `homelab cluster bootstrap` (it writes the Secret from the host key), or `homelab secrets rotate-key`', async () => {
              const b64 = await runKubectl(connection, ['get', 'secret', 'sops-age', '-n', 'flux-system', '-o', String.raw`jsonpath={.data.age\.agekey}`], {timeoutMs: 60_000})
              const ids = await parseIdentities(Buffer.from(b64.trim(), 'base64').toString('utf8'), 'Secret flux-system/sops-age').catch(() => [])
              if (ids.length === 0) return {detail: 'Secret flux-system/sops-age has no age identity under age.agekey', fix: 'run `homelab cluster bootstrap`', ok: false}
              const hostRecipient = got.ids[0].recipient
              if (!ids.some((i) => got.ids.some((h) => h.recipient === i.recipient))) return {detail: `Secret flux-system/sops-age holds ${ids.map((i) => i.recipient).join(', ')}, the host ${hostRecipient}`, fix: 'run `homelab secrets rotate-key` (or `homelab cluster bootstrap`) so both hold the same identity', ok: false}
              return {detail: `same identity as the host (${hostRecipient})`, ok: true}
            }),
    ),
    check('k3s-nodes', 'check k3s on the host: `homelab host logs k3s --since 1h`, `homelab host units --failed`', async () => {
      const state = await getFluxState({connection, kinds: [], nodes: true, timeoutMs: 60_000})
      if (state.nodes.length === 0) return {detail: 'the cluster lists no node', fix: 'check k3s on the host: `homelab host logs k3s --since 1h`', ok: false}
      const notReady = state.nodes.filter((n) => n.ready !== 'True')
      if (notReady.length > 0) return {detail: notReady.map((n) => `node ${n.name} is not Ready (${n.ready}${n.message ? `: ${n.message}` : ''})`).join('; '), fix: 'check the kubelet of that node: `homelab host logs k3s --since 1h`', ok: false}
      return {detail: state.nodes.map((n) => `${n.name} Ready${n.kubeletVersion ? ` (${n.kubeletVersion})` : ''}`).join(', '), ok: true}
    }),
    check('flux-controllers', 'run `homelab cluster bootstrap` (installs Flux), then `homelab logs` of the failing controller', async () => {
      const list = JSON.parse(await runKubectl(connection, ['get', 'deployments', '-n', 'flux-system', '-o', 'json'], {timeoutMs: 60_000})) as {items?: Array<{metadata?: {name?: string}; spec?: {replicas?: number}; status?: {readyReplicas?: number}}>}
      const items = list.items ?? []
      if (items.length === 0) return {detail: 'no Deployment in namespace flux-system: Flux is not installed', fix: 'run `homelab cluster bootstrap`', ok: false}
      const down = items.filter((d) => (d.status?.readyReplicas ?? 0) < (d.spec?.replicas ?? 1))
      if (down.length > 0) return {detail: down.map((d) => `${d.metadata?.name} has ${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 1} ready`).join('; '), fix: 'read why: `homelab host exec --sudo -- k3s kubectl -n flux-system describe deployment NAME`', ok: false}
      return {detail: items.map((d) => d.metadata?.name).join(', '), ok: true}
    }),
    check('flux-source', 'see `homelab status` for the GitRepository\'s message', async () => {
      const state = await getFluxState({connection, kinds: ['GitRepository', 'Kustomization'], timeoutMs: 60_000})
      const src = rootSource(state, rootKustomization(state, homelab.config.cluster.path))
      if (!src) return {detail: 'no GitRepository in the cluster', fix: 'run `homelab cluster bootstrap`', ok: false}
      const health = assessHealth(src)
      if (health.ready !== 'True') return {detail: `GitRepository ${src.namespace}/${src.name} is not Ready: ${health.message}`, fix: 'fix what the message says (often the deploy key: `homelab cluster bootstrap`), then `homelab reconcile`', ok: false}
      return {detail: `GitRepository ${src.namespace}/${src.name} fetched ${src.artifact?.revision.raw ?? 'its revision'}`, ok: true}
    }),
    check('backup-units', 'deploy the host configuration with the backup module (nixos/backup.nix): `homelab deploy`', async () => {
      const r = await connection.exec(`systemctl show ${BACKUP_UNITS.map((u) => shellQuote(u)).join(' ')} -p Id -p LoadState`, {timeoutMs: 60_000})
      const states = new Map<string, string>()
      for (const block of r.stdout.split(/\n\s*\n/)) {
        const id = /^Id=(.*)$/m.exec(block)?.[1]
        const load = /^LoadState=(.*)$/m.exec(block)?.[1]
        if (id) states.set(id, load ?? '')
      }

      const missing = BACKUP_UNITS.filter((u) => states.get(u) !== 'loaded')
      if (missing.length > 0) return {detail: `not installed: ${missing.map((u) => `${u} (${states.get(u) || 'unknown'})`).join(', ')}`, fix: 'deploy the host configuration with the backup module (nixos/backup.nix): `homelab deploy`', ok: false}
      return {detail: BACKUP_UNITS.join(', '), ok: true}
    }),
    check('backup-runs', 'see `homelab backup status`; run one now with `homelab backup run`', async () => {
      const status = await readBackupStatus({connection, homelab, host: host.name, now: options.now})
      if (!status.ok) return {detail: status.problems.slice(0, 3).join('; ') + (status.problems.length > 3 ? `; and ${status.problems.length - 3} more` : ''), fix: 'see `homelab backup status`; run one now with `homelab backup run`', ok: false}
      const last = status.lastRun ? `last run ${status.lastRun.end} (${status.lastRun.result})` : 'no run yet'
      return {detail: `${status.sources.length} sources fresh, ${last}, R2 sync ${status.sync.state}`, ok: true}
    }),
    (async () => {
      const root = homelab.config.storage.root
      const r = await connection.exec(`df -Pk ${shellQuote(root)} /boot`, {timeoutMs: 60_000}).catch((error: unknown) => ({exitCode: 1, stderr: message(error), stdout: ''}))
      const rows = parseDf(r.stdout)
      const one = (id: 'disk-boot' | 'disk-storage', where: string, row: ReturnType<typeof parseDf>[number] | undefined): DoctorCheck => {
        const title = HOST_CHECK_TITLES[id]!
        if (!row) return {detail: `df ${where}: ${r.stderr.trim().split('\n').find((l) => l.includes(where)) ?? 'no answer'}`, fix: `check that ${where} exists on the host`, id, status: 'fail', title}
        const ok = row.usedPercent < DISK_FULL_PERCENT
        return {detail: `${where} (on ${row.mount}) ${row.usedPercent}% used, ${gib(row.availableBytes)} free`, fix: ok ? null : `free space on ${row.mount} (${id === 'disk-boot' ? 'old generations: `homelab host exec --sudo -- nix-collect-garbage --delete-older-than 14d`, then `homelab deploy`' : 'app data, or Kopia\'s cache'})`, id, status: ok ? 'ok' : 'fail', title}
      }

      // df prints one row per path given that exists, in order; a missing path is an error line instead.
      const storageRow = r.stderr.includes(root) ? undefined : rows[0]
      const bootRow = r.stderr.includes('/boot') ? undefined : rows[storageRow ? 1 : 0]
      return [one('disk-storage', root, storageRow), one('disk-boot', '/boot', bootRow)]
    })(),
  ])

  return [sudo, fetchCheck, ageCheck, clusterAge, nodes, controllers, source, units, runs, ...disks]
}
