import {shellQuote, type RemoteRunner} from '../flux/kubectl.js'
import type {SystemStatus} from './types.js'

/** What one host read gives, with the facts it could not read. */
export interface HostFacts {
  generation: SystemStatus['generation']
  /** `system.configurationRevision` of the running system ('' when unset), null when unreadable. */
  configurationRevision: string | null
  /** The homelab input's locked commit in the host flake.lock. */
  flakeLock: {input: string; commit: string; lastModified: string | null} | null
  uptimeSeconds: number | null
  failedUnits: string[] | null
  storage: SystemStatus['storage']
  errors: Array<{fact: string; message: string}>
}

const MARK = '@@homelab'

/**
 * The quick facts as one shell script: each section is `@@homelab <name>`, its output, then
 * `@@homelab rc <status>`. One channel for all of them (they take milliseconds).
 */
export function quickFactsScript(options: {flakeDir: string; storageRoot: string}): string {
  const section = (name: string, command: string) => `echo '${MARK} ${name}'; ${command} 2>&1; echo "${MARK} rc $?"`
  return [
    section('uptime', 'cat /proc/uptime'),
    section('configuration-revision', 'nixos-version --configuration-revision'),
    section('flake-lock', `cat ${shellQuote(`${options.flakeDir}/flake.lock`)}`),
    section('failed-units', 'systemctl list-units --state=failed --no-legend --plain --no-pager'),
    section('disk', `df -Pk ${shellQuote(options.storageRoot)}`),
  ].join('; ')
}

/** Splits the output of {@link quickFactsScript} into sections: name → {output, exitCode}. */
export function splitSections(stdout: string): Map<string, {output: string; exitCode: number}> {
  const out = new Map<string, {output: string; exitCode: number}>()
  let name: string | undefined
  let lines: string[] = []
  for (const line of stdout.split('\n')) {
    if (line.startsWith(`${MARK} rc `) && name) {
      out.set(name, {exitCode: Number(line.slice(MARK.length + 4)), output: lines.join('\n')})
      name = undefined
    } else if (line.startsWith(`${MARK} `)) {
      name = line.slice(MARK.length + 1)
      lines = []
    } else if (name) lines.push(line)
  }

  return out
}

/**
 * `nixos-rebuild list-generations --json` (NixOS >= 23.11): `[{generation, date, nixosVersion,
 * kernelVersion, configurationRevision, specialisations, current}]`; returns the current one.
 */
export function parseGenerations(stdout: string): SystemStatus['generation'] {
  const list = JSON.parse(stdout) as Array<Record<string, unknown>>
  if (!Array.isArray(list)) throw new Error('not a JSON array')
  const current = list.find((g) => g.current === true)
  if (!current) return null
  return {
    builtAt: String(current.date ?? ''),
    kernelVersion: String(current.kernelVersion ?? ''),
    nixosVersion: String(current.nixosVersion ?? ''),
    number: Number(current.generation),
  }
}

/**
 * The locked commit of input `input` in a flake.lock (version 7: `nodes.root.inputs[input]`
 * names the node; `nodes[node].locked.{rev, lastModified}`).
 * @throws Error when the input is missing or has no locked rev
 */
export function parseFlakeLock(text: string, input: string): {input: string; commit: string; lastModified: string | null} {
  const lock = JSON.parse(text) as {nodes?: Record<string, {inputs?: Record<string, unknown>; locked?: {rev?: string; lastModified?: number}}>; root?: string}
  const nodes = lock.nodes ?? {}
  const root = nodes[lock.root ?? 'root']
  const ref = root?.inputs?.[input]
  const key = typeof ref === 'string' ? ref : input
  const locked = nodes[key]?.locked
  if (!locked?.rev) throw new Error(`flake.lock has no locked rev for input "${input}"`)
  return {commit: locked.rev, input, lastModified: locked.lastModified ? new Date(locked.lastModified * 1000).toISOString() : null}
}

/** `systemctl list-units --state=failed --no-legend --plain`: the first column of each line. */
export function parseFailedUnits(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => l.trim().replace(/^[●*]\s*/, '').split(/\s+/)[0])
    .filter((u) => u !== '' && u !== undefined)
}

