import {currentGeneration, type Generation, parseGenerations} from '../deploy/nix.js'
import {HomelabError} from '../errors.js'
import type {RemoteRunner} from '../flux/kubectl.js'

/**
 * One NixOS generation of a host, for `homelab generations` (shape of nixos-rebuild-ng 25.11
 * `list-generations --json`, NixOS >= 24.11: `{generation, date, nixosVersion, kernelVersion,
 * configurationRevision, specialisations, current}`), renamed for the JSON contract.
 */
export interface GenerationEntry {
  /** The profile generation number (`/nix/var/nix/profiles/system-<number>-link`). */
  number: number
  /** When the generation was made, as nixos-rebuild prints it: `YYYY-MM-DD HH:MM:SS` in the host's time zone. */
  date: string
  nixosVersion: string
  kernelVersion: string
  /** `system.configurationRevision`: the homelab commit the generation was built from; '' when unset. */
  configurationRevision: string
  specialisations: string[]
  /** True for the generation the host runs (/run/current-system). */
  current: boolean
}

/** The remote command that lists the generations (as the login user; root is not needed). */
export const LIST_GENERATIONS = 'nixos-rebuild list-generations --json'

/** Maps nixos-rebuild's entries to {@link GenerationEntry}, newest first. */
export function toEntries(generations: Generation[]): GenerationEntry[] {
  const current = currentGeneration(generations)?.generation
  return [...generations]
    .sort((a, b) => b.generation - a.generation)
    .map((g) => ({
      configurationRevision: g.configurationRevision ?? '',
      current: g.generation === current,
      date: g.date,
      kernelVersion: g.kernelVersion ?? '',
      nixosVersion: g.nixosVersion ?? '',
      number: g.generation,
      specialisations: g.specialisations ?? [],
    }))
}

/**
 * Reads the host's NixOS generations with `nixos-rebuild list-generations --json`.
 * @returns newest first, the running one marked `current`
 * @throws HomelabError (exit 1) when the command fails (e.g. older than NixOS 24.11: no --json)
 *   or prints something other than a JSON array
 */
export async function readGenerations(connection: RemoteRunner): Promise<GenerationEntry[]> {
  const r = await connection.exec(LIST_GENERATIONS)
  if (r.exitCode !== 0) {
    const line = r.stderr.trim().split('\n').find((l) => l.trim() !== '') ?? `exit status ${r.exitCode}`
    throw new HomelabError(`${LIST_GENERATIONS} failed on the host: ${line}`, {suggestions: ['list-generations --json needs nixos-rebuild of NixOS 24.11 or later']})
  }

  try {
    return toEntries(parseGenerations(r.stdout))
  } catch {
    throw new HomelabError(`${LIST_GENERATIONS} printed no JSON array`)
  }
}
