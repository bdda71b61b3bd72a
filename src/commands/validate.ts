import path from 'node:path'

import {HomelabCommand} from '../base-command.js'
import {findRepoRoot} from '../lib/config/load.js'
import {validateRepo, type ValidateReport} from '../lib/validate/run.js'
import {colors} from '../ui/color.js'
import {renderValidateReport} from '../ui/validate-report.js'

/**
 * `homelab validate`: the offline checks of a homelab repository.
 *
 * `--json` prints the {@link ValidateReport}:
 * `{ok, root, errors, warnings, durationMs, checks: [{id, title, status: "passed"|"failed"|"skipped",
 * skipped?, durationMs, findings: [{check, file, line, message, severity: "error"|"warning"|"info"}]}]}`
 * with the checks in the order yaml, kustomize, storage, backup, sops, nix, config, schema, map. Exit 1 when
 * `ok` is false (any error finding), also under `--json`.
 */
export default class Validate extends HomelabCommand {
  static override summary = 'Check the homelab offline and report every problem as file:line.'

  static override description = `Runs nine checks on the repository without touching the host, and reports every problem as file:line, grouped by check:
  yaml       every YAML file parses; every Kubernetes object has apiVersion, kind and metadata.name
  kustomize  every kustomization entry exists; every Flux Kustomization spec.path exists and builds
             (kubectl kustomize; reported as skipped when kubectl is not installed); dependsOn and
             sourceRef resolve
  storage    every PersistentVolumeClaim binds to exactly one PersistentVolume; hostPath
             PersistentVolumes lie under the storage root; no two share a path
  backup     every hostPath under the storage root is a backup source (the storage file), and each app with a database image declares a consistent capture (apps[].backup: a warning when it is files)
  sops       files matched by a .sops.yaml creation rule are SOPS-encrypted to exactly its
             recipients; no Secret in flux/ holds plaintext data or stringData
  nix        every .nix file parses (nix-instantiate --parse; only nix's errors are findings;
             reported as skipped when nix is not installed or cannot run)
  config     homelab.yaml is valid and agrees with the tree
  schema     every Kubernetes and Flux object matches its API schema (kubernetes-models,
             @kubernetes-models/flux-cd), strictly: an unknown field is an error; objects of
             an apiVersion/kind without a schema (CRDs) are listed as "not checked" notes
  map        the committed map docs/topology.md (homelab map --format markdown) is current:
             the map is built again and compared (skipped without kubectl; nothing when absent)

Files under src/, test/, bench/, bin/, dist/, node_modules/ are not part of the homelab and are not read; YAML under templates/ is not checked (it holds {{placeholders}}), .nix templates are parsed with sample values. Exits 1 when any check finds an error.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Validate the homelab in this repository.'},
    {command: '<%= config.bin %> <%= command.id %> --repo ~/src/my-homelab --json', description: 'Validate another repository and print the report as JSON.'},
  ]

  static override enableJsonFlag = true

  async run(): Promise<ValidateReport> {
    const {flags} = await this.parse(Validate)
    const root = flags.repo ? path.resolve(flags.repo) : findRepoRoot(process.cwd())
    const report = await validateRepo({path: process.env.PATH, root})
    if (!this.jsonEnabled()) this.log(renderValidateReport(report, colors()))
    if (!report.ok) process.exitCode = 1
    return report
  }
}
