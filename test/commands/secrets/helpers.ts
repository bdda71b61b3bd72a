import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {parseIdentities} from '../../../src/lib/age/index.js'
import {createSopsFile, decryptSopsFile, loadSopsConfig} from '../../../src/lib/sops/index.js'
import {REPO_ROOT} from '../../helpers/cli.js'

export const DEMO_KEY = path.join(REPO_ROOT, 'test/fixtures/keys/demo.agekey')
export const DEMO_RECIPIENT = 'age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6'
export const HOST_SECRETS = 'nixos/secrets/host-secrets.sops.yaml'
export const TUNNEL_SECRET = 'flux/clusters/azalab-0/manifests/apps/secrets.sops.yaml'

const SKIP = new Set(['node_modules', 'dist', '.git', 'coverage'])

/** A temp copy of the bundled homelab (no node_modules/dist/.git) and a private HOME; `cleanup()` removes both. */
export async function copyHomelab(): Promise<{dir: string; home: string; env: Record<string, string>; cleanup(): Promise<void>}> {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-secrets-cmd-'))
  const dir = path.join(base, 'repo')
  const home = path.join(base, 'home')
  await fs.mkdir(home)
  await fs.cp(REPO_ROOT, dir, {filter: (src) => !SKIP.has(path.basename(src)) || path.dirname(src) !== REPO_ROOT, recursive: true})
  await ensureHostSecrets(dir)
  return {
    async cleanup() {
      await fs.rm(base, {force: true, recursive: true})
    },
    dir,
    env: {CI: 'true', HOME: home, SOPS_AGE_KEY: '', SOPS_AGE_KEY_FILE: DEMO_KEY, XDG_CONFIG_HOME: path.join(home, '.config')},
    home,
  }
}

/** The bundled homelab's host secrets file (written by the demo seeding script); made here if a checkout lacks it. */
export async function ensureHostSecrets(dir: string): Promise<void> {
  const file = path.join(dir, HOST_SECRETS)
  const exists = await fs.stat(file).then(
    () => true,
    () => false,
  )
  if (exists) return
  const config = await loadSopsConfig({dir})
  await createSopsFile({
    config,
    file,
    plaintext: '# Host secrets (DEMO)\nkopia:\n    repository_password: demo-password\nr2:\n    access_key_id: demo-id\n    secret_access_key: demo-secret\n    account_id: 0123456789abcdef0123456789abcdef\n',
  })
  await createSopsFile({
    config,
    file: path.join(dir, TUNNEL_SECRET),
    plaintext: 'apiVersion: v1\nkind: Secret\nmetadata:\n    name: tunnel-credentials\n    namespace: cloudflared\ntype: Opaque\nstringData:\n    credentials.json: "{}"\n',
  })
}

/** Decrypts a file of the copy with the demo key. */
export async function decryptWithDemo(file: string) {
  const identities = await parseIdentities(await fs.readFile(DEMO_KEY, 'utf8'), DEMO_KEY)
  return decryptSopsFile({file, identities})
}
