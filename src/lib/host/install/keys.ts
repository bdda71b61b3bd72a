import {fingerprint} from '../../ssh/known-hosts.js'

/** A generated OpenSSH key pair. */
export interface SshKeyPair {
  /** OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----…`), unencrypted. Secret. */
  privateKey: string
  /** `ssh-ed25519 AAAA… comment`. */
  publicKey: string
  /** The public key blob (for known_hosts lines and fingerprints). */
  blob: Buffer
  /** `SHA256:…` of the blob, as ssh-keygen -l prints it. */
  fingerprint: string
}

/**
 * Generates an ed25519 key pair in OpenSSH format with ssh2's `utils.generateKeyPairSync`
 * (the private key in the `openssh-key-v1` format sshd and ssh read).
 * @param comment the public key's comment (e.g. `root@azalab-0`)
 */
export async function generateEd25519(comment: string): Promise<SshKeyPair> {
  const {default: ssh2} = await import('ssh2')
  const pair = ssh2.utils.generateKeyPairSync('ed25519', {comment})
  const fields = pair.public.trim().split(/\s+/)
  const blob = Buffer.from(fields[1], 'base64')
  return {blob, fingerprint: fingerprint(blob), privateKey: pair.private.endsWith('\n') ? pair.private : `${pair.private}\n`, publicKey: `${fields[0]} ${fields[1]} ${comment}`}
}
