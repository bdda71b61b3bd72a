import {randomBytes} from 'node:crypto'

/** A SOPS file `homelab init` creates: its path and the plaintext YAML to encrypt. */
export interface PlannedSecret {
  path: string
  plaintext: string
}

/**
 * The two SOPS files of a new homelab, as plaintext YAML (encrypted by createHomelab before
 * anything is written):
 * - `nixos/secrets/host-secrets.sops.yaml`: `kopia.repository_password` (a new random password,
 *   32 bytes base64url) and the R2 credentials `r2.access_key_id`, `r2.secret_access_key`,
 *   `r2.account_id`, empty until set with `homelab secrets set`;
 * - `flux/clusters/<cluster>/manifests/apps/secrets.sops.yaml`: the Secret
 *   cloudflared/tunnel-credentials whose `credentials.json` (the tunnel's AccountTag, TunnelID,
 *   TunnelSecret) is empty until set.
 */
export function plannedSecrets(cluster: string): PlannedSecret[] {
  return [
    {
      path: 'nixos/secrets/host-secrets.sops.yaml',
      plaintext: [
        'kopia:',
        `  repository_password: ${randomBytes(32).toString('base64url')}`,
        'r2:',
        '  access_key_id: ""',
        '  secret_access_key: ""',
        '  account_id: ""',
        '',
      ].join('\n'),
    },
    {
      path: `flux/clusters/${cluster}/manifests/apps/secrets.sops.yaml`,
      plaintext: [
        'apiVersion: v1',
        'kind: Secret',
        'metadata:',
        '  name: tunnel-credentials',
        '  namespace: cloudflared',
        'type: Opaque',
        'stringData:',
        '  credentials.json: ""',
        '',
      ].join('\n'),
    },
  ]
}
