// The fetch check's pure parts: where an input fetches from (flake.lock `original`), the command
// root runs on the host, and the one-line failure from ssh's, git's or nix's own words. The
// git+ssh path runs for real in test/e2e/deploy.test.ts; the github:/gitlab: path (`nix flake
// metadata --refresh`, Nix's fetcher with its access-tokens) needs the network, so only its
// command and its error parsing are tested here, with nix's real message shapes.
import {describe, expect, it} from 'vitest'

import {
  DEPLOY_KEY_PATH,
  fetchCheckCommand,
  fetchFailureMessage,
  fetchFailureReason,
  headMismatchMessage,
  type InputSource,
  methodForSource,
  NO_GIT_MARKER,
  parseFetchCheck,
  readInputSource,
  remoteRef,
  repoName,
} from '../../../src/lib/deploy/fetch-check.js'

const SHA = '7d4198ffc2df66fba01d11fe76d2f78ff5ea7497'
const OTHER = '2a4e12f8be60d936aba8b6eff395b149399168f7'

/** A flake.lock (version 7) as nix 2.8 wrote it for the e2e host, with `homelab` = `node`. */
function lock(node: Record<string, unknown>, name = 'homelab'): string {
  return JSON.stringify({
    nodes: {
      disko: {flake: false, locked: {narHash: 'sha256-x', path: '/x/disko', type: 'path'}, original: {path: '/x/disko', type: 'path'}},
      [name]: node,
      root: {inputs: {disko: 'disko', homelab: name}},
    },
    root: 'root',
    version: 7,
  })
}

describe('readInputSource', () => {
  it('reads a git+ssh input from original (nix drops the git+ prefix there)', () => {
    const text = lock({flake: false, locked: {ref: 'main', rev: SHA, type: 'git', url: 'ssh://git@github.com/aiden/homelab'}, original: {ref: 'main', type: 'git', url: 'ssh://git@github.com/aiden/homelab'}})
    expect(readInputSource(text, 'homelab')).toEqual({display: 'git+ssh://git@github.com/aiden/homelab?ref=main', input: 'homelab', kind: 'git', ref: 'main', rev: undefined, url: 'ssh://git@github.com/aiden/homelab'})
  })

  it('reads github: and gitlab: inputs (owner, repo, ref, host) and a rev pinned in flake.nix', () => {
    expect(readInputSource(lock({original: {owner: 'aiden', ref: 'main', repo: 'homelab', type: 'github'}}), 'homelab')).toMatchObject({display: 'github:aiden/homelab/main', kind: 'forge', owner: 'aiden', ref: 'main', repo: 'homelab', type: 'github'})
    expect(readInputSource(lock({original: {host: 'git.example.org', owner: 'a', repo: 'h', type: 'gitlab'}}), 'homelab')).toMatchObject({display: 'gitlab:a/h?host=git.example.org', host: 'git.example.org', ref: undefined})
    expect(readInputSource(lock({original: {rev: OTHER, type: 'git', url: 'https://example.org/h.git'}}), 'homelab')).toMatchObject({display: 'git+https://example.org/h.git', rev: OTHER})
  })

  it('a path input is not fetched; an input not in the lock is undefined; not JSON throws', () => {
    expect(readInputSource(lock({}), 'disko')).toMatchObject({display: 'path:/x/disko', kind: 'other'})
    const text = JSON.stringify({nodes: {d: {original: {path: '/x', type: 'path'}}, root: {inputs: {homelab: 'd'}}}, root: 'root', version: 7})
    expect(readInputSource(text, 'homelab')).toEqual({display: 'path:/x', input: 'homelab', kind: 'other', type: 'path'})
    expect(readInputSource(text, 'nope')).toBeUndefined()
    expect(() => readInputSource('not json', 'homelab')).toThrow()
  })
})

describe('the command root runs on the host', () => {
  const git: InputSource = {display: 'git+ssh://git@github.com/aiden/homelab?ref=main', input: 'homelab', kind: 'git', ref: 'main', url: 'ssh://git@github.com/aiden/homelab'}
  it('git inputs: git ls-remote of the branch as Nix resolves the ref, never prompting; no git is said', () => {
    expect(remoteRef('main')).toBe('refs/heads/main')
    expect(remoteRef('refs/tags/v1')).toBe('refs/tags/v1')
    expect(remoteRef(undefined)).toBe('HEAD')
    expect(fetchCheckCommand(git)).toBe(`command -v git >/dev/null 2>&1 || { echo ${NO_GIT_MARKER} >&2; exit 127; }; GIT_TERMINAL_PROMPT=0 git ls-remote -- ssh://git@github.com/aiden/homelab refs/heads/main`)
  })

  it('github:/gitlab: inputs: nix flake metadata --refresh of the branch (Nix\'s fetcher with its access-tokens)', () => {
    const gh = readInputSource(lock({original: {owner: 'aiden', ref: 'main', repo: 'homelab', type: 'github'}}), 'homelab')!
    expect(fetchCheckCommand(gh)).toBe("nix --extra-experimental-features 'nix-command flakes' flake metadata --json --refresh github:aiden/homelab/main")
    expect(() => fetchCheckCommand({display: 'path:/x', input: 'homelab', kind: 'other', type: 'path'})).toThrow(/not fetched from a remote/)
  })

  it('reads the head: ls-remote lines, nix metadata JSON (locked.rev), a missing branch, no git', () => {
    expect(parseFetchCheck(git, {exitCode: 0, stderr: '', stdout: `${SHA}\trefs/heads/main\n`})).toEqual({head: SHA, ok: true})
    expect(parseFetchCheck(git, {exitCode: 0, stderr: '', stdout: ''})).toEqual({noRef: true, ok: false, reason: 'it has no branch main'})
    expect(parseFetchCheck(git, {exitCode: 127, stderr: `${NO_GIT_MARKER}\n`, stdout: ''})).toMatchObject({noGit: true, ok: false})
    const gh = readInputSource(lock({original: {owner: 'aiden', ref: 'main', repo: 'homelab', type: 'github'}}), 'homelab')!
    // `nix flake metadata --json` shape (nix src/nix/flake.cc: description, original, resolved, locked, revision, lastModified, path, url, locks)
    const meta = {lastModified: 1, locked: {lastModified: 1, narHash: 'sha256-x', owner: 'aiden', repo: 'homelab', rev: SHA, type: 'github'}, original: {owner: 'aiden', ref: 'main', repo: 'homelab', type: 'github'}, revision: SHA}
    expect(parseFetchCheck(gh, {exitCode: 0, stderr: '', stdout: JSON.stringify(meta)})).toEqual({head: SHA, ok: true})
    expect(parseFetchCheck(gh, {exitCode: 1, stderr: "error: unable to download 'https://api.github.com/repos/aiden/homelab/commits/main': HTTP error 404\n", stdout: ''})).toEqual({
      ok: false,
      reason: 'HTTP error 404 (repository not found: private without an access token, or wrong owner/repo)',
    })
  })
})

