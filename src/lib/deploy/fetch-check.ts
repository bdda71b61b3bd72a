import {DEPLOY_KEY_SECRET, type GitAccess} from '../config/git-access.js'
import {shellJoin, shellQuote} from '../ssh/shell.js'
import {NIX_FLAGS} from './nix.js'

/**
 * Can root on a host fetch the pushed commit through the host flake's input, the way Nix will?
 * Deploy asks before anything changes on the host (step `fetch-check`), so that a host without
 * its deploy key or access token fails with one line naming the remote and what to set up,
 * instead of a failed `nix flake update` deep in the run.
 *
 * - `git` inputs (`git+ssh://`, `git+https://`, `git+file://`): `git ls-remote <url> <ref>` as
 *   root, the program Nix's git fetcher runs (as root, with root's ssh: /etc/ssh/ssh_config's
 *   deploy key block and /etc/ssh/ssh_known_hosts on NixOS).
 * - `github` / `gitlab` / `sourcehut` inputs: `nix flake metadata --json --refresh
 *   <type>:<owner>/<repo>/<ref>` as root, Nix's own fetcher with its `access-tokens`; the branch
 *   head is `locked.rev` of its output. Not run by the tests (no network there): only its
 *   command and its error parsing are unit-tested.
 * - anything else (`path`, `tarball`, …): nothing to check.
 */

/** Where sops-nix puts the deploy key on a host (default `path` of a secret: /run/secrets/<name>). */
export const DEPLOY_KEY_PATH = `/run/secrets/${DEPLOY_KEY_SECRET}`

/** Printed (stderr) by the check when the host has no `git` on root's PATH. */
export const NO_GIT_MARKER = '__HOMELAB_NO_GIT__'

/** Where a flake input fetches from, from `nodes.<node>.original` of the host's flake.lock. */
export type InputSource =
  | {kind: 'git'; input: string; url: string; ref?: string; rev?: string; display: string}
  | {kind: 'forge'; input: string; type: 'github' | 'gitlab' | 'sourcehut'; owner: string; repo: string; ref?: string; host?: string; rev?: string; display: string}
  | {kind: 'other'; input: string; type: string; display: string}

/**
 * Reads where `input` fetches from in flake.lock text (version 7: `nodes.root.inputs.<input>` →
 * node name → `original`, falling back to `locked`). Nix stores a `git+ssh://` input's original
 * as `{type: "git", url: "ssh://…", ref}` (the `git+` prefix dropped), a `github:` one as
 * `{type: "github", owner, repo, ref?}`. Returns undefined when the input is not in the lock.
 * @throws Error for text that is not JSON.
 */
export function readInputSource(lockText: string, input: string): InputSource | undefined {
  const lock = JSON.parse(lockText) as {root?: string; nodes?: Record<string, {inputs?: Record<string, string | string[]>; original?: Record<string, unknown>; locked?: Record<string, unknown>}>}
  const nodeName = lock.nodes?.[lock.root ?? 'root']?.inputs?.[input]
  if (typeof nodeName !== 'string') return undefined
  const node = lock.nodes?.[nodeName]
  const o = node?.original ?? node?.locked
  if (!o) return undefined
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined)
  const type = str(o.type) ?? 'unknown'
  const ref = str(o.ref)
  const rev = str(o.rev)
  if (type === 'git' && str(o.url)) {
    const url = str(o.url)!
    return {display: `git+${url}${ref ? `?ref=${ref}` : ''}`, input, kind: 'git', ref, rev, url}
  }

  if ((type === 'github' || type === 'gitlab' || type === 'sourcehut') && str(o.owner) && str(o.repo)) {
    const host = str(o.host)
    return {display: forgeRef({host, owner: str(o.owner)!, ref, repo: str(o.repo)!, type}), host, input, kind: 'forge', owner: str(o.owner)!, ref, repo: str(o.repo)!, rev, type}
  }

  return {display: `${type}:${str(o.url) ?? str(o.path) ?? '?'}`, input, kind: 'other', type}
}

function forgeRef(s: {type: string; owner: string; repo: string; ref?: string; host?: string}): string {
  return `${s.type}:${s.owner}/${s.repo}${s.ref ? `/${s.ref}` : ''}${s.host ? `?host=${s.host}` : ''}`
}

/**
 * The ref `git ls-remote` asks for, as Nix's git fetcher resolves `ref`: a name starting with
 * `refs/` or `HEAD` as is, any other name as the branch `refs/heads/<ref>`; no ref = `HEAD` (the
 * remote's default branch).
 */
