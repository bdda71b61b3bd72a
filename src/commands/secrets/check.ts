import {Flags} from '@oclif/core'
import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {HomelabCommand} from '../../base-command.js'
import {HomelabError} from '../../lib/errors.js'
import type {SecretsCheckReport} from '../../lib/sops/check.js'
import {colors, mark} from '../../ui/color.js'

/** `homelab secrets check --json` result: the report, plus the hook path with --install-hook. */
export type SecretsCheckResult = SecretsCheckReport & {staged: boolean; hook?: string}

export default class SecretsCheck extends HomelabCommand {
  static override summary = 'Check that no secret is committed in plaintext and every SOPS file has the right recipients and a valid MAC.'

  static override description = `Checks the homelab's files (or, with --staged, the versions staged for the next commit):
  - every file a .sops.yaml creation rule matches is a SOPS file encrypted to exactly that rule's recipients;
  - every SOPS file's MAC verifies, when one of your age identities is a recipient (otherwise it is listed as not checked);
  - no Kubernetes Secret with data or stringData lies in plaintext under flux/.
Exits 1 on any finding. --install-hook installs the check as the repository's git pre-commit hook.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Check every file of the homelab.'},
    {command: '<%= config.bin %> <%= command.id %> --staged', description: 'Check what is staged for the next commit (what the hook runs).'},
    {command: '<%= config.bin %> <%= command.id %> --install-hook', description: 'Install the git pre-commit hook.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    staged: Flags.boolean({description: 'check the files staged in git (the index), not the working tree', default: false}),
    'install-hook': Flags.boolean({description: 'install `homelab secrets check --staged` as the git pre-commit hook', default: false}),
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
    if (flags.staged) {
      const names = (await git(['diff', '--cached', '--name-only', '--diff-filter=ACMR', '-z'])).split('\0').filter(Boolean)
      for (const rel of names) {
        if (!/\.(ya?ml|json)$/i.test(rel)) continue
        inputs.push({rel, text: await git(['show', `:${rel}`])})
      }
    } else {
      for (const rel of await listRepoFiles(root)) {
        if (!/\.(ya?ml|json)$/i.test(rel)) continue
        inputs.push({rel, text: await fs.readFile(path.join(root, rel), 'utf8')})
      }
    }

    const config = await loadSopsConfig({dir: root})
    const identities = await loadIdentities({env: process.env, homeDir: os.homedir()})
    const report = await checkSecrets({config, identities, inputs, root})
    if (!this.jsonEnabled()) {
      const c = colors()
      for (const f of report.findings) this.log(`${mark(false, c)} ${f.message}`)
      for (const file of report.macUnchecked) this.log(`- ${file}: MAC not checked (no identity for its recipients)`)
      this.log(
        `${mark(report.ok, c)} ${report.checked} file${report.checked === 1 ? '' : 's'} checked${flags.staged ? ' (staged)' : ''}, ${report.macVerified} MAC${report.macVerified === 1 ? '' : 's'} verified, ${report.findings.length} finding${report.findings.length === 1 ? '' : 's'}`,
      )
    }

    if (!report.ok) process.exitCode = 1
    return {...report, hook, staged: flags.staged}
  }
}
