# Kopia backups of the homelab host, and their off-site copy in Cloudflare R2.
#
#   kopia-backup.service (+ .timer)   one snapshot per backup source, daily at backup.json's
#                                     `schedule` (Persistent: a missed run happens at boot)
#   kopia-backup-source@<path>.service  the same for one source (`homelab backup run --source`);
#                                     the instance is `systemd-escape --path <source>`
#   kopia-r2-sync.service (+ .timer)  `kopia repository sync-to s3` to R2 every `syncEveryHours`,
#                                     additions only; deletions after `offsiteDeleteAfterDays`
#   homelab-backup-drill.service (+ .timer)  restore drill of every source at backup.json's
#                                     `drillSchedule` (weekly); homelab-backup-drill@<path> for one
#   homelab-backup-failed@<unit>.service  OnFailure= of the above: logs and marks the failure
#   homelab-kopia                     kopia with the units' environment, for `homelab backup verify`
#
# Sources: every app path of homelab.storageFile (./storage.json) on this host (apps[].node) + its
# extraBackupSources (the list the CLI reads); schedule, repository, bucket: ./backup.json (via ./backup-settings.nix).
# Secrets (nixos/secrets/host-secrets.sops.yaml, sops-nix): kopia/repository_password,
# r2/access_key_id, r2/secret_access_key, r2/account_id. They reach kopia through
# sops.templates environment files (EnvironmentFile=), never argv.
# Status: the scripts write <stateDir>/last-run.json, snapshots.json and last-sync.json, read by
# `homelab backup status` (src/lib/backup/).
{ config, lib, pkgs, ... }:
let
  cfg = config.homelab.backup;
  # Sources from the storage list the rest of the host module uses (homelab.storageFile).
  settings = import ./backup-settings.nix { inherit (config.homelab) storageFile hostName hostsFile; };

  sourcesFile = pkgs.writeText "homelab-backup-sources" (lib.concatLines settings.sources);
  # The storage file itself, for each app's `backup` capture (scripts/kopia-backup.sh reads it with jq).
  storageFile = pkgs.writeText "homelab-storage.json" (builtins.readFile config.homelab.storageFile);
  kopiaConfigPath = "/var/lib/kopia/repository.config";

  # Non-secret environment shared by the units and homelab-kopia.
  commonEnvironment = {
    KOPIA_CONFIG_PATH = kopiaConfigPath;
    KOPIA_CACHE_DIRECTORY = "/var/cache/kopia";
    KOPIA_LOG_DIR = "/var/log/kopia";
    KOPIA_CHECK_FOR_UPDATES = "false";
    KOPIA_REPOSITORY_PATH = settings.repositoryPath;
    HOMELAB_BACKUP_STATE_DIR = settings.stateDir;
    HOMELAB_BACKUP_SOURCES = "${sourcesFile}";
    HOMELAB_STORAGE_FILE = "${storageFile}";
  };

  # sqlite3 for the `sqlite` capture (VACUUM INTO); k3s for `k3s kubectl` (the `postgres` capture's
  # exec, the `stop` capture's scale): services.k3s.package (types.package, default pkgs.k3s;
  # nixpkgs nixos/modules/services/cluster/k3s/default.nix), the k3s the host runs.
  scriptPath = [ pkgs.kopia pkgs.jq pkgs.coreutils pkgs.findutils pkgs.gnugrep pkgs.gnused pkgs.gawk pkgs.util-linux pkgs.sqlite config.services.k3s.package ];
  runScript = script: "${pkgs.bash}/bin/bash ${script}";
  # The snapshot units also check each `postgres` capture's dump with pg_restore (it reads the
  # whole archive) before it replaces the previous one. pg_restore reads dumps of its own and
  # older majors only, so the pinned nixpkgs' default `postgresql` must not be older than the
  # server the app runs (else the capture fails with "unsupported version" in the dump check).
  backupPath = scriptPath ++ [ pkgs.postgresql ];

  backupServiceConfig = {
    Type = "oneshot";
    EnvironmentFile = config.sops.templates."kopia-backup.env".path;
    # 75: another run holds the lock; it is not a failure.
    SuccessExitStatus = "75";
    Nice = 10;
    IOSchedulingClass = "idle";
    StateDirectory = [ "homelab/backup" "kopia" ];
    CacheDirectory = "kopia";
    LogsDirectory = "kopia";
  };

  homelabKopia = pkgs.writeShellScriptBin "homelab-kopia" ''
    ${lib.concatStrings (lib.mapAttrsToList (k: v: "export ${k}=${lib.escapeShellArg v}\n") commonEnvironment)}
    export HOMELAB_KOPIA_ENV_FILE=${lib.escapeShellArg config.sops.templates."kopia-backup.env".path}
    export PATH=${lib.makeBinPath scriptPath}:$PATH
    exec ${runScript ../scripts/homelab-kopia.sh} "$@"
  '';

  sopsKey = name: {
    sopsFile = cfg.secretsFile;
    key = name;
  };

  # The restore drill: the backup units' environment and tools, plus sqlite3 and pg_restore to
  # open the dumps. `path` puts each package's bin output on PATH (nixos/lib/systemd-unit-options.nix
  # serviceOptions.path; sqlite's sqlite3 is in its "bin" output). pg_restore reads dumps of its
  # own and older majors only (custom-format header version), so the default `postgresql` major
  # of the pinned nixpkgs must not be older than the server immich runs (the drill says so
  # when it is: "pg_restore --list: ... unsupported version").
  drillPath = scriptPath ++ [ pkgs.sqlite pkgs.postgresql ];
  drillEnvironment = commonEnvironment // {
    # Scratch folders of the restores, made 0700 by the script (restores hold secrets).
    HOMELAB_DRILL_SCRATCH = "/var/cache/homelab-drill";
  };
  drillServiceConfig = backupServiceConfig // {
    # 75: the lock wait timed out (a snapshot or sync held it); the next drill will run.
    SuccessExitStatus = "75";
  };
