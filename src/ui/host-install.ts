/** One file of the `--extra-files` tree as reported: never a secret value, only where it comes from. */
export interface HostInstallFile {
  path: string
  mode: string
  owner: string
  source: string
}

/** `homelab host install --json` result. */
export interface HostInstallResult {
  host: string
  target: string
  /** The disk the install erases (homelab.diskDevice). */
  disk: string
  dryRun: boolean
  /** The nixos-anywhere command line, argv and shell-quoted (`<workdir>` in a dry run stands for the private temp folder). */
  argv: string[]
  command: string
  extraFiles: HostInstallFile[]
  /** The flake nixos-anywhere builds: the copied bootstrap flake with its input `input` overridden to `url` (this work tree). */
  builtFrom: {input: string; url: string}
  /** `set` (a new hash), `kept` (the stored one), `missing` (dry run without one). */
  passwordHash: 'set' | 'kept' | 'missing'
  /** `generate` / `generated` when a deploy key is (to be) made, `present`, or `not used` (token method). */
  deployKey: 'generate' | 'generated' | 'present' | 'not used'
  deployKeyPublic?: string
  hostKeyFingerprint?: string
  /** Repository-relative files the install changed (known_hosts, the host secrets file). */
  changedFiles?: string[]
  /** The commit holding them, when the install committed them. */
  commit?: string
  installed: boolean
}

function fileLines(result: HostInstallResult): string[] {
  const width = Math.max(...result.extraFiles.map((f) => f.path.length))
  return result.extraFiles.map((f) => `  ${f.path.padEnd(width)}  ${f.mode}  ${f.owner}  ${f.source}`)
}

/** The --dry-run report: what would be erased, the exact command line, the files, the secrets. */
export function renderDryRun(result: HostInstallResult): string {
  return [
    `dry run: nothing changed. Installing ${result.host} on ${result.target} would ERASE ${result.disk}.`,
    'nixos-anywhere command (<workdir> is a private 0700 temp folder):',
    `  ${result.command}`,
    `built from: <workdir>/build/flake.nix, the host's /etc/nixos flake with input ${result.builtFrom.input} = ${result.builtFrom.url} (this work tree, uncommitted changes included)`,
    'extra files copied to the host:',
    ...fileLines(result),
    `admin password hash: ${result.passwordHash === 'kept' ? 'kept (stored in nixos/secrets/host-secrets.sops.yaml)' : 'asked (hidden, or --password-stdin), stored as admin/password_hash'}`,
    `deploy key: ${result.deployKey === 'generate' ? 'generated, stored as git/deploy_key' : result.deployKey}`,
    'known_hosts: the new host key is pinned for the host before nixos-anywhere runs',
  ].join('\n')
}

/** The report after a successful install: the pinned key, the deploy key to add, the next steps. */
export function renderInstalled(result: HostInstallResult, forge: string): string {
  const lines = [`✓ installed ${result.host} on ${result.target} (${result.disk}); host key ${result.hostKeyFingerprint} pinned in known_hosts`]
  if (result.deployKeyPublic)
    lines.push(
      `deploy key generated (host secret git/deploy_key); add its public half to the repository as a READ-ONLY deploy key (${forge === 'github.com' ? 'GitHub: repository Settings → Deploy keys → Add deploy key, leave "Allow write access" off' : `${forge}: the repository's deploy keys`}):`,
      `  ${result.deployKeyPublic}`,
    )
  const files = result.changedFiles ?? []
  if (result.commit) lines.push(`committed ${files.join(' and ')} (${result.commit.slice(0, 12)}); homelab deploy pushes it`)
  lines.push(
    'Next:',
    ...(result.commit || files.length === 0 ? [] : [`  git commit -m "Install ${result.host}" -- ${files.join(' ')}`]),
    '  homelab deploy',
    '  homelab cluster bootstrap',
    '  homelab status',
  )
  return lines.join('\n')
}
