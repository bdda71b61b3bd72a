/**
 * Writes the bundled homelab's SOPS files with fresh random DEMO values, through the project's
 * own SOPS engine (src/lib/sops): the host secrets (nixos/secrets/host-secrets.sops.yaml), the
 * tunnel credentials (flux/clusters/<cluster>/manifests/apps/secrets.sops.yaml) and each app's
 * secret.sops.yaml. Plaintext exists only in memory; each file is encrypted to the recipients of
 * the `.sops.yaml` creation rule that matches it and written atomically.
 *
 * Demo only: it refuses to run unless every creation rule encrypts to the demo recipient
 * (test/fixtures/keys/demo.agekey), so it can never overwrite a real homelab's secrets.
 *
 *   npx tsx scripts/dev/seed-demo-secrets.ts [--repo DIR]
 */
import {generateKeyPairSync, randomBytes} from 'node:crypto'
import path from 'node:path'

import {createSopsFile, loadSopsConfig} from '../../src/lib/sops/index.js'

/** The recipient of test/fixtures/keys/demo.agekey (.sops.yaml of the bundled homelab). */
const DEMO_RECIPIENT = 'age1p9pavucvd0gxvghyyll588f336xm5wk8ptg9gyl9py0dynh6w5dqd9laf6'
const CLUSTER = 'flux/clusters/azalab-0'
/** Cloudflare account of the demo homelab (homelab.yaml backup.offsite.endpoint). */
const ACCOUNT_ID = '0123456789abcdef0123456789abcdef'
/** The tunnel ID in manifests/apps/cloudflared/configmap.yaml. */
const TUNNEL_ID = '3f6c2a1e-9b4d-4e2a-8c7f-5d1b0e9a4c21'

const hex = (bytes: number) => randomBytes(bytes).toString('hex')
const b64url = (bytes: number) => randomBytes(bytes).toString('base64url')

/** A Kubernetes Secret (stringData) as YAML text, with a comment above it. */
function secretYaml(comment: string, namespace: string, name: string, data: Record<string, string>): string {
  const lines = [...comment.split('\n').map((l) => `# ${l}`.trimEnd()), 'apiVersion: v1', 'kind: Secret', 'metadata:', `  name: ${name}`, `  namespace: ${namespace}`, 'type: Opaque', 'stringData:']
  for (const [key, value] of Object.entries(data)) {
    if (value.includes('\n')) lines.push(`  ${key}: |`, ...value.trimEnd().split('\n').map((l) => (l ? `    ${l}` : '')))
    else lines.push(`  ${key}: ${JSON.stringify(value)}`)
  }

  return lines.join('\n') + '\n'
}