in
{
  options.homelab.backup = {
    enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Kopia snapshots of every backup source and their sync to Cloudflare R2.";
    };
    secretsFile = lib.mkOption {
      type = lib.types.path;
      default = ./secrets/host-secrets.sops.yaml;
      description = "SOPS file holding kopia/repository_password and r2/{access_key_id,secret_access_key,account_id}.";
    };
  };

  config = lib.mkIf cfg.enable {
    sops.secrets."kopia/repository_password" = sopsKey "kopia/repository_password";
    sops.secrets."r2/access_key_id" = sopsKey "r2/access_key_id";
    sops.secrets."r2/secret_access_key" = sopsKey "r2/secret_access_key";
    sops.secrets."r2/account_id" = sopsKey "r2/account_id";

    # Environment files (root, 0400) rendered by sops-nix at activation.
    sops.templates."kopia-backup.env".content = ''
      KOPIA_PASSWORD=${config.sops.placeholder."kopia/repository_password"}
    '';
    sops.templates."kopia-r2-sync.env".content = ''
      KOPIA_PASSWORD=${config.sops.placeholder."kopia/repository_password"}
      AWS_ACCESS_KEY_ID=${config.sops.placeholder."r2/access_key_id"}
      AWS_SECRET_ACCESS_KEY=${config.sops.placeholder."r2/secret_access_key"}
      R2_ACCOUNT_ID=${config.sops.placeholder."r2/account_id"}
    '';

    environment.systemPackages = [ pkgs.kopia homelabKopia ];

    systemd.services.kopia-backup = {
      description = "Kopia snapshot of every homelab backup source";
      wants = [ "local-fs.target" ];
      after = [ "local-fs.target" ];
      onFailure = [ "homelab-backup-failed@%p.service" ];
      path = backupPath;
      environment = commonEnvironment;
      serviceConfig = backupServiceConfig // {
        ExecStart = runScript ../scripts/kopia-backup.sh;
      };
    };

    systemd.timers.kopia-backup = {
      description = "Daily Kopia snapshot of every homelab backup source";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = settings.schedule;
        Persistent = true;
      };
    };

    # One source: `systemctl start kopia-backup-source@$(systemd-escape --path /srv/app).service`.
    systemd.services."kopia-backup-source@" = {
      description = "Kopia snapshot of %f";
      onFailure = [ "homelab-backup-failed@%p.service" ];
      path = backupPath;
      environment = commonEnvironment;
      serviceConfig = backupServiceConfig // {
        ExecStart = "${runScript ../scripts/kopia-backup.sh} --source %f";
      };
    };

    # The off-site copy corruption cannot reach (issue 13). R2 has no S3 Object Lock, and its
    # bucket locks exist only in Cloudflare's API (nothing here could check or keep them), so the
    # protection is in how this unit writes: `sync-to s3 --no-update` without `--delete` only adds
    # blobs (kopia's default --update would let a rewritten or corrupted local blob overwrite the
    # good copy; --delete would carry a deletion to R2 within hours), and a blob missing locally is
    # deleted from the bucket only after backup.json `offsiteDeleteAfterDays` (ledger in stateDir;
    # 0 = at once = no protection, which `homelab backup offsite` reports as a failure). rclone
    # lists and deletes in the bucket and writes the marker homelab/offsite-protection.json that
    # `homelab backup offsite` reads (a host other than the k3s server: its own sibling prefix and
    # marker, backup-settings.nix syncPrefix/markerKey). Details: scripts/kopia-r2-sync.sh.
    systemd.services.kopia-r2-sync = {
      description = "Sync the Kopia repository to Cloudflare R2";
      wants = [ "network-online.target" ];
      after = [ "network-online.target" "kopia-backup.service" ];
      onFailure = [ "homelab-backup-failed@%p.service" ];
      path = scriptPath ++ [ pkgs.rclone ];
      environment = commonEnvironment // {
        R2_BUCKET = settings.bucket;
        # This host's own prefix and marker (backup-settings.nix: the server keeps backup.json's).
        R2_PREFIX = settings.syncPrefix;
        R2_MARKER_KEY = settings.markerKey;
        R2_DELETE_AFTER_DAYS = toString settings.offsiteDeleteAfterDays;
      };
      serviceConfig = {
        Type = "oneshot";
        EnvironmentFile = config.sops.templates."kopia-r2-sync.env".path;
        SuccessExitStatus = "75";
        ExecStart = runScript ../scripts/kopia-r2-sync.sh;
        StateDirectory = [ "homelab/backup" "kopia" ];
        CacheDirectory = "kopia";
        LogsDirectory = "kopia";
      };
    };

    systemd.timers.kopia-r2-sync = {
      description = "Sync the Kopia repository to Cloudflare R2 every ${toString settings.syncEveryHours} hours";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = settings.syncOnCalendar;
        Persistent = true;
        RandomizedDelaySec = "5m";
      };
    };

    # Restore drills (scripts/homelab-backup-drill.sh): restore each source's newest snapshot into
    # a scratch folder, open its database dumps, compare a sample of files with the live data;
    # the result goes to <stateDir>/last-drill.json for `homelab backup status`.
    systemd.services.homelab-backup-drill = {
      description = "Restore drill of every homelab backup source";
      wants = [ "local-fs.target" ];
      after = [ "local-fs.target" "kopia-backup.service" ];
      onFailure = [ "homelab-backup-failed@%p.service" ];
      path = drillPath;
      environment = drillEnvironment;
      serviceConfig = drillServiceConfig // {
        ExecStart = runScript ../scripts/homelab-backup-drill.sh;
      };
    };

    # One source: `systemctl start homelab-backup-drill@$(systemd-escape --path /srv/app).service`.
    systemd.services."homelab-backup-drill@" = {
      description = "Restore drill of %f";
      onFailure = [ "homelab-backup-failed@%p.service" ];
      path = drillPath;
      environment = drillEnvironment;
      serviceConfig = drillServiceConfig // {
        ExecStart = "${runScript ../scripts/homelab-backup-drill.sh} %f";
      };
    };

    systemd.timers.homelab-backup-drill = {
      description = "Weekly restore drill of every homelab backup source";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = settings.drillSchedule;
        Persistent = true;
      };
    };

    systemd.services."homelab-backup-failed@" = {
      description = "Record the failure of %i";
      path = [ pkgs.coreutils pkgs.util-linux ];
      environment.HOMELAB_BACKUP_STATE_DIR = settings.stateDir;
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${runScript ../scripts/homelab-backup-failed.sh} %i";
      };
    };
  };
}