export function remoteRef(ref: string | undefined): string {
  if (!ref) return 'HEAD'
  return ref.startsWith('refs/') || ref === 'HEAD' ? ref : `refs/heads/${ref}`
}

/**
 * The shell command, run as root on the host, that prints the commit the input's branch is at
 * (see the file comment). `git` inputs print `git ls-remote` output (`<sha>\t<ref>`); forge
 * inputs print `nix flake metadata --json`. Without git on the host it prints
 * {@link NO_GIT_MARKER} on stderr and exits 127. Git never prompts (GIT_TERMINAL_PROMPT=0).
 * @throws Error for a source of kind `other` (nothing to fetch-check).
 */
export function fetchCheckCommand(source: InputSource): string {
  if (source.kind === 'git') {
    const ls = shellJoin(['git', 'ls-remote', '--', source.url, remoteRef(source.ref)])
    return `command -v git >/dev/null 2>&1 || { echo ${NO_GIT_MARKER} >&2; exit 127; }; GIT_TERMINAL_PROMPT=0 ${ls}`
  }

  if (source.kind === 'forge') return shellJoin(['nix', ...NIX_FLAGS, 'flake', 'metadata', '--json', '--refresh', forgeRef(source)])
  throw new Error(`input ${source.input} (${source.display}) is not fetched from a remote`)
}

/** What {@link parseFetchCheck} found: the branch head, or why the host could not fetch. */
export type FetchCheckOutcome = {ok: true; head: string} | {ok: false; reason: string; noGit?: boolean; noRef?: boolean}

/**
 * Reads the result of {@link fetchCheckCommand}: the commit the input's branch is at, or the
 * reason it failed, from ssh's, git's or nix's own last words (see {@link fetchFailureReason}).
 */
export function parseFetchCheck(source: InputSource, result: {exitCode: number; stdout: string; stderr: string}): FetchCheckOutcome {
  if (result.stderr.includes(NO_GIT_MARKER)) return {noGit: true, ok: false, reason: 'git is not installed on the host'}
  if (result.exitCode !== 0) return {ok: false, reason: fetchFailureReason(result.stderr || result.stdout) || `exit status ${result.exitCode}`}
  if (source.kind === 'git') {
    const want = remoteRef(source.ref)
    const line = result.stdout.split('\n').map((l) => l.trim().split(/\s+/)).find((f) => f.length === 2 && /^[0-9a-f]{40,64}$/.test(f[0]) && (f[1] === want || want === 'HEAD'))
    if (!line) return {noRef: true, ok: false, reason: `it has no ${want.replace(/^refs\/heads\//, 'branch ')}`}
    return {head: line[0], ok: true}
  }

  try {
    const meta = JSON.parse(result.stdout) as {locked?: {rev?: unknown}; revision?: unknown}
    const rev = typeof meta.locked?.rev === 'string' ? meta.locked.rev : typeof meta.revision === 'string' ? meta.revision : undefined
    if (rev) return {head: rev, ok: true}
  } catch {}

  return {ok: false, reason: 'nix flake metadata printed no locked revision'}
}

/**
 * The one reason worth showing from a failed fetch's stderr (ssh, git or nix), best first:
 * ssh's `Permission denied (publickey)` / `Host key verification failed`, the forge's
 * `Repository not found`, git's `does not appear to be a git repository`, Nix's `HTTP error
 * 404/401/403` (with what it means for a forge), name resolution and connection errors; else
 * the last line that is not git's generic `Could not read from remote repository` advice.
 * Prefixes like `fatal: `, `error: `, `ERROR: ` and `user@host: ` are dropped.
 */
