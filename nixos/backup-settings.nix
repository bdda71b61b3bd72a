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
  prefix = backup.prefix or "";
  # The off-site copy of THIS host's repository (issue 14). Each host snapshots into its own Kopia
  # repository, so each syncs to its own key prefix and writes its own marker: two repositories in
  # one prefix overwrite each other's kopia.repository, and the delayed-delete pass of one deletes
  # the other's blobs (not local to it). The k3s server (or no hostName: one host) keeps backup.json
  # `prefix` and homelab/offsite-protection.json (the single-host layout, nothing to migrate); any
  # other host a SIBLING prefix, never under the server's: "kopia/" -> "kopia-<host>/", "" -> "<host>/"
  # (with "" the server's listing would see every host's blobs: `homelab validate` refuses it with
  # several hosts), and homelab/offsite-protection-<host>.json. The CLI computes the same:
  # src/lib/backup/offsite-target.ts offsiteTarget.
  isServer = hostName == null || hostName == serverName;
  prefixLength = builtins.stringLength prefix;
  prefixStem = if prefixLength > 0 && builtins.substring (prefixLength - 1) 1 prefix == "/" then builtins.substring 0 (prefixLength - 1) prefix else prefix;
in
{
  # Each (local) app's path, then the extra sources, in file order (src/lib/config/load.ts backupSources).
  sources = (map (app: app.path) localApps) ++ (storage.extraBackupSources or [ ]);
  inherit (backup) schedule syncEveryHours repositoryPath stateDir bucket;
  inherit prefix;
  # This host's key prefix in the bucket and its protection marker's key (above).
  syncPrefix = if isServer then prefix else if prefixStem == "" then "${hostName}/" else "${prefixStem}-${hostName}/";
  markerKey = if isServer then "homelab/offsite-protection.json" else "homelab/offsite-protection-${hostName}.json";
  # The restore drill's OnCalendar; files written before it existed get the CLI's default
  # (src/lib/backup/settings.ts DEFAULT_DRILL_SCHEDULE).
  drillSchedule = backup.drillSchedule or "Sun *-*-* 04:00:00";
  # Days a blob missing locally stays in R2 before the sync deletes it there (0: at once).
  offsiteDeleteAfterDays = backup.offsiteDeleteAfterDays or 30;
  # systemd OnCalendar for "every N hours", e.g. 6 -> "*-*-* 00/6:00:00".
  syncOnCalendar = "*-*-* 00/${toString backup.syncEveryHours}:00:00";
}
