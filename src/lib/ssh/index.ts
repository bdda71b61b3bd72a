/** SSH transport (owner: deploy): one ssh2 connection per host, pinned host keys, sudo. */
export {expandProxyCommand, hostKeyNames, parseConnectTimeout, parseSshSpec, type ProxyCommandTokens, resolveSshTarget, type SshTarget} from './config.js'
export {
  connectHost,
  type ConnectHostOptions,
  DEFAULT_CONNECT_TIMEOUT_SECONDS,
  type ExecOptions,
  type ExecResult,
  type HostConnection,
  type HostKeyQuestion,
  type RemoteProcess,
} from './connection.js'
export {HostKeyChangedError, RemoteTimeoutError, SudoPasswordError, UnknownHostKeyError} from './errors.js'
export {
  checkHostKey,
  entryMatches,
  fingerprint,
  hashHostName,
  type HostKeyCheck,
  type KnownHostEntry,
  knownHostName,
  knownHostsLine,
  parseKnownHosts,
  pinnedKeyMessage,
} from './known-hosts.js'
export {type ProxyExit, type ProxyProcess, startProxyCommand} from './proxy-command.js'
export {lineSplitter, shellJoin, shellQuote} from './shell.js'