describe('fetchFailureReason: the words worth one line', () => {
  const cases: Array<[string, string]> = [
    ['no such identity: /run/secrets/git/deploy_key: No such file or directory\ngit@github.com: Permission denied (publickey).\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n', 'Permission denied (publickey)'],
    ['No ED25519 host key is known for github.com and you have requested strict checking.\nHost key verification failed.\nfatal: Could not read from remote repository.\n', 'Host key verification failed'],
    ['ERROR: Repository not found.\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n', 'Repository not found'],
    ["fatal: '/srv/nope.git' does not appear to be a git repository\nfatal: Could not read from remote repository.\n", "'/srv/nope.git' does not appear to be a git repository"],
    ['ssh: Could not resolve hostname github.com: Temporary failure in name resolution\nfatal: Could not read from remote repository.\n', 'ssh: Could not resolve hostname github.com: Temporary failure in name resolution'],
    ["fatal: could not read Username for 'https://github.com': terminal prompts disabled\n", "could not read Username for 'https://github.com': terminal prompts disabled"],
    ["\u001B[31;1merror:\u001B[0m unable to download 'https://api.github.com/repos/a/h/commits/main': HTTP error 401\n", 'HTTP error 401 (the access token was refused)'],
    ['error: something else went wrong\n', 'something else went wrong'],
  ]
  it.each(cases)('%#', (stderr, reason) => expect(fetchFailureReason(stderr)).toBe(reason))
})

describe('the one-line message', () => {
  const source = readInputSource(lock({original: {ref: 'main', type: 'git', url: 'ssh://git@github.com/aiden/homelab.git'}}), 'homelab')!
  const denied = {ok: false as const, reason: 'Permission denied (publickey)'}

  it('deploy-key: names the remote, the reason, and the public key to add (or that there is none)', () => {
    expect(repoName(source)).toBe('aiden/homelab')
    expect(methodForSource(source)).toBe('deploy-key')
    const withKey = fetchFailureMessage({method: 'deploy-key', outcome: denied, publicKey: 'ssh-ed25519 AAAAC3Nza', source})
    expect(withKey).toBe("the host cannot fetch git+ssh://git@github.com/aiden/homelab.git?ref=main (flake input homelab) as root: Permission denied (publickey); add the host's deploy key (public key: ssh-ed25519 AAAAC3Nza) as a read-only deploy key of aiden/homelab")
    expect(withKey).not.toContain('\n')
    expect(fetchFailureMessage({method: 'deploy-key', outcome: denied, source})).toContain(`(public key: not present at ${DEPLOY_KEY_PATH}: run homelab host install)`)
  })

  it('token: the host secret git/access_tokens; host key: the pinned forge keys; no git; no branch', () => {
    const gh = readInputSource(lock({original: {owner: 'aiden', ref: 'main', repo: 'homelab', type: 'github'}}), 'homelab')!
    expect(methodForSource(gh)).toBe('token')
    expect(fetchFailureMessage({method: 'token', outcome: {ok: false, reason: 'HTTP error 404 (…)'}, source: gh})).toBe(
      'the host cannot fetch github:aiden/homelab/main (flake input homelab) as root: HTTP error 404 (…); set host secret git/access_tokens (github.com=TOKEN with read access to aiden/homelab)',
    )
    expect(fetchFailureMessage({accessFile: 'nixos/git-access.json', method: 'deploy-key', outcome: {ok: false, reason: 'Host key verification failed'}, source})).toMatch(/; pin the forge's current SSH host keys: forgeHostKeys in nixos\/git-access\.json \(programs\.ssh\.knownHosts on the host\)$/)
    expect(fetchFailureMessage({method: 'deploy-key', outcome: {noGit: true, ok: false, reason: 'git is not installed on the host'}, source})).toMatch(/: git is not installed on the host; add pkgs\.git to environment\.systemPackages/)
    expect(fetchFailureMessage({method: 'deploy-key', outcome: {noRef: true, ok: false, reason: 'it has no branch main'}, source})).toMatch(/: it has no branch main; push the branch/)
  })

  it('a head that is not the pushed commit names both and where deploy pushes', () => {
    expect(headMismatchMessage(source, OTHER, SHA, 'git remote origin, branch main')).toBe(
      "the host's flake input homelab (git+ssh://git@github.com/aiden/homelab.git?ref=main) has main at 2a4e12f8be60, not the pushed 7d4198ffc2df; point the input's URL in the host flake.nix at the repository deploy pushes to (git remote origin, branch main)",
    )
  })
})
