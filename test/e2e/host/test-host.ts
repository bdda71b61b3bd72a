/**
 * The e2e test host: a real OpenSSH server on loopback, built per test run, that the CLI reaches
 * exactly like the real homelab host (through `~/.ssh/config`, a pinned host key, key login and
 * a real `sudo` password).
 *
 * ```ts
 * const host = await startTestHost({standIns: ['nixos-rebuild', 'nixos-version'], env: {STANDIN_HELLO_VERSION: '2.12.2'}})
 * const repo = await host.homelabRepo()            // temp copy of this repo, targeting the host
 * const r = await runCli(['deploy', '--yes'], {cwd: repo.dir, env: {...host.env, HOMELAB_SUDO_PASSWORD: host.sudoPassword}})
 * host.connections()                                // sshd "Connection from" lines so far
 * await host.stop()                                 // kills every host process, removes the user, the sudoers file, the temp dirs
 * ```
 *
 * What `startTestHost(options)` builds (needs root, `/usr/sbin/sshd`, `sudo`, `useradd`, `unshare`):
 * - `sshd -D -E <sshdLog> -f <cfg>` on 127.0.0.1:`sshPort` (a free port) with a fresh ed25519
 *   host key, LogLevel VERBOSE (count connections and logins with `connections()` / `logins()`),
 *   key login only, `SetEnv PATH=<binDir>:…` so non-interactive commands find the stand-ins.
 * - sshd runs in its own MOUNT NAMESPACE (`unshare --mount`): `/run` and `/nix/var/nix/profiles`
 *   are bind mounts of per-run folders (`hostRoot/run`, `hostRoot/profiles`), so the NixOS paths
 *   the stand-ins and the CLI use (`/run/current-system`, `/nix/var/nix/profiles/system`,
 *   `/run/lock`) are private to this host and parallel test files never collide. `runOnHost(cmd)`
 *   runs a root shell command inside that namespace (nsenter) to inspect or prepare it.
 * - the host's nix.conf (`hostRoot/etc-nix/nix.conf`, NIX_HOST_CONF: single-user nix as root, no
 *   build users, no sandbox) is what every nix on the host reads, as a NixOS host reads
 *   /etc/nix/nix.conf: `NIX_CONF_DIR` points at its folder in every SSH session (sshd `SetEnv`),
 *   through sudo (`env_keep` in the sudoers drop-in) and in `runOnHost`. Not a bind mount over
 *   /etc/nix: a mount needs /etc/nix to exist, and on a fresh machine (Debian's nix-bin has no
 *   /etc/nix) creating it would change the machine's own nix setup; and not `NIX_CONFIG`: its
 *   value spans lines, which sshd's `SetEnv` cannot carry.
 * - a non-root Unix user `user` (unique per run) with key login and the sudo password
 *   `sudoPassword`; a sudoers drop-in `/etc/sudoers.d/<user>` grants ALL with the password and
 *   sets `secure_path` to start with `binDir` (so `sudo nixos-rebuild` finds the stand-in).
 * - `binDir`: the host PATH folder where `options.standIns` (file names in test/e2e/stand-ins/)
 *   are copied. `options.env` (and later `setScenario(env)`) is written as shell assignments to
 *   `hostRoot/scenario.env`, which the stand-ins source (sudo resets the environment).
 * - the CLI side: `env` for runCli = {HOME: a temp home with `~/.ssh/config` (Host `alias` →
 *   127.0.0.1, Port, User, IdentityFile ~/.ssh/id_ed25519), SSH_AUTH_SOCK unset (no agent), git
 *   author/committer}. `knownHostsLine` is the host key as a known_hosts line for `[alias]:port`.
 * - the FORGE (what GitHub is for a real host): a second sshd on loopback (`forgePort`, its own
 *   host key and log `forgeLog`, so `connections()` still counts only the CLI's), started in
 *   the host's mount namespace, for a second Unix user
 *   `forgeUser` whose login shell is git-shell (fetches and pushes only, like a forge's `git@`)
 *   and whose authorized_keys holds the public half of the host's DEPLOY KEY with `restrict`
 *   (no pty, no forwarding), as a read-only deploy key on GitHub; its ~/.gitconfig trusts the
 *   root-owned bare repos (git's safe.directory), as a forge's own storage is its own.
 *   The host side of that is what NixOS renders on a real host, per run here because the test
 *   machine's /etc/ssh is not ours to change:
 *   - the deploy key at /run/secrets/git/deploy_key (sops-nix's path of the host secret
 *     git/deploy_key; /run is this host's own bind mount, so the path is the real one), 0400 root;
 *   - `sshConfig` (`hostRoot/etc-ssh/ssh_config`) stands in for /etc/ssh/ssh_config: the same
 *     `Match host <forge> localuser root` block (IdentityFile /run/secrets/git/deploy_key,
 *     IdentitiesOnly yes, StrictHostKeyChecking yes), plus GlobalKnownHostsFile pointing at
 *     `sshKnownHosts` (stands in for /etc/ssh/ssh_known_hosts = programs.ssh.knownHosts: the
 *     forge's host key) and UserKnownHostsFile /dev/null (this machine's /root/.ssh is not the
 *     host's);
 *   - root's git (so Nix's git fetcher, and deploy's `git ls-remote`) reaches that file through
 *     `GIT_SSH_COMMAND="ssh -F <sshConfig>"`, passed like NIX_CONF_DIR: sshd `SetEnv`, sudoers
 *     `env_keep`, and `runOnHost`.
 *   `forgeUrl(bareRepo)` is `ssh://<forgeUser>@127.0.0.1:<forgePort><bareRepo>`.
 * - `homelabRepo(options)`: a temp copy of this repository (no node_modules/dist/.git) as a git
 *   repo on branch main, whose homelab.yaml has one host `{name: options.hostName ?? 'testhost',
 *   ssh: alias, flakeDir, flakeInput: homelab}` and whose `known_hosts` pins the host key (unless
 *   `pinHostKey: false`); its remote `origin` is a local bare repo it was pushed to. With
 *   `nixos: true` (default when the nixos-rebuild stand-in is installed) it also makes the host
 *   flake dir (flake.nix with input `homelab = {url = "git+ssh://<forgeUser>@127.0.0.1:<port><bare>?ref=main"; flake = false;}`,
 *   fetched by root over SSH with the deploy key exactly as a real host fetches it, and two
 *   other inputs a real host flake has, stand-ins the test makes: `sops-nix` (a local git flake,
 *   `git+file://`, `inputs.sopsNix` its work tree: commit there to make a re-lock-everything
 *   visible) and `disko` (a `path:` source)), locks it with real nix as root, and switches
 *   generation 1 with the stand-in. The operator's pushes go to the same bare repo by its path.
 */
