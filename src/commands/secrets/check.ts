import {Flags} from '@oclif/core'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {HomelabCommand} from '../../base-command.js'
import {HomelabError} from '../../lib/errors.js'
import type {SecretsCheckReport} from '../../lib/sops/check.js'
import {colors, mark} from '../../ui/color.js'

/**
 * `homelab secrets check --json` result: the report, plus the hook path with --install-hook.
 * `macRequired`: unverified MACs fail the check (--require-mac or CI); then `ok` is false when
 * `macUnchecked` is not empty.
 */
export type SecretsCheckResult = SecretsCheckReport & {staged: boolean; hook?: string; macRequired: boolean}

/** True when the environment says this is a CI run (`CI` set, and not `false`/`0`). */
function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI?.trim().toLowerCase()
  return Boolean(value) && value !== 'false' && value !== '0'
}

export default class SecretsCheck extends HomelabCommand {
  static override summary = 'Check that no secret is committed in plaintext and every SOPS file has the right recipients and a valid MAC.'

  static override description = `Checks the homelab's files (or, with --staged, the versions staged for the next commit):
  - every file a .sops.yaml creation rule matches is a SOPS file encrypted to exactly that rule's recipients;
  - every SOPS file's MAC verifies, when one of your age identities is a recipient (otherwise it is listed as not verified);
  - no Kubernetes Secret with data or stringData lies in plaintext under flux/;
  - no *.sops.yaml is a symbolic link leading out of the repository (not with --staged);
  - every SOPS file (named *.sops.yaml, or with a sops block) is matched by a creation rule; a creation rule that matches no file is a warning (not with --staged).
Exits 1 on any finding. A MAC that could not be verified (no identity) is said so, never counted as passed; with --require-mac, or under CI (CI=true), it is a failure (exit 1). --install-hook installs the check as the repository's git pre-commit hook.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Check every file of the homelab.'},
    {command: '<%= config.bin %> <%= command.id %> --staged', description: 'Check what is staged for the next commit (what the hook runs).'},
    {command: '<%= config.bin %> <%= command.id %> --install-hook', description: 'Install the git pre-commit hook.'},
    {command: 'SOPS_AGE_KEY_FILE=~/key.txt <%= config.bin %> <%= command.id %> --require-mac', description: 'Fail unless every SOPS file\'s MAC was verified.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    staged: Flags.boolean({description: 'check the files staged in git (the index), not the working tree', default: false}),
    'install-hook': Flags.boolean({description: 'install `homelab secrets check --staged` as the git pre-commit hook', default: false}),
    'require-mac': Flags.boolean({description: 'fail (exit 1) when a SOPS file\'s MAC cannot be verified for lack of an identity (the default under CI=true)', default: false}),
  }

  async run(): Promise<SecretsCheckResult> {
    const {flags} = await this.parse(SecretsCheck)
    const homelab = await this.homelab(flags.repo)
    const root = homelab.root
    const {loadIdentities, loadSopsConfig} = await import('../../lib/sops/index.js')
    const {checkSecrets, HOOK_MARKER, preCommitHook} = await import('../../lib/sops/check.js')
    const {listRepoFiles} = await import('../../lib/validate/repo-files.js')
    const {execa} = await import('execa')
    const git = async (args: string[]) => {
      const r = await execa('git', args, {cwd: root, reject: false})
      if (r.exitCode !== 0) throw new HomelabError(`git ${args[0]} failed in ${root}: ${r.stderr.split('\n')[0]}`, {suggestions: ['run it inside a git repository']})
      return r.stdout
    }

    let hook: string | undefined
    if (flags['install-hook']) {
      hook = path.resolve(root, await git(['rev-parse', '--git-path', 'hooks/pre-commit']))
      const existing = await fs.readFile(hook, 'utf8').catch(() => undefined)
      if (existing !== undefined && !existing.includes(HOOK_MARKER))
        throw new HomelabError(`${hook} already exists and is not homelab's hook; nothing was changed`, {
          suggestions: ['add the line `homelab secrets check --staged || exit 1` to it yourself'],
        })
      await fs.mkdir(path.dirname(hook), {recursive: true})
      const {writeFileAtomic} = await import('../../lib/fs/atomic-write.js')
      await writeFileAtomic(hook, preCommitHook({entry: path.resolve(process.argv[1]), node: process.execPath}), {mode: 0o755})
      if (!this.jsonEnabled()) this.log(`installed the pre-commit hook ${path.relative(root, hook)}`)
    }

    const inputs: Array<{rel: string; text: string}> = []
    let repoFiles: string[] | undefined
    let outsideLinks: Array<{rel: string; target: string}> | undefined
    if (flags.staged) {
      const names = (await git(['diff', '--cached', '--name-only', '--diff-filter=ACMR', '-z'])).split('\0').filter(Boolean)
      for (const rel of names) {
        if (!/\.(ya?ml|json)$/i.test(rel)) continue
        inputs.push({rel, text: await git(['show', `:${rel}`])})
      }
    } else {
      repoFiles = await listRepoFiles(root)
      const {listLinksOutside} = await import('../../lib/fs/inside-repo.js')
      const {IGNORED_DIRS, IGNORED_TOP_DIRS} = await import('../../lib/validate/repo-files.js')
      outsideLinks = await listLinksOutside(root, (rel, name) => IGNORED_DIRS.has(name) || (!rel.includes('/') && IGNORED_TOP_DIRS.has(name)))
      for (const rel of repoFiles) {
        if (!/\.(ya?ml|json)$/i.test(rel)) continue
        inputs.push({rel, text: await fs.readFile(path.join(root, rel), 'utf8')})
      }
    }

    const config = await loadSopsConfig({dir: root})
    const identities = await loadIdentities({env: process.env, homeDir: os.homedir()})
    const report = await checkSecrets({config, identities, inputs, outsideLinks, repoFiles, root})
    const macRequired = flags['require-mac'] || isCI()
    const unverified = report.macUnchecked.length
    const ok = report.ok && !(macRequired && unverified > 0)
    if (!this.jsonEnabled()) {
      const c = colors()
      const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
      for (const w of report.warnings) this.log(`${c.yellow('!')} warning: ${w.message}`)
      for (const f of report.findings) this.log(`${mark(false, c)} ${f.message}`)
      for (const file of report.macUnchecked) this.log(`- ${file}: MAC NOT verified (no age identity for its recipients)`)
      const counts = `${plural(report.checked, 'file')} checked${flags.staged ? ' (staged)' : ''}, ${plural(report.macVerified, 'MAC')} verified, ${plural(report.findings.length, 'finding')}`
      if (unverified === 0) this.log(`${mark(ok, c)} ${counts}`)
      else {
        const why = `the MACs of ${plural(unverified, 'SOPS file')} were NOT verified: no age identity for their recipients (set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY)`
        const lead = ok ? c.yellow('!') : mark(false, c)
        this.log(`${lead} ${counts}; ${why}${macRequired ? `; this fails ${flags['require-mac'] ? 'with --require-mac' : 'under CI'}` : ''}`)
      }
    }

    if (!ok) process.exitCode = 1
    return {...report, hook, macRequired, ok, staged: flags.staged}
  }
}
