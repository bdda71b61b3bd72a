import type {Homelab} from '../../config/load.js'
import type {HostConfig} from '../../config/schema.js'
import {HomelabError} from '../../errors.js'
import {HostKeyChangedError, UnknownHostKeyError} from '../../ssh/errors.js'
import type {HostConnection} from '../../ssh/index.js'
import {HOST_CHECK_TITLES, hostChecks, skipped} from './host.js'
import {offlineChecks} from './offline.js'
import {DOCTOR_CHECKS, type DoctorCheck, type DoctorReport} from './types.js'

export {DOCTOR_CHECKS, type DoctorCheck, type DoctorCheckId, type DoctorReport} from './types.js'

/**
 * `homelab doctor`: every precondition of the other commands, each a ✓/✗ line with its fix
 * (the ids in {@link DOCTOR_CHECKS}). The offline checks always run (src/lib/diagnose/doctor/offline.ts);
 * unless `offline`, `connect()` opens the SSH connection (its refusal or failure is the
 * host-key / ssh-login check; the other host checks are then skipped) and the host checks run
 * over it (host.ts). The connection is closed before this returns. Never throws for a failed check.
 * @param options.connect opens the connection without pinning anything (no --accept-new-host-key)
 * @throws only what `connect` throws that is not a HomelabError (a bug)
 */
export async function runDoctor(options: {
  homelab: Homelab
  host: HostConfig
  offline: boolean
  env: Record<string, string | undefined>
  homeDir: string
  connect: () => Promise<HostConnection>
  now?: Date
}): Promise<DoctorReport> {
  const checks: DoctorCheck[] = await offlineChecks(options)
  const hostIds = DOCTOR_CHECKS.filter((id) => !checks.some((c) => c.id === id))
  if (options.offline) checks.push(...hostIds.map((id) => skipped(id, '--offline')))
  else {
    let connection: HostConnection | undefined
    try {
      connection = await options.connect()
    } catch (error) {
      if (!(error instanceof HomelabError)) throw error
      const fix = error.suggestions[0] ?? 'check ~/.ssh/config and homelab.yaml ssh:'
      const keyRefused = error instanceof UnknownHostKeyError || error instanceof HostKeyChangedError
      const afterKey = /authentication failed/.test(error.message)
      checks.push(
        keyRefused
          ? {detail: error.message, fix, id: 'host-key', status: 'fail', title: HOST_CHECK_TITLES['host-key']!}
          : afterKey
            ? {detail: 'verified before the login', fix: null, id: 'host-key', status: 'ok', title: HOST_CHECK_TITLES['host-key']!}
            : skipped('host-key', 'the host did not answer'),
        keyRefused ? skipped('ssh-login', 'the host key was refused') : {detail: error.message, fix, id: 'ssh-login', status: 'fail', title: HOST_CHECK_TITLES['ssh-login']!},
        ...hostIds.filter((id) => id !== 'host-key' && id !== 'ssh-login').map((id) => skipped(id, 'needs an SSH login')),
      )
    }

    if (connection) {
      try {
        checks.push(
          {detail: `${connection.hostKeyFingerprint} (pinned in ${options.homelab.config.knownHosts} or ~/.ssh/known_hosts)`, fix: null, id: 'host-key', status: 'ok', title: HOST_CHECK_TITLES['host-key']!},
          {detail: `${connection.target.user}@${connection.target.hostName}:${connection.target.port}`, fix: null, id: 'ssh-login', status: 'ok', title: HOST_CHECK_TITLES['ssh-login']!},
          ...(await hostChecks({connection, homelab: options.homelab, host: options.host, now: options.now})),
        )
      } finally {
        await connection.close()
      }
    }
  }

  const order = new Map<string, number>(DOCTOR_CHECKS.map((id, i) => [id, i]))
  checks.sort((a, b) => order.get(a.id)! - order.get(b.id)!)
  return {
    checkedAt: (options.now ?? new Date()).toISOString(),
    checks,
    host: options.offline ? null : {name: options.host.name, ssh: options.host.ssh},
    ok: checks.every((c) => c.status !== 'fail'),
    offline: options.offline,
    schemaVersion: 1,
  }
}
