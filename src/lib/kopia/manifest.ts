import {z} from 'zod'

import {KopiaOutputError} from './errors.js'

/**
 * Kopia's snapshot manifest as printed by `kopia snapshot list --json` and (without `stats`)
 * `kopia snapshot create --json`. Source: kopia `snapshot/manifest.go` (Manifest, DirEntry,
 * DirectorySummary, Stats) and `cli/command_snapshot_list.go`; real kopia 0.23.1 samples in
 * test/fixtures/kopia/. Unknown fields are kept (kopia adds fields over time).
 * Times are RFC 3339 UTC strings with 0 to 9 fraction digits.
 */
const sourceSchema = z.looseObject({host: z.string(), userName: z.string(), path: z.string()})

const summarySchema = z.looseObject({
  /** Total bytes of the files under the root. */
  size: z.number(),
  files: z.number(),
  symlinks: z.number().optional(),
  dirs: z.number(),
  maxTime: z.string().optional(),
  /** Entries that failed (kopia exits 1 when there are any). */
  numFailed: z.number().optional(),
})

const statsSchema = z.looseObject({
  /** Bytes. */
  totalSize: z.number(),
  excludedTotalSize: z.number().optional(),
  fileCount: z.number(),
  cachedFiles: z.number().optional(),
  nonCachedFiles: z.number().optional(),
  dirCount: z.number(),
  excludedFileCount: z.number().optional(),
  excludedDirCount: z.number().optional(),
  ignoredErrorCount: z.number().optional(),
  errorCount: z.number(),
})

export const snapshotManifestSchema = z.looseObject({
  id: z.string().min(1),
  source: sourceSchema,
  description: z.string().optional(),
  startTime: z.string(),
  endTime: z.string(),
  /** Present in `snapshot list`; stripped from `snapshot create` output (kopia cli/json_output.go). */
  stats: statsSchema.optional(),
  /** True for a checkpoint of a snapshot that did not finish. */
  incomplete: z.string().optional(),
  rootEntry: z
    .looseObject({
      name: z.string().optional(),
      type: z.string().optional(),
      /** Object ID of the root directory: `kopia snapshot restore <obj>/<path> <target>` takes it. */
      obj: z.string(),
      summ: summarySchema.optional(),
    })
    .optional(),
  tags: z.record(z.string(), z.string()).optional(),
  pins: z.array(z.string()).optional(),
  retentionReason: z.array(z.string()).optional(),
})

/** One Kopia snapshot manifest (see {@link snapshotManifestSchema}). */
export type SnapshotManifest = z.infer<typeof snapshotManifestSchema>

/** The numbers of a snapshot, whichever command printed it. Sizes in bytes. */
export interface SnapshotFigures {
  /** Bytes under the source (stats.totalSize, else rootEntry.summ.size). */
  size: number | undefined
  files: number | undefined
  dirs: number | undefined
  /** Failed entries: stats.errorCount, else rootEntry.summ.numFailed (create output has no stats). */
  errors: number
}

/** Size, files, dirs and errors of a manifest from `stats` when present, else from `rootEntry.summ`. */
export function snapshotFigures(manifest: SnapshotManifest): SnapshotFigures {
  const summ = manifest.rootEntry?.summ
  return {
    size: manifest.stats?.totalSize ?? summ?.size,
    files: manifest.stats?.fileCount ?? summ?.files,
    dirs: manifest.stats?.dirCount ?? summ?.dirs,
    errors: manifest.stats?.errorCount ?? summ?.numFailed ?? 0,
  }
}

/** Milliseconds since the epoch of a kopia timestamp (any number of fraction digits). */
export function kopiaTime(text: string): number {
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) throw new KopiaOutputError(`kopia printed a time that is not RFC 3339: ${JSON.stringify(text)}`)
  return ms
}

function parseManifest(value: unknown, what: string): SnapshotManifest {
  const result = snapshotManifestSchema.safeParse(value)
  if (!result.success) {
    const issue = result.error.issues[0]
    throw new KopiaOutputError(`${what}: not a kopia snapshot manifest (${issue.path.join('.') || 'root'}: ${issue.message})`)
  }

  return result.data
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new KopiaOutputError(`${what}: not JSON (${(error as Error).message})`)
  }
}

/**
 * Parses `kopia snapshot list [--all] --json`: a JSON array of manifests, printed by kopia's
 * jsonList as `[`, `\n {obj}`, `,\n {obj}`, …, `\n]` (kopia `cli/json_output.go`).
 *
 * @param text the command's stdout
 * @returns the manifests in kopia's order (by source, then start time)
 * @throws KopiaOutputError when the text is not a JSON array of manifests
 */
export function parseSnapshotList(text: string, what = 'kopia snapshot list --json'): SnapshotManifest[] {
  const value = parseJson(text, what)
  if (!Array.isArray(value)) throw new KopiaOutputError(`${what}: expected a JSON array`)
  return value.map((item, i) => parseManifest(item, `${what} [${i}]`))
}

/**
 * Parses `kopia snapshot create PATH… --json`: one compact manifest a line, one per source,
 * without `stats` (kopia strips it unless `--json-verbose`, `cli/json_output.go`). Lines that are
 * not JSON objects (none in practice; progress goes to stderr) are skipped.
 *
 * @returns one manifest per source, in the order kopia printed them
 * @throws KopiaOutputError when a `{` line is not a manifest
 */
export function parseSnapshotCreate(text: string): SnapshotManifest[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('{'))
    .map((line, i) => parseManifest(parseJson(line, `kopia snapshot create --json line ${i + 1}`), `kopia snapshot create --json line ${i + 1}`))
}

/**
 * The newest manifest (by endTime, then startTime) per source path, skipping incomplete ones.
 * @returns a map from `source.path` to its newest manifest
 */
export function latestByPath(manifests: SnapshotManifest[]): Map<string, SnapshotManifest> {
  const latest = new Map<string, SnapshotManifest>()
  for (const manifest of manifests) {
    if (manifest.incomplete) continue
    const current = latest.get(manifest.source.path)
    if (!current || kopiaTime(manifest.endTime) > kopiaTime(current.endTime)) latest.set(manifest.source.path, manifest)
  }

  return latest
}
