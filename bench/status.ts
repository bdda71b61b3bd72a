#!/usr/bin/env -S node --import tsx
/**
 * bench/status: `homelab status` against the e2e test host with 30 Kustomizations, against the
 * same queries run by hand: one `ssh host CMD` per query, in sequence (each its own SSH
 * handshake). Prints both medians, the ratio (target <= 0.4x) and the SSH logins per status run
 * (target exactly 1, counted from sshd's log).
 *
 * The CLI is measured as built: the sources are compiled with tsc into a temp folder (the repo's
 * dist/ is left alone) and run with bin/run.js, like an installed homelab. Both sides include
 * the local `git fetch`.
 *
 * Usage: bench/status [--runs N] (needs root, like the e2e tests)
 */
import {execa} from 'execa'
import {promises as fs} from 'node:fs'
import path from 'node:path'

import {REPO_ROOT} from '../test/helpers/cli.js'
import {startTestHost} from '../test/e2e/host/test-host.js'
import {buildCli, formatRatio, interleavedMedians, numberFlag, timed} from './lib/measure.js'

const runs = numberFlag('--runs', 5)
const KUSTOMIZATIONS = 30

/** healthy.json with the Kustomizations grown to `count` (apps copies app-NN). */
async function fixture(commit: string, count: number): Promise<string> {
  const text = (await fs.readFile(path.join(REPO_ROOT, 'test/fixtures/flux/azalab-0/healthy.json'), 'utf8'))
    .replaceAll('{{ .fluxns }}', 'flux-system')
    .replaceAll('{{ .commit }}', commit)
    .replaceAll('{{ .previous }}', commit)
  const list = JSON.parse(text) as {items: Array<{kind: string; metadata: {name: string}}>}
  const apps = list.items.find((i) => i.kind === 'Kustomization' && i.metadata.name === 'apps')!
  const existing = list.items.filter((i) => i.kind === 'Kustomization').length
  for (let n = 1; n <= count - existing; n++) list.items.push({...structuredClone(apps), metadata: {...structuredClone(apps.metadata), name: `app-${String(n).padStart(2, '0')}`}})
  return JSON.stringify(list)
}

const host = await startTestHost({standIns: ['nixos-rebuild', 'nixos-version', 'k3s', 'kubectl', 'systemctl']})
try {
  const [repo, built] = await Promise.all([host.homelabRepo({nixos: true}), buildCli()])
  const head = await repo.git(['rev-parse', 'HEAD'])
  const objects = path.join(host.hostRoot, 'flux-objects.json')
  await fs.writeFile(objects, await fixture(head, KUSTOMIZATIONS))
  await host.setScenario({STANDIN_KUBECTL_OBJECTS: objects, STANDIN_KUBECTL_STATE: path.join(host.hostRoot, 'kubectl-state')})
  const env = {...host.env, HOMELAB_SUDO_PASSWORD: host.sudoPassword, NO_COLOR: '1'}
  const knownHosts = path.join(host.home, '.ssh/known_hosts')
  // ssh looks the key up under the HostName it connects to.
  await fs.writeFile(knownHosts, `${host.knownHostsLine.replace(/^\S+/, `[127.0.0.1]:${host.sshPort}`)}\n`)

  // What homelab status asks, one query per ssh call, as done by hand.
  const kube = (what: string) => `sudo -S -p '' env KUBECONFIG=/etc/rancher/k3s/k3s.yaml k3s kubectl get ${what} -A -o json`
  const queries: Array<{cmd: string; sudo?: boolean}> = [
    {cmd: kube('gitrepositories.source.toolkit.fluxcd.io'), sudo: true},
    {cmd: kube('kustomizations.kustomize.toolkit.fluxcd.io'), sudo: true},
    {cmd: kube('helmreleases.helm.toolkit.fluxcd.io'), sudo: true},
    {cmd: kube('nodes'), sudo: true},
    {cmd: 'nixos-rebuild list-generations --json'},
    {cmd: 'nixos-version --configuration-revision'},
    {cmd: `cat ${repo.flakeDir}/flake.lock`},
    {cmd: 'cat /proc/uptime'},
    {cmd: 'systemctl list-units --state=failed --no-legend --plain --no-pager'},
    {cmd: 'df -Pk /srv'},
    {cmd: 'cat /var/lib/homelab/backup/*.json 2>/dev/null; find /srv -mindepth 1 -maxdepth 1 -type d; systemctl show kopia-backup.timer kopia-r2-sync.timer -p NextElapseUSecRealtime 2>/dev/null || true'},
  ]
  const byHand = async () =>
    (
      await timed(async () => {
        await execa('git', ['fetch', '--quiet', 'origin', 'main'], {cwd: repo.dir, env})
        for (const q of queries) {
          const r = await execa('ssh', ['-F', path.join(host.home, '.ssh/config'), '-o', 'BatchMode=yes', '-i', path.join(host.home, '.ssh/id_ed25519'), '-o', `UserKnownHostsFile=${knownHosts}`, host.alias, q.cmd], {
            env,
            input: q.sudo ? `${host.sudoPassword}\n` : '',
            reject: false,
          })
          if (r.exitCode !== 0) throw new Error(`ssh ${q.cmd}: ${r.stderr}`)
        }
      })
    ).ms

  const logins = new Set<number>()
  const status = async () => {
    const before = await host.logins()
    const {ms, value: r} = await timed(() => execa(process.execPath, [built.bin, 'status'], {cwd: repo.dir, env, reject: false}))
    // Exit 1 is fine here (the test host has no backups yet); 2 or more is not.
    if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(`homelab status exited ${r.exitCode}: ${r.stderr}\n${r.stdout}`)
    if (!r.stdout.includes('app-27')) throw new Error('status did not list the 30 Kustomizations')
    logins.add((await host.logins()) - before)
    return ms
  }

  await byHand()
  await status() // warm-up (file cache, compile cache)
  logins.clear()
  const {cli: c, hand: h} = await interleavedMedians(runs, {hand: byHand, cli: status})
  console.log(`bench/status: ${KUSTOMIZATIONS} Kustomizations, ${runs} runs each, medians`)
  console.log(`  by hand: ${queries.length} x ssh host CMD in sequence + git fetch   ${h.toFixed(0)} ms`)
  console.log(`  homelab status (built CLI, one connection)              ${c.toFixed(0)} ms`)
  console.log(`  ratio ${formatRatio(c / h, {atMost: 0.4})}`)
  console.log(`  SSH logins per status run: ${[...logins].join(', ')} (target exactly 1)`)
  await built.remove()
} finally {
  await host.stop()
}
