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
  // ssh2 writes the 32-byte ed25519 public key like a bignum: one that starts with a 0x00 byte
  // (1 key in 256) loses it, and OpenSSH then refuses the private key ("error in libcrypto").
  // Such a pair is drawn again: a well-formed public blob is string "ssh-ed25519" + string(32 B).
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', {comment})
    const fields = pair.public.trim().split(/\s+/)
    const blob = Buffer.from(fields[1], 'base64')
    if (blob.length !== ED25519_BLOB_BYTES) continue
    return {blob, fingerprint: fingerprint(blob), privateKey: pair.private.endsWith('\n') ? pair.private : `${pair.private}\n`, publicKey: `${fields[0]} ${fields[1]} ${comment}`}
  }
}

/** Bytes of an ed25519 public key blob: uint32 11 + "ssh-ed25519" + uint32 32 + the key (RFC 8709). */
const ED25519_BLOB_BYTES = 4 + 11 + 4 + 32