import {execa} from 'execa'
import {randomBytes} from 'node:crypto'
import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, promises as fs} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {parseDocument} from 'yaml'

import {expectedHostsFile} from '../../../src/lib/config/hosts-file.js'
import {loadHomelab} from '../../../src/lib/config/load.js'
import {REPO_ROOT} from '../../helpers/cli.js'
import {NIX_HOST_CONF, NIX_TEST_CONFIG} from '../../helpers/nix-config.js'

export const STAND_INS_DIR = path.join(REPO_ROOT, 'test/e2e/stand-ins')
/** Environment that lets nix run flakes as root in single-user mode on Debian's nix-bin (see test/helpers/nix-config.ts). */
export const NIX_ENV = {NIX_CONFIG: NIX_TEST_CONFIG}

export interface TestHostOptions {
  /** File names in test/e2e/stand-ins/ to install on the host PATH (binDir). */
  standIns?: string[]
  /** Scenario variables for the stand-ins (written to hostRoot/scenario.env). */
  env?: Record<string, string>
  /**
   * Run sshd under a SLOW REAPER: a child subreaper (prctl PR_SET_CHILD_SUBREAPER) that inherits
   * every orphan of the host (detached activations, magic-rollback timers and their children) and
   * reaps each one only once it has been a zombie for this many seconds, like a busy or sluggish
   * init. Processes that ended then still exist as zombies (`kill -0` succeeds on them).
   */
  reaperDelaySeconds?: number
}

/**
 * The slow reaper (perl: in Debian's essential perl-base): `perl -e "$SLOW_REAPER" DELAY CMD…`
 * makes itself a child subreaper, forks CMD, then every 0.25 s reaps its zombie children that
 * have been zombies for DELAY seconds or more; it exits once CMD was reaped.
 */
