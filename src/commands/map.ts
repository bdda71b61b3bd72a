import {Flags} from '@oclif/core'

import {HomelabCommand} from '../base-command.js'
import {connectionFlags} from '../connection-flags.js'
import {pickHost} from '../lib/config/hosts.js'
import {HomelabError, UsageError} from '../lib/errors.js'
import type {MapCheckReport} from '../lib/map/check.js'
import type {TopologyMap} from '../lib/map/types.js'
import {colors} from '../ui/color.js'

/** What `homelab map --port/--host --json` prints. */
export interface MapQueryResult {
  schemaVersion: 1
  query: {port: number} | {hostname: string}
  /** One phrase per match; empty when nothing matches (exit 1). */
  answers: string[]
}

/**
 * `homelab map`: the topology of the homelab, built from the repository alone (src/lib/map), as
 * a tree, JSON, Markdown or SVG; `--port`/`--host` answer one question in one line; `--check`
 * compares it with the live host over one SSH connection.
 */
export default class MapCommand extends HomelabCommand {
  static override summary = 'Show the topology of the homelab from the repository: hostnames, Services, workloads, volumes, host folders, backups, hosts.'

  static override description = `Built from the repository alone (no host): every app the apps kustomization lists, built with \`kubectl kustomize\` (namespace, workloads and images, Services and ports, SOPS Secrets its pods mount, by name), the tunnel's hostnames and the Service each routes to, claim → PersistentVolume → host folder (owner and mode from the storage file, the node), its backup source and capture mode; per host its role, open firewall ports and k3s role (nixos/homelab-module.nix) and the backup units (nixos/backup.nix, schedules from the backup file); the flakes' inputs.

--format markdown is the document to commit as docs/topology.md: it holds no time and no commit id, only the map and the SHA-256 of its input files, so regenerating it from the same inputs gives the same bytes (\`homelab validate\` fails when the committed one is stale). --format svg draws hostnames → tunnel → Services → workloads → claims → volumes → host folders → backup with Graphviz compiled to WebAssembly (nothing to install).

--check compares the map with the live system over one SSH connection to the k3s server (or --node): every Service and port exists, every tunnel hostname's Service has ready endpoints, every PersistentVolume is Bound with its host folder present (owner and mode of the storage file), every backup source has a snapshot, no workload runs that the repository does not declare (outside kube-system, flux-system…), no folder under the storage root belongs to no app. One line per mismatch, naming both sides.

Exit status: 0 ok; 1 a mismatch (--check) or no answer (--port, --host); 2 host unreachable; 3 usage.`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'The topology as a tree.'},
    {command: '<%= config.bin %> <%= command.id %> --format markdown --output docs/topology.md', description: 'Regenerate the committed map (validate checks it is current).'},
    {command: '<%= config.bin %> <%= command.id %> --format svg --output docs/topology.svg', description: 'The diagram.'},
    {command: '<%= config.bin %> <%= command.id %> --port 8080', description: 'What listens on port 8080, in one line.'},
    {command: '<%= config.bin %> <%= command.id %> --host photos.example.org', description: 'Which app owns a hostname, in one line.'},
    {command: '<%= config.bin %> <%= command.id %> --check', description: 'Compare the map with the live host; exit 1 on any mismatch.'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    format: Flags.string({description: 'output format (--json for JSON)', options: ['tree', 'markdown', 'svg'], default: 'tree'}),
    output: Flags.file({char: 'o', description: 'write the output to FILE (atomically) instead of stdout'}),
    port: Flags.integer({description: 'answer what listens on this port (Services, containers, host firewall)', min: 1, max: 65_535, exclusive: ['host', 'check']}),
    host: Flags.string({description: 'answer which app owns this public hostname (tunnel routes)', exclusive: ['port', 'check']}),
    check: Flags.boolean({description: 'compare the map with the live host over one SSH connection', default: false, exclusive: ['port', 'host']}),
    node: Flags.string({description: 'with --check: the homelab.yaml host to connect to (default: the k3s server)'}),
    ...connectionFlags,
  }

  async run(): Promise<TopologyMap | MapQueryResult | MapCheckReport> {
    const {flags} = await this.parse(MapCommand)
    const json = this.jsonEnabled()
    if (flags.node !== undefined && !flags.check) throw new UsageError('--node chooses the host of --check; add --check')
    const special = flags.check || flags.port !== undefined || flags.host !== undefined
    if (special && flags.format !== 'tree') throw new UsageError('--format goes with the map itself, not with --check, --port or --host')
    if (json && flags.format !== 'tree') throw new UsageError('--json and --format both choose the output; give one of them')
    if (flags.output && json) throw new UsageError('--output writes --format tree|markdown|svg; for JSON redirect stdout (--json > FILE)')
    if (flags.output && special) throw new UsageError('--output writes the map; --check, --port and --host print their answer')
    const homelab = await this.homelab(flags.repo)
    const [{buildMap}] = await Promise.all([import('../lib/map/model.js')])
    const map = await buildMap({homelab})

    if (flags.port !== undefined || flags.host !== undefined) {
      const {whatListensOn, whoOwnsHostname} = await import('../lib/map/query.js')
      const answers = flags.port === undefined ? whoOwnsHostname(map, flags.host!) : whatListensOn(map, flags.port)
      const query = flags.port === undefined ? {hostname: flags.host!} : {port: flags.port}
      if (answers.length === 0) process.exitCode = 1
      if (!json) {
        if (answers.length === 0)
          this.logToStderr(flags.port === undefined ? `no tunnel route for ${flags.host} in the repository (see \`homelab map\`)` : `nothing listens on port ${flags.port} in the repository's map (Services, containers, host firewall)`)
        else this.log(answers.join('; '))
      }

      return {answers, query, schemaVersion: 1}
    }

    if (flags.check) {
      const host = pickHost(homelab, flags.node)
      const [{checkMap}, {openHostConnection}, {renderMapCheck}] = await Promise.all([import('../lib/map/check.js'), import('../ui/host-connection.js'), import('../ui/map.js')])
      const connection = await openHostConnection({...this.hostConnectionOptions(flags), homelab, host})
      try {
        const report = await checkMap({connection, homelab, host: host.name, map})
        if (!json) this.log(renderMapCheck(report, colors()))
        if (!report.ok) process.exitCode = 1
        return report
      } finally {
        await connection.close()
      }
    }

    if (json) return map
    let text: string
    if (flags.format === 'markdown') text = (await import('../lib/map/markdown.js')).renderMarkdown(map)
    else if (flags.format === 'svg') text = await (await import('../lib/map/svg.js')).renderSvg(map)
    else text = (await import('../ui/map.js')).renderMapTree(map, colors(flags.output ? ({isTTY: false} as NodeJS.WriteStream) : process.stdout)) + '\n'
    if (flags.output) {
      const {writeFileAtomic} = await import('../lib/fs/atomic-write.js')
      try {
        await writeFileAtomic(flags.output, text)
      } catch (error) {
        throw new HomelabError(`cannot write ${flags.output}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {suggestions: ['check that its folder exists and is writable']})
      }
    } else process.stdout.write(text)

    return map
  }
}
