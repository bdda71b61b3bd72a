# The backup values the host needs, from the two JSON files the CLI also reads:
#   ./storage.json  every app's storage path + extraBackupSources (the backup sources)
#   ./backup.json   schedule, drill schedule, sync interval, repository path, status folder, R2
#                   bucket, prefix and deletion window
#   ./hosts.json    with `hostName`: which host is the k3s server (an app without `node` is there)
# Pure (no pkgs, no config): the tests evaluate it with `nix-instantiate --eval --strict --json`.
{ storageFile ? ./storage.json, backupFile ? ./backup.json, hostName ? null, hostsFile ? ./hosts.json }:
let
  storage = builtins.fromJSON (builtins.readFile storageFile);
  backup = builtins.fromJSON (builtins.readFile backupFile);
  # Each host snapshots the app folders on its own disk (storage.json apps[].node, absent = the
  # server); without hostName, every app (one host).
  hosts = if hostName == null then [ ] else (builtins.fromJSON (builtins.readFile hostsFile)).hosts or [ ];
  servers = builtins.filter (h: (h.role or "server") == "server") hosts;
  serverName = if servers == [ ] then hostName else (builtins.head servers).name;
  localApps = builtins.filter (app: hostName == null || (app.node or serverName) == hostName) storage.apps;
in
{
  # Each (local) app's path, then the extra sources, in file order (src/lib/config/load.ts backupSources).
  sources = (map (app: app.path) localApps) ++ (storage.extraBackupSources or [ ]);
  inherit (backup) schedule syncEveryHours repositoryPath stateDir bucket;
  prefix = backup.prefix or "";
  # The restore drill's OnCalendar; files written before it existed get the CLI's default
  # (src/lib/backup/settings.ts DEFAULT_DRILL_SCHEDULE).
  drillSchedule = backup.drillSchedule or "Sun *-*-* 04:00:00";
  # Days a blob missing locally stays in R2 before the sync deletes it there (0: at once).
  offsiteDeleteAfterDays = backup.offsiteDeleteAfterDays or 30;
  # systemd OnCalendar for "every N hours", e.g. 6 -> "*-*-* 00/6:00:00".
  syncOnCalendar = "*-*-* 00/${toString backup.syncEveryHours}:00:00";
}