const SLOW_REAPER = String.raw`
use strict; use POSIX ();
my $delay = shift @ARGV;
my %prctl = (x86_64 => 157, aarch64 => 167);
my $nr = $prctl{(POSIX::uname())[4]} // die "slow reaper: no prctl syscall number for this machine\n";
syscall($nr, 36, 1, 0, 0, 0) == 0 or die "slow reaper: prctl(PR_SET_CHILD_SUBREAPER): $!\n";
my $child = fork() // die "slow reaper: fork: $!\n";
if ($child == 0) { exec { $ARGV[0] } @ARGV or die "slow reaper: exec $ARGV[0]: $!\n" }
my %since;
for (;;) {
  select(undef, undef, undef, 0.25);
  opendir(my $dir, '/proc') or next;
  for my $pid (grep { /^\d+$/ } readdir $dir) {
    open(my $fh, '<', "/proc/$pid/stat") or next;
    my $stat = <$fh>; close $fh;
    next unless defined $stat && $stat =~ /.*\) (\S) (\d+) /s && $1 eq 'Z' && $2 == $$;
    $since{$pid} //= time;
    next if time - $since{$pid} < $delay;
    delete $since{$pid};
    exit 0 if waitpid($pid, 1) == $child;
  }
  closedir $dir;
}
`

export interface TestRepo {
  /** The working copy (cwd for runCli). */
  dir: string
  /** The bare repo `origin` points at. */
  remote: string
  /** The host flake dir (holds flake.nix and flake.lock). */
  flakeDir: string
  /** `hosts[0].name` in homelab.yaml. */
  hostName: string
  /** The host flake's `homelab` input URL (`git+ssh://…` through the forge). */
  inputUrl: string
  /** Work trees of the host flake's other inputs: `sopsNix` (git, `git+file://`), `disko` (`path:`). */
  inputs: {sopsNix: string; disko: string}
  /** Runs git in the working copy; returns trimmed stdout. */
  git(args: string[]): Promise<string>
  /** Writes a file, commits it (message), returns the new HEAD commit. */
  commit(file: string, content: string, message: string): Promise<string>
}

export interface TestHost {
  /** Host alias in ~/.ssh/config (and in homelab.yaml `ssh:`). */
  alias: string
  sshPort: number
  user: string
  sudoPassword: string
  /** Per-run root folder of everything on the host side. */
  hostRoot: string
  /** Folder on the host PATH (and sudo's secure_path) holding the stand-ins. */
  binDir: string
  /** sshd's log file (LogLevel VERBOSE). */
  sshdLog: string
  /** The CLI's HOME (holds .ssh/config, .ssh/id_ed25519, .ssh/known_hosts when a test writes it). */
  home: string
  /** Environment for runCli. */
  env: Record<string, string | undefined>
  /** `[alias]:port ssh-ed25519 AAAA…` */
  knownHostsLine: string
  /** `SHA256:…` of the host key. */
  hostKeyFingerprint: string
  /** The remote user's ~/.ssh/authorized_keys. */
  authorizedKeys: string
  /** The forge's git-shell user (serves the bare repos over this sshd; see the file header). */
  forgeUser: string
  /** The host's deploy key on this machine (the host sees it at /run/secrets/git/deploy_key). */
  deployKey: string
  /** Its public half, `ssh-ed25519 AAAA…` (without comment). */
  deployKeyPublic: string
  /** The forge user's authorized_keys (holds the deploy key, restricted). */
  forgeAuthorizedKeys: string
  /** Stand-in for the host's /etc/ssh/ssh_config (root's git uses it through GIT_SSH_COMMAND). */
  sshConfig: string
  /** Stand-in for the host's /etc/ssh/ssh_known_hosts (the forge's host key). */
  sshKnownHosts: string
  /** The forge sshd's port and log (LogLevel VERBOSE). */
  forgePort: number
  forgeLog: string
  /** `ssh://<forgeUser>@127.0.0.1:<forgePort><bareRepo>`: a bare repo as the host fetches it. */
  forgeUrl(bareRepo: string): string
  /** With `reaperDelaySeconds`: the slow reaper's pid (the parent of every orphan on the host). */
  reaperPid?: number
  homelabRepo(options?: {hostName?: string; pinHostKey?: boolean; nixos?: boolean}): Promise<TestRepo>
  /**
   * A second host of a repository made by another test host's `homelabRepo`: this host's own
   * bootstrap flake pinning `remote` (that repository's bare remote, fetched through THIS host's
   * forge with its deploy key), locked and switched to once, as `homelabRepo` does for its host.
   */
  hostFlake(options: {hostName: string; remote: string}): Promise<{flakeDir: string; inputUrl: string}>
  /** Replaces the stand-ins' scenario variables. */
  setScenario(env: Record<string, string>): Promise<void>
  /** Runs `sh -c cmd` as root inside the host's mount namespace; returns trimmed stdout, throws on failure. */
  runOnHost(cmd: string): Promise<string>
  /** Number of TCP connections sshd accepted so far ("Connection from" lines). */
  connections(): Promise<number>
  /** Number of successful logins so far ("Accepted publickey" lines). */
  logins(): Promise<number>
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

async function run(cmd: string, args: string[], options: {input?: string; cwd?: string; env?: Record<string, string>} = {}): Promise<string> {
  const r = await execa(cmd, args, {input: options.input, cwd: options.cwd, env: options.env, reject: false})
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.exitCode}): ${r.stderr || r.stdout}`)
  return String(r.stdout).trim()
}

function shellAssignments(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `${k}='${v.replaceAll("'", `'\\''`)}'\n`)
    .join('')
}

