import {Flags} from '@oclif/core'

/**
 * The flags of every command that opens an SSH connection to a host, defined once and spread
 * into each command's `flags` (`...connectionFlags`): `--accept-new-host-key` and
 * `--connect-timeout SECONDS`.
 */
export const connectionFlags = {
  'accept-new-host-key': Flags.boolean({description: 'pin an unknown host key into known_hosts without asking', default: false, helpGroup: 'CONNECTION'}),
  'connect-timeout': Flags.integer({
    description: 'seconds to wait for the host\'s SSH answer, per hop (default: ConnectTimeout from ~/.ssh/config, else 20, or 120 through a ProxyCommand)',
    helpGroup: 'CONNECTION',
    helpValue: 'SECONDS',
    // 2^31-1 ms: Node fires a longer timer at once.
    max: 2_147_483,
    min: 1,
  }),
}

/** The parsed values of {@link connectionFlags}. */
export interface ConnectionFlagValues {
  'accept-new-host-key': boolean
  'connect-timeout'?: number
}

/** What the connection flags ask of connectHost (src/lib/ssh): field names of its options. */
export interface ConnectionSettings {
  acceptNewHostKey: boolean
  /** Seconds; undefined = ConnectTimeout from ~/.ssh/config, else 20. */
  connectTimeoutSeconds?: number
}

/** Maps the parsed connection flags to {@link ConnectionSettings}. */
export function connectionSettings(flags: ConnectionFlagValues): ConnectionSettings {
  return {acceptNewHostKey: flags['accept-new-host-key'], connectTimeoutSeconds: flags['connect-timeout']}
}