/** `df -Pk PATH` (POSIX format, 1024-byte blocks): the second line. */
export function parseDf(stdout: string, path: string): NonNullable<SystemStatus['storage']> {
  const line = stdout.trim().split('\n')[1]
  const f = line?.trim().split(/\s+/) ?? []
  if (f.length < 6) throw new Error(`unexpected df output: ${stdout.trim().split('\n')[0]}`)
  const size = Number(f[1]) * 1024
  const used = Number(f[2]) * 1024
  const available = Number(f[3]) * 1024
  return {availableBytes: available, mount: f.slice(5).join(' '), path, sizeBytes: size, usedBytes: used, usedPercent: Number(f[4].replace('%', ''))}
}

/**
 * Reads the host facts over `connection` in parallel (two channels: list-generations, and one
 * script for uptime, configuration revision, flake.lock, failed units and disk use; flake.lock
 * again through sudo when the SSH user may not read it).
 * Never throws for one fact: each unreadable fact is null and listed in `errors`.
 */
export async function readHostFacts(options: {connection: RemoteRunner; flakeDir: string; flakeInput: string; storageRoot: string; timeoutMs?: number}): Promise<HostFacts> {
  const {connection} = options
  const errors: HostFacts['errors'] = []
  const fail = (fact: string, message: string) => {
    errors.push({fact, message: message.trim().split('\n')[0] || 'failed'})
    return null
  }

  const [gens, quick] = await Promise.all([
    connection.exec('nixos-rebuild list-generations --json', {timeoutMs: options.timeoutMs}).catch((error: Error) => ({exitCode: -1, stderr: error.message, stdout: ''})),
    connection.exec(quickFactsScript(options), {timeoutMs: options.timeoutMs}).catch((error: Error) => ({exitCode: -1, stderr: error.message, stdout: ''})),
  ])

  let generation: HostFacts['generation'] = null
  if (gens.exitCode === 0) {
    try {
      generation = parseGenerations(gens.stdout)
      if (!generation) fail('generation', 'no current generation in nixos-rebuild list-generations')
    } catch (error) {
      fail('generation', `nixos-rebuild list-generations --json: ${(error as Error).message}`)
    }
  } else fail('generation', `nixos-rebuild list-generations --json: ${gens.stderr || gens.stdout}`)

  const sections = splitSections(quick.stdout)
  const section = (name: string, what: string): string | null => {
    const s = sections.get(name)
    if (!s) return fail(name, `${what}: ${quick.stderr || 'no output'}`)
    if (s.exitCode !== 0) return fail(name, `${what}: ${s.output || `exit status ${s.exitCode}`}`)
    return s.output
  }

  const parse = <T>(fact: string, what: string, fn: (text: string) => T): T | null => {
    const text = section(fact, what)
    if (text === null) return null
    try {
      return fn(text)
    } catch (error) {
      return fail(fact, `${what}: ${(error as Error).message}`)
    }
  }

  // The host flake folder may be root-only: read flake.lock through sudo then.
  const lock = sections.get('flake-lock')
  if (lock && lock.exitCode !== 0 && /permission denied/i.test(lock.output)) {
    const viaSudo = await connection.sudo(`cat ${shellQuote(`${options.flakeDir}/flake.lock`)}`, {timeoutMs: options.timeoutMs}).catch((error: Error) => ({exitCode: -1, stderr: error.message, stdout: ''}))
    sections.set('flake-lock', {exitCode: viaSudo.exitCode ?? -1, output: viaSudo.exitCode === 0 ? viaSudo.stdout : viaSudo.stderr || viaSudo.stdout})
  }

  return {
    configurationRevision: parse('configuration-revision', 'nixos-version --configuration-revision', (t) => t.trim()),
    errors,
    failedUnits: parse('failed-units', 'systemctl --failed', parseFailedUnits),
    flakeLock: parse('flake-lock', `${options.flakeDir}/flake.lock`, (t) => parseFlakeLock(t, options.flakeInput)),
    generation,
    storage: parse('disk', `df ${options.storageRoot}`, (t) => parseDf(t, options.storageRoot)),
    uptimeSeconds: parse('uptime', '/proc/uptime', (t) => {
      const n = Number(t.trim().split(/\s+/)[0])
      if (!Number.isFinite(n)) throw new Error('not a number')
      return Math.floor(n)
    }),
  }
}
