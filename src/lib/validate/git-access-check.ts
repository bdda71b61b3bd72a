import {promises as fs} from 'node:fs'
import path from 'node:path'

import {type GitAccess, loadGitAccess} from '../config/git-access.js'
import type {Homelab} from '../config/load.js'
import {ConfigError} from '../errors.js'
import type {FindingList} from './finding.js'

/** The host bootstrap flake's reference copy, whose `homelab` input URL the method must fit. */
export const HOST_BOOTSTRAP_FLAKE = 'nixos/flake.nix'

/** The URL of input `input` in a host bootstrap flake: the first `url = "…";` after `[inputs.]<input> = {` (or `[inputs.]<input>.url = "…";`). */
export function flakeInputUrl(text: string, input: string): {line: number; url: string} | undefined {
  const lines = text.split('\n')
  const escaped = input.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')
  for (const [i, line] of lines.entries()) {
    const direct = new RegExp(`^\\s*(inputs\\.)?${escaped}\\.url\\s*=\\s*"([^"]+)"`).exec(line)
    if (direct) return {line: i + 1, url: direct[2]}
    if (!new RegExp(`^\\s*(inputs\\.)?${escaped}\\s*=\\s*\\{`).test(line)) continue
    for (let j = i + 1; j < lines.length && !/^\s*};/.test(lines[j]); j++) {
      const url = /^\s*url\s*=\s*"([^"]+)"/.exec(lines[j])
      if (url) return {line: j + 1, url: url[1]}
    }
  }

  return undefined
}

/** Which access method a flake URL needs: git+ssh → deploy-key; github:, gitlab:, git+https, https tarballs → token. */
export function methodForUrl(url: string): GitAccess['method'] | undefined {
  if (/^git\+ssh:\/\//.test(url)) return 'deploy-key'
  if (/^(github|gitlab|sourcehut):|^git\+https:\/\/|^https:\/\//.test(url)) return 'token'
  return undefined
}

/**
 * The git access file (homelab.yaml `git.hostAccess`) loads and fits the host bootstrap flake:
 * a `deploy-key` method needs a `git+ssh://` homelab input on the forge it names, `token` an
 * https/github:/gitlab: one. Errors go to `out`; a missing bootstrap flake is left to other checks.
 */
export async function checkGitAccess(out: FindingList, homelab: Homelab): Promise<void> {
  let access: GitAccess & {file: string}
  try {
    access = await loadGitAccess(homelab)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    const match = /^(.+?):(\d+): (.*)$/s.exec(error.message)
    if (match) out.error(match[1], Number(match[2]), match[3])
    else out.error(homelab.config.git.hostAccess, 1, error.message.replace(/^[^:]+: /, ''))
    return
  }

  const text = await fs.readFile(path.join(homelab.root, HOST_BOOTSTRAP_FLAKE), 'utf8').catch(() => undefined)
  const input = homelab.config.hosts[0]?.flakeInput ?? 'homelab'
  const found = text === undefined ? undefined : flakeInputUrl(text, input)
  if (!found) return
  const needs = methodForUrl(found.url)
  if (needs && needs !== access.method)
    out.error(HOST_BOOTSTRAP_FLAKE, found.line, `input ${input} is ${found.url}, which needs method ${needs}, but ${access.file} says ${access.method}: make them agree`)
  else if (access.method === 'deploy-key' && needs === 'deploy-key') {
    const host = /^git\+ssh:\/\/(?:[^@/]+@)?([^/:]+)/.exec(found.url)?.[1]
    if (host && host !== access.forge)
      out.error(HOST_BOOTSTRAP_FLAKE, found.line, `input ${input} is fetched from ${host}, but ${access.file} pins the host keys of ${access.forge}: set forge and forgeHostKeys for ${host}`)
  }
}
