import {randomBytes} from 'node:crypto'

/** The crypt(3) salt alphabet (glibc crypt-sha512: `./0-9A-Za-z`). */
const SALT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/**
 * A random 16-character crypt salt (the longest SHA-crypt uses), from node:crypto.
 * 256 is a multiple of 64, so `byte % 64` is uniform.
 */
export function randomSalt(): string {
  return [...randomBytes(16)].map((b) => SALT_ALPHABET[b % 64]).join('')
}

/**
 * Hashes a password as SHA-512 crypt (`$6$<salt>$<hash>`, 5000 rounds: glibc's default; Ulrich
 * Drepper's "Unix crypt using SHA-256 and SHA-512" spec), the format NixOS takes in
 * `users.users.<name>.hashedPasswordFile` (nixos/modules/config/users-groups.nix accepts any
 * crypt(3) hash glibc/libxcrypt verifies). Computed with the `unixcrypt` package (pure JS, no
 * native code; checked in the tests against `openssl passwd -6`).
 *
 * @param password the plaintext; never logged
 * @param salt 1–16 characters of `./0-9A-Za-z`; random when omitted
 * @throws Error for an empty password or a bad salt
 */
export async function hashPassword(password: string, salt: string = randomSalt()): Promise<string> {
  if (password === '') throw new Error('empty password')
  if (!/^[./0-9A-Za-z]{1,16}$/.test(salt)) throw new Error('salt must be 1 to 16 characters of ./0-9A-Za-z')
  const {encrypt} = await import('unixcrypt')
  return encrypt(password, `$6$${salt}`)
}

/** True when `password` matches a `$6$`/`$5$` crypt hash (unixcrypt `verify`). */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const {verify} = await import('unixcrypt')
  return verify(password, hash)
}

/** True for a SHA-512 crypt (`$6$`) or yescrypt (`$y$`) hash, the formats the admin password hash may hold. */
export function isPasswordHash(text: string): boolean {
  return /^\$6\$(rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$/.test(text) || /^\$y\$[./0-9A-Za-z]+\$[./0-9A-Za-z]*\$[./0-9A-Za-z]{43}$/.test(text)
}
