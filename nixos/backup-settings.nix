# The backup values the host needs, from the two JSON files the CLI also reads:
#   ./storage.json  every app's storage path + extraBackupSources (the backup sources)
#   ./backup.json   schedule, drill schedule, sync interval, repository path, status folder, R2
#                   bucket, prefix and deletion window
# Pure (no pkgs, no config): the tests evaluate it with `nix-instantiate --eval --strict --json`.
{ storageFile ? ./storage.json, backupFile ? ./backup.json }:
let
  storage = builtins.fromJSON (builtins.readFile storageFile);
  backup = builtins.fromJSON (builtins.readFile backupFile);
in
{
  # Each app's path, then the extra sources, in file order (src/lib/config/load.ts backupSources).
  sources = (map (app: app.path) storage.apps) ++ (storage.extraBackupSources or [ ]);
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
