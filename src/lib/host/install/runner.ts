import {spawn} from 'node:child_process'
import {execa} from 'execa'

import {HomelabError} from '../../errors.js'
import {signalExitCode} from '../../signal-exit.js'
import {NIXOS_ANYWHERE_FLAKE} from './nixos-anywhere-flags.js'

/** How nixos-anywhere is started (see {@link locateNixosAnywhere}). */
export type NixosAnywhereRunner = {kind: 'path'; command: string} | {kind: 'nix-run'; nix: string}

/** nixos-anywhere cannot run on this machine: neither on PATH nor a nix that can `nix run` it. */
export class NixosAnywhereMissingError extends HomelabError {}

/**
 * Finds how to run nixos-anywhere: `nixos-anywhere` on PATH when there is one (a Nix profile,
 * a dev shell, the tests' stand-in), else `nix run github:nix-community/nixos-anywhere` when
 * `nix` runs and is 2.4 or later (flakes; nix-command and flakes are switched on per call with
 * --extra-experimental-features).
 *
 * @throws NixosAnywhereMissingError (exit 1) with one line saying how to get it
 */
export async function locateNixosAnywhere(env: NodeJS.ProcessEnv = process.env): Promise<NixosAnywhereRunner> {
  const onPath = await execa('nixos-anywhere', ['--help'], {env, reject: false, stdin: 'ignore', timeout: 20_000}).catch(() => undefined)
  if (onPath && !onPath.failed) return {command: 'nixos-anywhere', kind: 'path'}
  const nix = await execa('nix', ['--version'], {env, reject: false, stdin: 'ignore', timeout: 20_000}).catch(() => undefined)
  const version = nix && !nix.failed ? /(\d+)\.(\d+)/.exec(nix.stdout) : null
  if (version && (Number(version[1]) > 2 || (Number(version[1]) === 2 && Number(version[2]) >= 4))) return {kind: 'nix-run', nix: 'nix'}
  const why = version ? `nix ${version[0]} is too old for flakes (2.4 or later)` : 'nix is not installed'
  throw new NixosAnywhereMissingError(`nixos-anywhere is not on PATH and ${why}: install Nix (https://nixos.org/download), homelab then runs nix run ${NIXOS_ANYWHERE_FLAKE}; or put nixos-anywhere on PATH`)
}

/** How a nixos-anywhere run ended. */
export interface NixosAnywhereExit {
  /** Its exit code (a signal that ended it gives 128 + the signal's number). */
  code: number
  /** The signal this process got while it ran (forwarded to nixos-anywhere), if any. */
  interrupted?: NodeJS.Signals
}

/**
 * Runs nixos-anywhere: its output (both streams) goes to this process's stderr, so --json stays
 * clean; stdin is the terminal when there is one (ssh may ask for the installer's password), else
 * nothing. SIGINT, SIGTERM and SIGHUP are forwarded to it and this process waits for it to end,
 * so the caller can remove the private folder (which holds the host's keys) before exiting.
 */
export async function runNixosAnywhere(argv: string[], options: {env?: NodeJS.ProcessEnv; interactive: boolean}): Promise<NixosAnywhereExit> {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  let interrupted: NodeJS.Signals | undefined
  const child = spawn(argv[0], argv.slice(1), {env: options.env ?? process.env, stdio: [options.interactive ? 'inherit' : 'ignore', 2, 2]})
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted ??= signal
    child.kill(signal)
  }

  for (const s of signals) process.on(s, onSignal)
  try {
    return await new Promise<NixosAnywhereExit>((resolve, reject) => {
      child.on('error', reject)
      child.on('exit', (code, signal) => resolve({code: code ?? (signal ? signalExitCode(signal) : 1), interrupted}))
    })
  } finally {
    for (const s of signals) process.off(s, onSignal)
  }
}
