import {promises as fs} from 'node:fs'
import path from 'node:path'

import {defaultKeyFile, loadIdentities, parseIdentities, type AgeIdentity} from '../../age/identities.js'
import type {Homelab} from '../../config/load.js'
import {checkSecrets} from '../../sops/check.js'
import {loadSopsConfig} from '../../sops/creation-rules.js'
import {listRepoFiles} from '../../validate/repo-files.js'
import type {DoctorCheck} from './types.js'

const message = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * The checks that need no host: the operator's age key file (exists, holds identities, mode
 * 0600), whether it decrypts every SOPS file of the repository (their MACs verify), and whether
 * the SOPS files match `.sops.yaml` (recipients, rules, nothing in plaintext): the checks of
 * `homelab secrets check` (src/lib/sops/check.ts), split into ✓/✗ lines. Never throws.
 * @param options.env where SOPS_AGE_KEY_FILE / SOPS_AGE_KEY / XDG_CONFIG_HOME are read
 * @param options.homeDir the operator's home (for ~/.config/sops/age/keys.txt)
 */
export async function offlineChecks(options: {homelab: Homelab; env: Record<string, string | undefined>; homeDir: string}): Promise<DoctorCheck[]> {
  const {env, homelab} = options
  const file = env.SOPS_AGE_KEY_FILE || defaultKeyFile({env, homeDir: options.homeDir})
  const checks: DoctorCheck[] = []
  let stat: Awaited<ReturnType<typeof fs.stat>> | undefined
  let fileIdentities: AgeIdentity[] = []
  try {
    stat = await fs.stat(file)
    fileIdentities = await parseIdentities(await fs.readFile(file, 'utf8'), file)
    if (fileIdentities.length === 0) throw new Error(`${file} holds no age identity`)
    checks.push({detail: `${file}: ${fileIdentities.map((i) => i.recipient).join(', ')}`, fix: null, id: 'sops-key-file', status: 'ok', title: 'sops key file exists'})
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
    checks.push({
      detail: missing ? `${file} does not exist${env.SOPS_AGE_KEY ? ' (SOPS_AGE_KEY is set and used instead)' : ''}` : message(error),
      fix: missing ? 'put your age identity there (homelab init makes one; `homelab secrets rotate-key` replaces it), or point SOPS_AGE_KEY_FILE at it' : `fix ${file}: one AGE-SECRET-KEY-1… line per identity, # comments`,
      id: 'sops-key-file',
      status: missing && env.SOPS_AGE_KEY ? 'ok' : 'fail',
      title: 'sops key file exists',
    })
  }

  if (stat) {
    const mode = Number(stat.mode) & 0o777
    const ok = (mode & 0o077) === 0
    checks.push({
      detail: `${file} has mode 0${mode.toString(8)}${ok ? '' : ': group or others can read your age key'}`,
      fix: ok ? null : `chmod 600 ${file}`,
      id: 'sops-key-mode',
      status: ok ? 'ok' : 'fail',
      title: 'sops key file mode 0600',
    })
  } else checks.push({detail: 'no key file', fix: null, id: 'sops-key-mode', status: 'skip', title: 'sops key file mode 0600'})

  try {
    const identities = await loadIdentities({env, homeDir: options.homeDir})
    const repoFiles = await listRepoFiles(homelab.root)
    const inputs = []
    for (const rel of repoFiles) if (/\.(ya?ml|json)$/i.test(rel)) inputs.push({rel, text: await fs.readFile(path.join(homelab.root, rel), 'utf8')})
    const config = await loadSopsConfig({dir: homelab.root})
    const report = await checkSecrets({config, identities, inputs, repoFiles, root: homelab.root})
    const macs = report.findings.filter((f) => f.kind === 'mac')
    const undecidable = report.macUnchecked
    const decryptOk = macs.length === 0 && undecidable.length === 0
    checks.push({
      detail: decryptOk
        ? `${report.macVerified} SOPS file${report.macVerified === 1 ? '' : 's'} decrypted, MACs verified`
        : [...macs.map((f) => f.message), ...undecidable.map((f) => `${f}: none of your identities is a recipient`)].join('; '),
      fix: decryptOk ? null : undecidable.length > 0 ? 'use the key the files are encrypted to (SOPS_AGE_KEY_FILE), or have a recipient add yours (.sops.yaml, then `homelab secrets updatekeys`)' : 'the file was changed outside sops: restore it from git',
      id: 'sops-decrypt',
      status: decryptOk ? 'ok' : 'fail',
      title: "sops key decrypts the repository's SOPS files",
    })
    const others = report.findings.filter((f) => f.kind !== 'mac')
    checks.push({
      detail: others.length === 0 ? `${report.checked} files checked against .sops.yaml` : others.map((f) => f.message).join('; '),
      fix: others.length === 0 ? null : 'run `homelab secrets check` and follow each line (usually `homelab secrets updatekeys FILE`)',
      id: 'sops-recipients',
      status: others.length === 0 ? 'ok' : 'fail',
      title: '.sops.yaml recipients match the files',
    })
  } catch (error) {
    for (const [id, title] of [['sops-decrypt', "sops key decrypts the repository's SOPS files"], ['sops-recipients', '.sops.yaml recipients match the files']] as const)
      checks.push({detail: message(error), fix: 'run `homelab secrets check` for details', id, status: 'fail', title})
  }

  return checks
}
