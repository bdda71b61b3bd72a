import {HomelabError, HostUnreachableError} from '../errors.js'

/** The host presented a key other than the pinned one: refused before any credential is sent. Exit 2. */
export class HostKeyChangedError extends HostUnreachableError {}

/** The host's key is in no known_hosts file and was not accepted. Exit 2. */
export class UnknownHostKeyError extends HostUnreachableError {}

/** sudo on the host needs a password and none was given, or the given one was rejected. Exit 1. */
export class SudoPasswordError extends HomelabError {}

/** A remote command ran past its time limit. */
export class RemoteTimeoutError extends HomelabError {}