export function fetchFailureReason(stderr: string): string {
  // eslint-disable-next-line no-control-regex
  const lines = stderr.replaceAll(/\u001B\[[0-9;]*m/g, '').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.includes(NO_GIT_MARKER))
  const clean = (l: string) => l.replace(/^(fatal|error|ERROR|remote):\s*/, '').replace(/^[\w.-]+@[\w.:[\]-]+: /, '').replace(/\.$/, '')
  const http = lines.map((l) => /HTTP error (\d{3})/.exec(l)).find(Boolean)
  if (http) {
    const meaning: Record<string, string> = {
      '401': 'the access token was refused',
      '403': 'access refused (token without read access, or rate limit)',
      '404': 'repository not found: private without an access token, or wrong owner/repo',
    }
    return `HTTP error ${http[1]}${meaning[http[1]] ? ` (${meaning[http[1]]})` : ''}`
  }

  const patterns = [/Permission denied \(/, /Host key verification failed/, /REMOTE HOST IDENTIFICATION HAS CHANGED/, /No \S+ host key is known for/, /Repository not found/i, /does not appear to be a git repository/, /Could not resolve host/i, /Connection refused/, /Connection timed out|Operation timed out/, /No route to host/, /Authentication failed/, /could not read Username/, /dubious ownership/]
  for (const pattern of patterns) {
    const found = lines.findLast((l) => pattern.test(l))
    if (found) return clean(found)
  }

  const generic = [/Could not read from remote repository/, /Please make sure you have the correct access rights/, /^and the repository exists/, /^warning: /, /^To add an exception/, /git config --global/]
  const last = lines.findLast((l) => !generic.some((g) => g.test(l)))
  return last ? clean(last) : ''
}

/** `owner/repo` of a forge URL (`ssh://git@github.com/owner/repo.git`, `https://…`, scp-like), else the URL. */
export function repoName(source: InputSource): string {
  if (source.kind === 'forge') return `${source.owner}/${source.repo}`
  if (source.kind !== 'git') return source.display
  const m = /^(?:ssh|https?|git):\/\/[^/]+\/(.+?)(?:\.git)?\/?$/.exec(source.url)
  return m && m[1].split('/').length === 2 ? m[1] : source.url
}

/** Which way of fetching the homelab repository to advise (nixos/git-access.json `method`, its schema's type). */
export type GitAccessMethod = GitAccess['method']

/** The method a URL implies: `ssh://` (git+ssh) = deploy-key, anything else = token. */
export function methodForSource(source: InputSource): GitAccessMethod {
  return source.kind === 'git' && /^ssh:\/\//.test(source.url) ? 'deploy-key' : 'token'
}

/** As root: prints the deploy key's public half, or nothing when the file is absent (exit 0 either way). */
export const DEPLOY_KEY_PUBLIC_COMMAND = `if [ -e ${shellQuote(DEPLOY_KEY_PATH)} ]; then ssh-keygen -y -f ${shellQuote(DEPLOY_KEY_PATH)} 2>&1 | head -1; fi; true`

/**
 * The one-line message of a failed fetch check: what the host cannot fetch, why (ssh/git/nix's
 * words), and what to set up for `method` (deploy-key: the host's deploy key, `publicKey` as
 * computed on the host by {@link DEPLOY_KEY_PUBLIC_COMMAND}, undefined = not present; token: the
 * host secret git/access_tokens). A host-key failure points at the pinned forge host keys.
 */
export function fetchFailureMessage(options: {source: InputSource; outcome: Extract<FetchCheckOutcome, {ok: false}>; method: GitAccessMethod; accessFile?: string; publicKey?: string}): string {
  const {outcome, source} = options
  const what = `the host cannot fetch ${source.display} (flake input ${source.input}) as root: ${outcome.reason}`
  const file = options.accessFile ?? 'nixos/git-access.json'
  let todo: string
  if (outcome.noGit) todo = "add pkgs.git to environment.systemPackages (Nix's git fetcher runs it too)"
  else if (outcome.noRef) todo = `push the branch, or fix the input's ref in the host flake.nix`
  else if (/Host key verification failed|HOST IDENTIFICATION HAS CHANGED|host key is known/.test(outcome.reason))
    todo = `pin the forge's current SSH host keys: forgeHostKeys in ${file} (programs.ssh.knownHosts on the host)`
  else if (options.method === 'deploy-key') {
    const key = options.publicKey?.startsWith('ssh-') || options.publicKey?.startsWith('ecdsa-') ? options.publicKey : options.publicKey ? `unreadable: ${options.publicKey}` : `not present at ${DEPLOY_KEY_PATH}: run homelab host install`
    todo = `add the host's deploy key (public key: ${key}) as a read-only deploy key of ${repoName(source)}`
  } else todo = `set host secret git/access_tokens (${source.kind === 'forge' && source.host ? source.host : 'github.com'}=TOKEN with read access to ${repoName(source)})`
  return `${what}; ${todo}`
}

/**
 * The one-line message when the input's branch head is not the pushed commit: the host would
 * pin another commit (its input fetches another repository or branch than deploy pushes to).
 */
export function headMismatchMessage(source: InputSource, head: string, commit: string, pushedTo: string): string {
  const branch = source.kind === 'other' ? '?' : source.ref ?? 'HEAD'
  return `the host's flake input ${source.input} (${source.display}) has ${branch} at ${head.slice(0, 12)}, not the pushed ${commit.slice(0, 12)}; point the input's URL in the host flake.nix at the repository deploy pushes to (${pushedTo})`
}
