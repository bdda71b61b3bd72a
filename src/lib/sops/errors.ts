import {HomelabError} from '../errors.js'

/**
 * A SOPS file cannot be read, decrypted or written: not a SOPS file, malformed `ENC[...]`,
 * MAC mismatch, no identity for its recipients, unknown key path. The message names the file.
 */
export class SopsError extends HomelabError {}

/** `.sops.yaml` is missing, malformed, or no creation rule matches a file. */
export class SopsConfigError extends HomelabError {}