/** Starts a per-run SSH test host; see the file header. Throws when a needed tool is missing. */
export async function startTestHost(options: TestHostOptions = {}): Promise<TestHost> {
  if (process.getuid?.() !== 0) throw new Error('the e2e test host needs root (sshd, useradd, sudoers)')
  for (const tool of ['/usr/sbin/sshd', 'sudo', 'useradd', 'unshare', 'nsenter', 'ssh-keygen']) {
    if (tool.startsWith('/') ? !existsSync(tool) : (await execa('sh', ['-c', `command -v ${tool}`], {reject: false})).exitCode !== 0)
      throw new Error(`the e2e test host needs ${tool} (scripts/install-test-tools.sh installs it)`)
  }

  const id = randomBytes(4).toString('hex')
  const user = `hlt${id}`
  const forgeUser = `hlt${id}g`
  const alias = `hl-${id}`
  const sudoPassword = `pw-${randomBytes(6).toString('hex')}`
  const hostRoot = await fs.mkdtemp(path.join(os.tmpdir(), `homelab-host-${id}-`))
  await fs.chmod(hostRoot, 0o755)
  const binDir = path.join(hostRoot, 'bin')
  const runDir = path.join(hostRoot, 'run')
  const profilesDir = path.join(hostRoot, 'profiles')
  const nixConfDir = path.join(hostRoot, 'etc-nix')
  const userHome = path.join(hostRoot, 'home', user)
  const home = path.join(hostRoot, 'client-home')
  const sshdLog = path.join(hostRoot, 'sshd.log')
  const sudoersFile = `/etc/sudoers.d/${user}`
  const forgeHome = path.join(hostRoot, 'home', forgeUser)
  const etcSsh = path.join(hostRoot, 'etc-ssh')
  const sshConfig = path.join(etcSsh, 'ssh_config')
  const sshKnownHosts = path.join(etcSsh, 'ssh_known_hosts')
  const deployKey = path.join(runDir, 'secrets/git/deploy_key') // /run/secrets/git/deploy_key on the host
  const gitSshCommand = `ssh -F ${sshConfig}`
  for (const dir of [etcSsh, path.dirname(deployKey), binDir, path.join(runDir, 'sshd'), path.join(runDir, 'lock'), profilesDir, nixConfDir, path.join(home, '.ssh'), path.dirname(userHome)])
    await fs.mkdir(dir, {recursive: true})
  await fs.writeFile(path.join(nixConfDir, 'nix.conf'), `# nix.conf of the e2e test host (single-user nix as root, no nixbld group, no /bin/sh sandbox)\n${NIX_HOST_CONF}`)
  await fs.chmod(path.join(runDir, 'lock'), 0o1777)
  await fs.chmod(path.join(home, '.ssh'), 0o700)

  let sshd: ChildProcess | undefined
  let forgeSshd: ChildProcess | undefined
  let userCreated = false
  let forgeCreated = false
  /** The host's mount namespace (`mnt:[inode]` of sshd), known once sshd runs. */
  let hostNamespace: string | undefined
  /**
   * Ends every process of this host: the process groups in /run/homelab/*.pid (detached
   * activations and magic-rollback timers, with their `sleep` and `nixos-rebuild` children),
   * every process in the host's mount namespace (sshd, sessions, sudo, whatever they left
   * behind) and every process of the test user. Repeats until none is left (a dying shell may
   * have forked), for at most 5 s; then throws naming what survived.
   */
  const killHostProcesses = async () => {
    const uid = userCreated ? Number((await execa('id', ['-u', user], {reject: false})).stdout) : 0
    const stat = await fs.readFile('/proc/self/stat', 'utf8')
    const ownGroup = Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[2]) // "pid (comm) state ppid pgrp …"
    if (sshd?.pid && sshd.exitCode === null) sshd.kill('SIGKILL')
    if (forgeSshd?.pid && forgeSshd.exitCode === null) forgeSshd.kill('SIGKILL')
    const pidDir = path.join(runDir, 'homelab')
    for (const f of existsSync(pidDir) ? await fs.readdir(pidDir) : []) {
      const group = f.endsWith('.pid') ? Number((await fs.readFile(path.join(pidDir, f), 'utf8').catch(() => '')).trim()) : 0
      if (Number.isInteger(group) && group > 1 && group !== ownGroup) try { process.kill(-group, 'SIGKILL') } catch {}
    }

    const hostProcesses = async () => {
      const found: number[] = []
      for (const entry of await fs.readdir('/proc')) {
        const pid = Number(entry)
        if (!/^\d+$/.test(entry) || pid <= 1 || pid === process.pid) continue
        const status = await fs.readFile(`/proc/${entry}/status`, 'utf8').catch(() => '')
        if (status === '' || /^State:\s+Z/m.test(status)) continue // gone, or a zombie its parent reaps
        const ns = hostNamespace && (await fs.readlink(`/proc/${entry}/ns/mnt`).catch(() => ''))
        if ((hostNamespace && ns === hostNamespace) || (uid > 0 && new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(status))) found.push(pid)
      }

      return found
    }

    for (let round = 0; ; round++) {
      const left = await hostProcesses()
      if (left.length === 0) return
      if (round >= 100) throw new Error(`test host ${alias}: processes ${left.join(', ')} survive SIGKILL`)
      for (const pid of left) try { process.kill(pid, 'SIGKILL') } catch {}
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  const stop = async () => {
    try {
      await killHostProcesses()
    } finally {
      await cleanUp()
    }
  }

  const cleanUp = async () => {
    await fs.rm(sudoersFile, {force: true})
    if (userCreated) await execa('userdel', [user], {reject: false})
    if (forgeCreated) await execa('userdel', [forgeUser], {reject: false})
    await fs.rm(hostRoot, {recursive: true, force: true})
  }

  try {
    // The remote user: key login, a sudo password, sudo with the password and our PATH first.
    await run('useradd', ['-m', '-d', userHome, '-s', '/bin/bash', user])
    userCreated = true
    await run('chpasswd', [], {input: `${user}:${sudoPassword}\n`})
    const securePath = `${binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`
    const sudoers = `Defaults:${user} secure_path="${securePath}", !lecture, env_keep += "NIX_CONF_DIR GIT_SSH_COMMAND"\n${user} ALL=(ALL:ALL) ALL\n`
    await fs.writeFile(`${sudoersFile}.tmp`, sudoers, {mode: 0o440})
    await run('visudo', ['-cf', `${sudoersFile}.tmp`])
    await fs.rename(`${sudoersFile}.tmp`, sudoersFile)

    // Client key and host key.
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `homelab-e2e-${id}`, '-f', path.join(home, '.ssh/id_ed25519')])
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(hostRoot, 'ssh_host_ed25519_key')])
    const hostPub = (await fs.readFile(path.join(hostRoot, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(/\s+/)
    const hostKeyFingerprint = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(hostRoot, 'ssh_host_ed25519_key.pub')])).split(/\s+/)[1]
    const authorizedKeys = path.join(userHome, '.ssh/authorized_keys')
    await fs.mkdir(path.dirname(authorizedKeys), {recursive: true})
    await fs.copyFile(path.join(home, '.ssh/id_ed25519.pub'), authorizedKeys)
    await run('chown', ['-R', `${user}:${user}`, userHome])

    // The forge (see the file header): a git-shell user holding the deploy key's public half.
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `homelab-e2e-deploy-key-${id}`, '-f', deployKey])
    await fs.chmod(deployKey, 0o400)
    await fs.rm(`${deployKey}.pub`)
    const deployKeyPublic = (await run('ssh-keygen', ['-y', '-f', deployKey])).split(/\s+/).slice(0, 2).join(' ')
    await run('useradd', ['-m', '-d', forgeHome, '-s', '/usr/bin/git-shell', forgeUser])
    forgeCreated = true
    await run('usermod', ['-p', '*', forgeUser]) // no password, but not locked ('!'): sshd without PAM refuses locked accounts
    const forgeAuthorizedKeys = path.join(forgeHome, '.ssh/authorized_keys')
    await fs.mkdir(path.dirname(forgeAuthorizedKeys), {recursive: true})
    await fs.writeFile(forgeAuthorizedKeys, `restrict ${deployKeyPublic} deploy key of the e2e host\n`)
    await fs.writeFile(path.join(forgeHome, '.gitconfig'), '[safe]\n\tdirectory = *\n')
    await run('chown', ['-R', `${forgeUser}:${forgeUser}`, forgeHome])

    // Stand-ins and their scenario.
    for (const name of options.standIns ?? []) {
      await fs.copyFile(path.join(STAND_INS_DIR, name), path.join(binDir, name))
      await fs.chmod(path.join(binDir, name), 0o755)
    }

    const setScenario = async (env: Record<string, string>) => fs.writeFile(path.join(hostRoot, 'scenario.env'), shellAssignments(env))
    await setScenario(options.env ?? {})

    const sshPort = await freePort()
    const cfg = path.join(hostRoot, 'sshd_config')
    await fs.writeFile(
      cfg,
      sshdConfig({
        extra: [`SetEnv PATH=${securePath} NIX_CONF_DIR=${nixConfDir} "GIT_SSH_COMMAND=${gitSshCommand}"`, 'MaxSessions 64', 'MaxStartups 64'],
        hostKey: path.join(hostRoot, 'ssh_host_ed25519_key'),
        port: sshPort,
        user,
      }),
    )
    // Own mount namespace: /run and the system profiles are this host's alone.
    const reaper = options.reaperDelaySeconds === undefined ? '' : `perl -e "$SLOW_REAPER" ${options.reaperDelaySeconds} `
    const script = `mount --bind '${runDir}' /run && mount --bind '${profilesDir}' /nix/var/nix/profiles && exec ${reaper}/usr/sbin/sshd -D -E '${sshdLog}' -f '${cfg}'`
    await fs.mkdir('/nix/var/nix/profiles', {recursive: true})
    sshd = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {env: {...process.env, SLOW_REAPER}, stdio: ['ignore', 'ignore', 'pipe']})
    let sshdErr = ''
    sshd.stderr?.on('data', (d) => (sshdErr += String(d)))
    const deadline = Date.now() + 10_000
    for (;;) {
      const log = existsSync(sshdLog) ? await fs.readFile(sshdLog, 'utf8') : ''
      if (log.includes('Server listening on')) break
      if (sshd.exitCode !== null || Date.now() > deadline) throw new Error(`sshd did not start: ${sshdErr}${log}`)
      await new Promise((r) => setTimeout(r, 30))
    }

    // The forge's own sshd, in the host's namespace (so stop() ends it and its sessions).
    const forgePort = await freePort()
    const forgeCfg = path.join(hostRoot, 'forge_sshd_config')
    const forgeLog = path.join(hostRoot, 'forge-sshd.log')
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(hostRoot, 'forge_host_ed25519_key')])
    const forgePub = (await fs.readFile(path.join(hostRoot, 'forge_host_ed25519_key.pub'), 'utf8')).trim().split(/\s+/)
    await fs.writeFile(
      forgeCfg,
      sshdConfig({extra: ['SetEnv PATH=/usr/bin:/bin'], hostKey: path.join(hostRoot, 'forge_host_ed25519_key'), port: forgePort, user: forgeUser}),
    )
    forgeSshd = spawn('nsenter', ['-t', String(sshd.pid), '-m', '--', '/usr/sbin/sshd', '-D', '-E', forgeLog, '-f', forgeCfg], {stdio: ['ignore', 'ignore', 'pipe']})
    let forgeErr = ''
    forgeSshd.stderr?.on('data', (d) => (forgeErr += String(d)))
    for (const forgeDeadline = Date.now() + 10_000; ; ) {
      const log = existsSync(forgeLog) ? await fs.readFile(forgeLog, 'utf8') : ''
      if (log.includes('Server listening on')) break
      if (forgeSshd.exitCode !== null || Date.now() > forgeDeadline) throw new Error(`the forge sshd did not start: ${forgeErr}${log}`)
      await new Promise((r) => setTimeout(r, 30))
    }

    // What NixOS renders into /etc/ssh/ssh_config and /etc/ssh/ssh_known_hosts for root's fetches.
    await fs.writeFile(
      sshConfig,
      [
        '# Stand-in for the e2e host\'s /etc/ssh/ssh_config (see test/e2e/host/test-host.ts): the block NixOS renders for',
        '# root\'s fetches of the homelab repository with the deploy key. 127.0.0.1 is the forge here.',
        'Match host 127.0.0.1 localuser root',
        '  IdentityFile /run/secrets/git/deploy_key',
        '  IdentitiesOnly yes',
        '  StrictHostKeyChecking yes',
        'Host *',
        `  GlobalKnownHostsFile ${sshKnownHosts}`,
        '  UserKnownHostsFile /dev/null',
        '',
      ].join('\n'),
    )
    await fs.writeFile(sshKnownHosts, `[127.0.0.1]:${forgePort} ${forgePub[0]} ${forgePub[1]}\n`)
    const forgeUrl = (bareRepo: string) => `ssh://${forgeUser}@127.0.0.1:${forgePort}${bareRepo}`

    const sshdPid = sshd.pid!
    hostNamespace = await fs.readlink(`/proc/${sshdPid}/ns/mnt`)
    await fs.writeFile(
      path.join(home, '.ssh/config'),
      `Host ${alias}\n  HostName 127.0.0.1\n  Port ${sshPort}\n  User ${user}\n  IdentityFile ~/.ssh/id_ed25519\n  IdentitiesOnly yes\n`,
    )
    const env: Record<string, string | undefined> = {
      HOME: home,
      SSH_AUTH_SOCK: undefined,
      XDG_CONFIG_HOME: undefined,
      GIT_AUTHOR_NAME: 'homelab e2e',
      GIT_AUTHOR_EMAIL: 'e2e@homelab.test',
      GIT_COMMITTER_NAME: 'homelab e2e',
      GIT_COMMITTER_EMAIL: 'e2e@homelab.test',
    }
    const gitEnv = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>

    const runOnHost = async (cmd: string) => run('nsenter', ['-t', String(sshdPid), '-m', '--', 'sh', '-c', cmd], {env: {...NIX_ENV, GIT_SSH_COMMAND: gitSshCommand, NIX_CONF_DIR: nixConfDir, PATH: securePath}})
    const countLines = async (needle: string) => (await fs.readFile(sshdLog, 'utf8')).split('\n').filter((l) => l.includes(needle)).length

    /**
     * The host bootstrap flake in `flakeDir` pinning `remote` (fetched through this host's forge),
     * with stand-in sops-nix and disko inputs; locked and switched to once when the host runs the
     * nixos-rebuild stand-in.
     */
    const makeHostFlake = async ({base, flakeDir, hostName, nixos: nixosOption, remote}: {base: string; flakeDir: string; hostName: string; nixos?: boolean; remote: string}) => {
      const inputUrl = `git+${forgeUrl(remote)}?ref=main`
      const inputs = {disko: path.join(base, 'inputs/disko'), sopsNix: path.join(base, 'inputs/sops-nix')}
      if (nixosOption ?? (options.standIns ?? []).includes('nixos-rebuild')) {
        // Stand-ins for the host flake's other inputs: a git flake (sops-nix) and a path source (disko).
        await fs.mkdir(inputs.sopsNix, {recursive: true})
        await fs.mkdir(inputs.disko, {recursive: true})
        await fs.writeFile(path.join(inputs.sopsNix, 'flake.nix'), '# Stand-in for sops-nix in the e2e host flake (a flake input that is not homelab).\n{ outputs = { self }: { nixosModules.sops = { }; }; }\n')
        await fs.writeFile(path.join(inputs.disko, 'README'), 'Stand-in for disko in the e2e host flake (a path input that is not homelab).\n')
        const inputGit = async (args: string[]) => run('git', args, {cwd: inputs.sopsNix, env: gitEnv})
        await inputGit(['init', '-q', '-b', 'main'])
        await inputGit(['add', '-A'])
        await inputGit(['commit', '-q', '-m', 'sops-nix stand-in'])
        await fs.mkdir(flakeDir, {recursive: true})
        await fs.writeFile(
          path.join(flakeDir, 'flake.nix'),
          [
            '# Host bootstrap flake of the e2e test host: homelab pinned like /etc/nixos does it, fetched by root over SSH',
            '# with the deploy key (the forge: see test/e2e/host/test-host.ts); sops-nix and disko are local stand-ins.',
            '{',
            `  inputs.homelab = { url = "${inputUrl}"; flake = false; };`,
            `  inputs.sops-nix.url = "git+file://${inputs.sopsNix}?ref=main";`,
            `  inputs.disko = { url = "path:${inputs.disko}"; flake = false; };`,
            '  outputs = { self, homelab, sops-nix, disko }: { };',
            '}',
            '',
          ].join('\n'),
        )
        await runOnHost(`cd '${flakeDir}' && nix flake lock '${flakeDir}' 2>&1 && nixos-rebuild switch --flake '${flakeDir}#${hostName}' 2>&1`)
      }

      return {inputUrl, inputs}
    }

    const homelabRepo = async (repoOptions: {hostName?: string; pinHostKey?: boolean; nixos?: boolean} = {}): Promise<TestRepo> => {
      const base = await fs.mkdtemp(path.join(hostRoot, 'repo-'))
      await fs.chmod(base, 0o755) // the host user reads the flake dir, like /etc/nixos
      const dir = path.join(base, 'homelab')
      const remote = path.join(base, 'remote.git')
      const flakeDir = path.join(base, 'host-flake')
      const hostName = repoOptions.hostName ?? 'testhost'
      // docs/ holds the generated map (docs/topology.md), stale once homelab.yaml names this host.
      const skip = new Set(['node_modules', 'dist', '.git', 'oclif.manifest.json', 'coverage', 'docs'])
      await fs.cp(REPO_ROOT, dir, {recursive: true, filter: (src) => !skip.has(path.basename(src)) || path.dirname(src) !== REPO_ROOT})
      const doc = parseDocument(await fs.readFile(path.join(dir, 'homelab.yaml'), 'utf8'))
      doc.set('hosts', [{name: hostName, ssh: alias, flakeDir, flakeInput: 'homelab'}])
      await fs.writeFile(path.join(dir, 'homelab.yaml'), doc.toString())
      // nixos/hosts.json is what Nix reads of hosts:; the CLI writes it from homelab.yaml.
      const homelab = await loadHomelab({cwd: dir})
      await fs.writeFile(path.join(dir, homelab.config.cluster.hostsFile), expectedHostsFile(homelab))
      const knownHosts = String(doc.get('knownHosts') ?? 'known_hosts')
      await fs.writeFile(path.join(dir, knownHosts), repoOptions.pinHostKey === false ? '' : `${`[${alias}]:${sshPort}`} ${hostPub[0]} ${hostPub[1]}\n`)
      const git = async (args: string[]) => run('git', args, {cwd: dir, env: gitEnv})
      await git(['init', '-q', '-b', 'main'])
      await git(['add', '-A'])
      await git(['commit', '-q', '-m', 'homelab e2e copy'])
      await run('git', ['init', '-q', '--bare', '-b', 'main', remote])
      await git(['remote', 'add', 'origin', remote])
      await git(['push', '-q', 'origin', 'main'])
      await git(['branch', '-q', '--set-upstream-to', 'origin/main'])
      const commit = async (file: string, content: string, message: string) => {
        await fs.mkdir(path.dirname(path.join(dir, file)), {recursive: true})
        await fs.writeFile(path.join(dir, file), content)
        await git(['add', file])
        await git(['commit', '-q', '-m', message])
        return git(['rev-parse', 'HEAD'])
      }

      const {inputUrl, inputs} = await makeHostFlake({base, flakeDir, hostName, nixos: repoOptions.nixos, remote})
      return {commit, dir, flakeDir, git, hostName, inputUrl, inputs, remote}
    }

    const hostFlake = async (flakeOptions: {hostName: string; remote: string}) => {
      const base = await fs.mkdtemp(path.join(hostRoot, 'flake-'))
      await fs.chmod(base, 0o755)
      const flakeDir = path.join(base, 'host-flake')
      const {inputUrl} = await makeHostFlake({base, flakeDir, hostName: flakeOptions.hostName, remote: flakeOptions.remote})
      return {flakeDir, inputUrl}
    }

    return {
      alias,
      authorizedKeys,
      deployKey,
      deployKeyPublic,
      forgeAuthorizedKeys,
      forgeLog,
      forgePort,
      forgeUrl,
      forgeUser,
      sshConfig,
      sshKnownHosts,
      binDir,
      async connections() {
        return countLines('Connection from ')
      },
      env,
      home,
      homelabRepo,
      hostFlake,
      hostKeyFingerprint,
      hostRoot,
      knownHostsLine: `[${alias}]:${sshPort} ${hostPub[0]} ${hostPub[1]}`,
      async logins() {
        return countLines('Accepted publickey for ')
      },
      reaperPid: options.reaperDelaySeconds === undefined ? undefined : sshdPid,
      runOnHost,
      setScenario,
      sshdLog,
      sshPort,
      stop,
      sudoPassword,
      user,
    }
  } catch (error) {
    await stop()
    throw error
  }
}

/** An sshd_config for a loopback sshd of the test host: key-only login for `user`, own host key, `extra` lines after the common ones. */
function sshdConfig(options: {port: number; hostKey: string; user: string; extra: string[]}): string {
  return [
    `Port ${options.port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${options.hostKey}`,
    'PidFile none',
    'LogLevel VERBOSE',
    'UsePAM no',
    'StrictModes no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin no',
    `AllowUsers ${options.user}`,
    'AuthorizedKeysFile .ssh/authorized_keys',
    ...options.extra,
    'X11Forwarding no',
    'PrintMotd no',
    '',
  ].join('\n')
}
