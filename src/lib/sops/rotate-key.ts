import {createHash} from 'node:crypto'
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'

import {type AgeIdentity, defaultKeyFile, formatIdentity, generateIdentity, loadIdentities} from '../age/identities.js'
import {assertKeyFileOutsideGitWorkTree} from '../age/key-file-location.js'
import {HomelabError} from '../errors.js'
import {writeFileAtomic} from '../fs/atomic-write.js'
import {loadSopsConfig, matchCreationRule} from './creation-rules.js'
import {SopsError} from './errors.js'
import {decryptSopsFile, rotateSopsFile, updateSopsKeys} from './files.js'
import {readSopsMetadata} from './metadata.js'
import {listSopsFiles} from './repo.js'
import {editSopsConfigRecipients} from './sops-config-edit.js'

/**
 * The steps of `homelab secrets rotate-key`, in order. After each one the state file records it,
 * so a run that crashed or was interrupted resumes after the last finished step.
 * - `identity`: a new age identity appended to the operator's key file (0600)
 * - `sops-config-both`: the new recipient added next to the old one in `.sops.yaml`
 * - `files-both`: every SOPS file a creation rule matches encrypted to both (updatekeys)
 * - `host`: the new (and old) identity installed on every host as /var/lib/sops-nix/key.txt, and the host decrypts a file with it
 * - `cluster`: the same key in the Secret flux-system/sops-age (key age.agekey), verified
 * - `sops-config-new`: the old recipient removed from `.sops.yaml`
 * - `files-new`: every file updated again, to the new recipient only
 */
export const ROTATE_KEY_STEPS = ['identity', 'sops-config-both', 'files-both', 'host', 'cluster', 'sops-config-new', 'files-new'] as const
export type RotateKeyStep = (typeof ROTATE_KEY_STEPS)[number]

/** The resumable state (JSON, 0600) under the operator's state folder. Holds no secret. */
export interface RotateKeyState {
  version: 1
  /** Absolute repository root. */
  repo: string
  /** The operator key file the new identity was appended to. */
  keyFile: string
  oldRecipients: string[]
  newRecipient: string
  /** Finished steps, in order. */
  done: RotateKeyStep[]
  startedAt: string
}

/** What the host and cluster steps need; implemented over SSH by the command (rotate-key-remote.ts). */
export interface RotateKeyRemote {
  /**
   * Installs `keyText` (age key file: the new and the old identities) as /var/lib/sops-nix/key.txt
   * (root, 0600) on every host, then proves each host decrypts `probe.armored` (an age stanza of a
   * SOPS file for the new recipient) to the data key whose base64 is `probe.dataKeyBase64`.
   * @throws HomelabError naming the host when a step fails
   */
  installHostKey(keyText: string, probe: {file: string; armored: string; dataKeyBase64: string}): Promise<void>
  /**
   * Writes `keyText` into the Secret flux-system/sops-age (key age.agekey) and verifies the stored
   * bytes (their SHA-256 is `sha256`).
   * @throws HomelabError when kubectl fails or the Secret does not hold the key
   */
  installClusterKey(keyText: string, sha256: string): Promise<void>
}

/** Options for {@link rotateKey}. */
export interface RotateKeyOptions {
  /** Repository root (holds .sops.yaml). */
  root: string
  env: Record<string, string | undefined>
  homeDir: string
  /** Host and cluster steps; required to finish (the repo side runs without it and stops before `host`). */
  remote?: RotateKeyRemote
  /** Called after each finished step, after the state is saved (progress, tests' crash injection). */
  afterStep?(step: RotateKeyStep, state: RotateKeyState): void | Promise<void>
  /** Progress lines (no secret values). */
  log?(line: string): void
  now?: Date
}

/** The outcome of {@link rotateKey}. */
export interface RotateKeyResult {
  oldRecipients: string[]
  newRecipient: string
  keyFile: string
  /** Repository-relative SOPS files updated. */
  files: string[]
  /** True when this run resumed an interrupted one. */
  resumed: boolean
  /** Steps finished by this run. */
  steps: RotateKeyStep[]
  /** False when the run stopped before `host` because no remote was given. */
  complete: boolean
}

/** Path of the state file: `$XDG_STATE_HOME/homelab/rotate-key-<sha256(repo)[:16]>.json` (default ~/.local/state). */
export function rotateKeyStateFile(root: string, env: Record<string, string | undefined>, homeDir: string): string {
  const base = env.XDG_STATE_HOME || path.join(homeDir, '.local', 'state')
  const hash = createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 16)
  return path.join(base, 'homelab', `rotate-key-${hash}.json`)
}