/** The raw Ed25519 public key, URL-safe base64: the form sqld accepts in SQLD_AUTH_JWT_KEY. */
function ed25519PublicKey(): string {
  const {publicKey} = generateKeyPairSync('ed25519')
  const jwk = publicKey.export({format: 'jwk'})
  return jwk.x!
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const repoAt = argv.indexOf('--repo')
  const root = path.resolve(repoAt >= 0 ? argv[repoAt + 1] : path.join(import.meta.dirname, '../..'))

  const config = await loadSopsConfig({dir: root})
  const recipients = new Set(config.rules.flatMap((rule) => rule.recipients))
  if (recipients.size !== 1 || !recipients.has(DEMO_RECIPIENT)) {
    console.error(`seed-demo-secrets: ${root}/.sops.yaml does not encrypt to the demo recipient only; refusing to overwrite real secrets`)
    process.exit(1)
  }

  // The host's Kopia repository password: the in-cluster Kopia UI opens the same repository.
  const kopiaPassword = b64url(24)

  const files: Record<string, string> = {
    'nixos/secrets/host-secrets.sops.yaml': [
      '# Host secrets of azalab-0 (DEMO values), decrypted by sops-nix at activation with',
      '# /var/lib/sops-nix/key.txt; nixos/backup.nix turns them into the Kopia units\' environment.',
      'kopia:',
      '  # Password of the host\'s Kopia repository (and of its R2 copy).',
      `  repository_password: ${JSON.stringify(kopiaPassword)}`,
      'r2:',
      '  # Cloudflare R2 API token with read and write access to the backup bucket.',
      `  access_key_id: ${JSON.stringify(hex(16))}`,
      `  secret_access_key: ${JSON.stringify(hex(32))}`,
      `  account_id: ${JSON.stringify(ACCOUNT_ID)}`,
      '',
    ].join('\n'),

    [`${CLUSTER}/manifests/apps/secrets.sops.yaml`]: secretYaml(
      'Credentials of the Cloudflare Tunnel (DEMO values): the file `cloudflared tunnel create`\nwrites, mounted by the cloudflared Deployment at /etc/cloudflared/creds.',
      'cloudflared',
      'tunnel-credentials',
      {'credentials.json': JSON.stringify({AccountTag: ACCOUNT_ID, TunnelID: TUNNEL_ID, TunnelSecret: randomBytes(32).toString('base64')})},
    ),

    [`${CLUSTER}/manifests/apps/libsql/secret.sops.yaml`]: secretYaml(
      'sqld accepts only JWTs signed by the Ed25519 key whose public half is SQLD_AUTH_JWT_KEY\n(raw key, URL-safe base64). DEMO value: its private half was never kept.',
      'libsql',
      'libsql-auth',
      {SQLD_AUTH_JWT_KEY: ed25519PublicKey()},
    ),

    [`${CLUSTER}/manifests/apps/immich/secret.sops.yaml`]: secretYaml(
      'Password of immich\'s Postgres user, used by immich-server and immich-postgres (DEMO value).\nImmich accepts only A-Z, a-z and 0-9 in it.',
      'immich',
      'immich-secret',
      {DB_PASSWORD: hex(24)},
    ),

    [`${CLUSTER}/manifests/apps/kopia/secret.sops.yaml`]: secretYaml(
      'Kopia server UI (DEMO values): the repository password (the host\'s, see\nnixos/secrets/host-secrets.sops.yaml), a read-only R2 token, and the UI\'s basic auth.',
      'kopia',
      'kopia-secret',
      {
        AWS_ACCESS_KEY_ID: hex(16),
        AWS_SECRET_ACCESS_KEY: hex(32),
        KOPIA_PASSWORD: kopiaPassword,
        KOPIA_SERVER_PASSWORD: b64url(24),
        KOPIA_SERVER_USERNAME: 'aiden',
      },
    ),

    [`${CLUSTER}/manifests/apps/vaultwarden/secret.sops.yaml`]: secretYaml(
      'Token of vaultwarden\'s /admin page (DEMO value). An Argon2 PHC string\n(`vaultwarden hash`) is preferred over a plain token.',
      'vaultwarden',
      'vaultwarden-secret',
      {ADMIN_TOKEN: b64url(36)},
    ),

    [`${CLUSTER}/manifests/apps/tuwunel/secret.sops.yaml`]: secretYaml(
      'Token that new Matrix accounts must present to register (DEMO value).',
      'tuwunel',
      'tuwunel-secret',
      {TUWUNEL_REGISTRATION_TOKEN: b64url(24)},
    ),

    [`${CLUSTER}/manifests/apps/zeroclaw/secret.sops.yaml`]: secretYaml(
      'ZeroClaw\'s config.toml (DEMO values): the LLM provider key and the bot\'s Matrix access token.\nThe init container copies it to /zeroclaw-data/.zeroclaw/config.toml at every start.',
      'zeroclaw',
      'zeroclaw-config',
      {
        'config.toml': [
          'workspace_dir = "/zeroclaw-data/workspace"',
          'config_path = "/zeroclaw-data/.zeroclaw/config.toml"',
          `api_key = "sk-or-v1-${hex(32)}"`,
          'default_provider = "openrouter"',
          'default_model = "anthropic/claude-sonnet-4"',
          'default_temperature = 0.7',
          '',
          '[memory]',
          'backend = "sqlite"',
          'auto_save = true',
          '',
          '# In-cluster only (Service zeroclaw); no tunnel route reaches it.',
          '[gateway]',
          'host = "0.0.0.0"',
          'port = 42617',
          'allow_public_bind = true',
          '',
          '[channels_config]',
          'cli = false',
          '',
          '[channels_config.matrix]',
          'homeserver = "http://tuwunel.tuwunel.svc.cluster.local:8008"',
          `access_token = "syt_${b64url(30)}"`,
          `room_id = "!${b64url(12)}:matrix.aza.network"`,
          'allowed_users = ["@aiden:matrix.aza.network"]',
          '',
        ].join('\n'),
      },
    ),
  }

  for (const [rel, plaintext] of Object.entries(files)) {
    await createSopsFile({configDir: root, file: path.join(root, rel), plaintext})
    console.log(`seed-demo-secrets: wrote ${rel}`)
  }
}

await main()