/** Reads the state of an unfinished rotation of `root`, or undefined. @throws HomelabError for an unreadable state file */
export async function readRotateKeyState(file: string): Promise<RotateKeyState | undefined> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }

  try {
    const state = JSON.parse(text) as RotateKeyState
    if (state.version !== 1 || !Array.isArray(state.done) || typeof state.newRecipient !== 'string') throw new Error('unknown shape')
    return state
  } catch (error) {
    throw new HomelabError(`${file}: unreadable rotate-key state (${(error as Error).message})`, {suggestions: [`inspect or remove ${file}, then run the command again`]})
  }
}

async function saveState(file: string, state: RotateKeyState): Promise<void> {
  await fs.mkdir(path.dirname(file), {mode: 0o700, recursive: true})
  await writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`, {mode: 0o600})
}

/**
 * `homelab secrets rotate-key`: replaces the homelab's age identity end to end, resumably (see
 * {@link ROTATE_KEY_STEPS}). Both identities stay in the operator key file throughout, and every
 * file is encrypted to the old or the new recipient (or both) at every moment, so no crash leaves
 * a file that no available identity decrypts. The old identity also stays on the host and in the
 * cluster Secret (files already deployed are encrypted to it); the operator key file keeps it too.
 *
 * @throws UsageError (exit 3), before anything is generated or written, when the key file the new
 *   identity goes to (SOPS_AGE_KEY_FILE, else the user key file) is inside a git work tree
 * @throws HomelabError / SopsError / SopsConfigError naming the step, file or host that failed;
 *   the state file is kept so the next run resumes there
 */
export async function rotateKey(options: RotateKeyOptions): Promise<RotateKeyResult> {
  const root = path.resolve(options.root)
  const log = options.log ?? (() => {})
  const stateFile = rotateKeyStateFile(root, options.env, options.homeDir)
  let state = await readRotateKeyState(stateFile)
  const resumed = state !== undefined
  const steps: RotateKeyStep[] = []
  const config = await loadSopsConfig({dir: root})
  const sopsYaml = config.file
  let identities = await loadIdentities({env: options.env, homeDir: options.homeDir})

  if (!state) {
    const mine = new Set(identities.map((i) => i.recipient))
    const oldRecipients = [...new Set(config.rules.flatMap((r) => r.recipients))].filter((r) => mine.has(r))
    if (oldRecipients.length === 0)
      throw new SopsError(`none of your age identities is a recipient in ${sopsYaml}`, {
        suggestions: ['set SOPS_AGE_KEY_FILE to the key file of the homelab identity you want to replace'],
      })
    const keyFile = options.env.SOPS_AGE_KEY_FILE || defaultKeyFile({env: options.env, homeDir: options.homeDir})
    // The new private key is never appended to a file that could be committed.
    await assertKeyFileOutsideGitWorkTree(keyFile, options.env)
    // Every file must open before anything changes.
    for (const rel of await listSopsFiles(root)) await decryptSopsFile({displayName: rel, file: path.join(root, rel), identities})
    const fresh = await generateIdentity()
    await fs.mkdir(path.dirname(keyFile), {mode: 0o700, recursive: true})
    const existing = existsSync(keyFile) ? await fs.readFile(keyFile, 'utf8') : ''
    await writeFileAtomic(keyFile, `${existing}${existing === '' || existing.endsWith('\n') ? '' : '\n'}${formatIdentity(fresh, options.now ?? new Date())}`, {mode: 0o600})
    state = {done: ['identity'], keyFile, newRecipient: fresh.recipient, oldRecipients, repo: root, startedAt: (options.now ?? new Date()).toISOString(), version: 1}
    await saveState(stateFile, state)
    steps.push('identity')
    log(`new age identity ${fresh.recipient} appended to ${keyFile}`)
    await options.afterStep?.('identity', state)
    identities = await loadIdentities({env: options.env, homeDir: options.homeDir})
  } else {
    log(`resuming the rotation to ${state.newRecipient} after step ${state.done.at(-1)}`)
  }

  const current = state
  const newIdentity = identities.find((i) => i.recipient === current.newRecipient)
  if (!newIdentity)
    throw new HomelabError(`the new identity ${current.newRecipient} is not in your key files (${current.keyFile}); cannot resume`, {
      suggestions: [`set SOPS_AGE_KEY_FILE=${current.keyFile}`, `or remove ${stateFile} to start over`],
    })
  const oldIdentities = identities.filter((i) => current.oldRecipients.includes(i.recipient))
  const keyText = [newIdentity, ...oldIdentities].map((i) => formatIdentity(i, new Date(current.startedAt))).join('')
  const files: string[] = []

  const run = async (step: RotateKeyStep, work: () => Promise<void>) => {
    if (current.done.includes(step)) return
    await work()
    current.done.push(step)
    await saveState(stateFile, current)
    steps.push(step)
    await options.afterStep?.(step, current)
  }

  // With `rotateDataKeys`, each file also gets a new data key once its recipients are the new
  // ones only: whoever holds the old identity and an old copy of a file (git history) could
  // otherwise still unwrap today's data key.
  const updateAll = async (rotateDataKeys = false) => {
    const cfg = await loadSopsConfig({dir: root})
    for (const rel of await listSopsFiles(root)) {
      if (!matchCreationRule(cfg, path.join(root, rel))) continue
      const r = await updateSopsKeys({config: cfg, displayName: rel, file: path.join(root, rel), identities})
      if (!files.includes(rel)) files.push(rel)
      if (r.changed) log(`${rel}: ${[...r.added.map((a) => `+${a}`), ...r.removed.map((a) => `-${a}`)].join(' ')}`)
      if (rotateDataKeys) await rotateSopsFile({displayName: rel, file: path.join(root, rel), identities})
    }
    if (rotateDataKeys) log(`new data keys for ${files.length} files`)
  }

  await run('sops-config-both', async () => {
    const text = await fs.readFile(sopsYaml, 'utf8')
    const edited = editSopsConfigRecipients(text, sopsYaml, {add: current.newRecipient, whenAny: current.oldRecipients})
    if (edited.text !== text) await writeFileAtomic(sopsYaml, edited.text)
    log(`${path.relative(root, sopsYaml)}: added ${current.newRecipient}`)
  })
  await run('files-both', () => updateAll())

  if (!options.remote) {
    log('stopped before the host and cluster steps (no connection); run the command again to finish')
    return {complete: false, files, keyFile: current.keyFile, newRecipient: current.newRecipient, oldRecipients: current.oldRecipients, resumed, steps}
  }

  const remote = options.remote
  await run('host', async () => {
    const probe = await hostProbe(root, current.newRecipient, identities)
    await remote.installHostKey(keyText, probe)
    log('host: /var/lib/sops-nix/key.txt holds the new identity and decrypts a file')
  })
  await run('cluster', async () => {
    await remote.installClusterKey(keyText, createHash('sha256').update(keyText).digest('hex'))
    log('cluster: Secret flux-system/sops-age holds the new identity')
  })
  await run('sops-config-new', async () => {
    const text = await fs.readFile(sopsYaml, 'utf8')
    const edited = editSopsConfigRecipients(text, sopsYaml, {remove: current.oldRecipients, whenAny: [current.newRecipient]})
    if (edited.text !== text) await writeFileAtomic(sopsYaml, edited.text)
    log(`${path.relative(root, sopsYaml)}: removed ${current.oldRecipients.join(', ')}`)
  })
  await run('files-new', () => updateAll(true))
  await fs.rm(stateFile, {force: true})
  return {complete: true, files, keyFile: current.keyFile, newRecipient: current.newRecipient, oldRecipients: current.oldRecipients, resumed, steps}
}

/** A host secrets file (the first SOPS file under nixos/, else any) with its stanza for `recipient` and its data key. */
async function hostProbe(root: string, recipient: string, identities: AgeIdentity[]): Promise<{file: string; armored: string; dataKeyBase64: string}> {
  const all = await listSopsFiles(root)
  const candidates = [...all.filter((f) => f.startsWith('nixos/')), ...all.filter((f) => !f.startsWith('nixos/'))]
  for (const rel of candidates) {
    const text = await fs.readFile(path.join(root, rel), 'utf8')
    const meta = readSopsMetadata(text, rel)
    const stanza = meta?.keyGroups.length === 1 ? meta.keyGroups[0].find((s) => s.recipient === recipient) : undefined
    if (!stanza) continue
    const decrypted = await decryptSopsFile({displayName: rel, file: path.join(root, rel), identities})
    return {armored: stanza.enc, dataKeyBase64: Buffer.from(decrypted.dataKey).toString('base64'), file: rel}
  }

  throw new SopsError(`no SOPS file is encrypted to ${recipient} yet: cannot check that the host decrypts one`)
}
