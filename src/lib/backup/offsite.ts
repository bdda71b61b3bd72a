import {createHash, randomInt} from 'node:crypto'

import {HomelabError, HostUnreachableError} from '../errors.js'
import {judgeProtection, OFFSITE_MARKER_KEY, type OffsiteMarker, offsiteMarkerSchema, type OffsiteProtection} from './offsite-protection.js'
import {formatAge} from './status.js'

/** The S3 credentials of the off-site bucket (R2 API token: access key ID and secret). */
export interface OffsiteCredentials {
  accessKeyId: string
  secretAccessKey: string
}

/** The bucket refused the credentials (unknown key, bad secret, no permission). Exit 1. */
export class OffsiteCredentialsError extends HomelabError {}

/** Options of {@link checkOffsite}. */
export interface OffsiteCheckOptions {
  /** S3 endpoint: a bare host (https, e.g. `<account>.r2.cloudflarestorage.com`) or a URL (`http://127.0.0.1:9000`). */
  endpoint: string
  bucket: string
  /** Key prefix of the host's Kopia repository ("" or ending in "/"; offsite-target.ts offsiteTarget). */
  prefix: string
  /** Key of the host's protection marker (default {@link OFFSITE_MARKER_KEY}, the k3s server's; offsite-target.ts). */
  markerKey?: string
  credentials: OffsiteCredentials
  /** Where the credentials came from, for the error message (e.g. "nixos/secrets/host-secrets.sops.yaml"). */
  credentialsSource?: string
  /** The newest blob must be younger than this, in seconds. */
  maxAgeSeconds: number
  /** Time to judge ages against (default now). */
  now?: Date
  /** S3 region; R2 takes "auto". */
  region?: string
  /** Per-request timeout in milliseconds (default 20000). */
  timeoutMs?: number
  /**
   * backup.json `offsiteDeleteAfterDays`: when given, the protection marker is read and judged
   * (`protection` in the result); the marker must be younger than `maxAgeSeconds` too.
   */
  deleteAfterDays?: number
  /** The backup file for messages (default "nixos/backup.json"). */
  backupFile?: string
  /** When given, also read blobs back and check them (`restoreTest` in the result). */
  restoreTest?: {sample: number}
}

/**
 * `homelab backup offsite --restore-test`: blobs read back from the bucket over the S3 API and
 * checked against the marker's records. Sizes in bytes.
 */
export interface OffsiteRestoreTest {
  ok: boolean
  /** `<prefix>kopia.repository`: read in full, parses as JSON with a uniqueID, the marker's if it has one. */
  formatBlob: {key: string; ok: boolean; uniqueID: string | null; length: number | null; sha256: string | null}
  /** p/q blobs in the bucket with a record in the marker (what the sample is drawn from). */
  recorded: number
  /** p/q blobs in the bucket without a record (copied before the marker knew them; not checked). */
  unrecorded: number
  /** Blobs read in full (the sample). */
  sampled: number
  /** Of those, length and sha256 equal to the record. */
  matched: number
  bytesRead: number
  mismatches: {key: string; expected: {length: number; sha256: string}; actual: {length: number; sha256: string}}[]
  /** Blobs the marker records that are gone from the bucket (deleted outside kopia-r2-sync). */
  missing: string[]
  /** One line per problem; empty when ok. */
  problems: string[]
}

/**
 * Result of {@link checkOffsite} (`homelab backup offsite --json`). Times RFC 3339 UTC, ages in
 * seconds, sizes in bytes.
 */
export interface OffsiteStatus {
  ok: boolean
  /** The endpoint URL used. */
  endpoint: string
  bucket: string
  prefix: string
  /** The bucket answered a listing with these credentials. */
  reachable: boolean
  blobs: {
    /** Objects under the prefix. */
    total: number
    /** Their total size in bytes. */
    totalBytes: number
    /** `<prefix>kopia.repository` (the format blob) is there. */
    repository: boolean
    /** Pack blobs: `p…` (file contents) and `q…` (metadata). */
    packs: number
    metadataPacks: number
  }
  /** The most recently written blob, if any. */
  newestBlob: {key: string; lastModified: string; ageSeconds: number} | null
  maxAgeSeconds: number
  /** What protects the copy (null when `deleteAfterDays` was not given). */
  protection: OffsiteProtection | null
  /** The read-back check (null unless asked for). */
  restoreTest: OffsiteRestoreTest | null
  /** One line per problem; empty when ok. */
  problems: string[]
}

/** The endpoint as a URL: a bare host means https. */
export function endpointUrl(endpoint: string): string {
  return /^https?:\/\//.test(endpoint) ? endpoint.replace(/\/+$/, '') : `https://${endpoint}`
}

const CREDENTIAL_ERRORS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'Forbidden', 'Unauthorized'])

/**
 * Checks the off-site copy of the Kopia repository directly over the S3 API (`@aws-sdk/client-s3`,
 * loaded lazily): the bucket answers, the repository's blobs are there (kopia.repository and the
 * p/q pack blobs under the prefix; blob names from kopia `repo/content` and `repo/format`), and
 * the newest blob is younger than `maxAgeSeconds`. With `deleteAfterDays`, also reads the marker
 * (`markerKey`, default {@link OFFSITE_MARKER_KEY}) and judges the protection in force ({@link judgeProtection}); with
 * `restoreTest`, reads the format blob and a random sample of p/q blobs in full and checks them
 * against the marker's records ({@link OffsiteRestoreTest}).
 *
 * @throws OffsiteCredentialsError when the endpoint refuses the credentials (one clear line)
 * @throws HostUnreachableError (exit 2) when the endpoint cannot be reached
 * @throws HomelabError for other S3 errors
 */
export async function checkOffsite(options: OffsiteCheckOptions): Promise<OffsiteStatus> {
  const {ListObjectsV2Command, S3Client} = await import('@aws-sdk/client-s3')
  const endpoint = endpointUrl(options.endpoint)
  const client = new S3Client({
    credentials: options.credentials,
    endpoint,
    forcePathStyle: true,
    maxAttempts: 2,
    region: options.region ?? 'auto',
  })
  const status: OffsiteStatus = {
    blobs: {metadataPacks: 0, packs: 0, repository: false, total: 0, totalBytes: 0},
    bucket: options.bucket,
    endpoint,
    maxAgeSeconds: options.maxAgeSeconds,
    newestBlob: null,
    ok: false,
    prefix: options.prefix,
    problems: [],
    protection: null,
    reachable: false,
    restoreTest: null,
  }
  const nowDate = options.now ?? new Date()
  const now = nowDate.getTime()
  const timeout = () => ({abortSignal: AbortSignal.timeout(options.timeoutMs ?? 20_000)})
  let newest: {key: string; time: number} | undefined
  /** Blob ID (key without the prefix) → size, for the blobs directly under the prefix. */
  const sizes = new Map<string, number>()
  let marker: OffsiteMarker | null | Error = null

  try {
    let token: string | undefined
    do {
      // eslint-disable-next-line no-await-in-loop
      const page = await client.send(new ListObjectsV2Command({Bucket: options.bucket, ContinuationToken: token, Prefix: options.prefix || undefined}), timeout())
      status.reachable = true
      for (const object of page.Contents ?? []) {
        const name = (object.Key ?? '').slice(options.prefix.length)
        // Kopia blob IDs have no "/": the marker (and anything else in a sub-folder) is not a blob.
        if (name.includes('/')) continue
        sizes.set(name, object.Size ?? 0)
        status.blobs.total++
        status.blobs.totalBytes += object.Size ?? 0
        if (name === 'kopia.repository' || name === 'kopia.repository.f') status.blobs.repository = true
        else if (name.startsWith('p')) status.blobs.packs++
        else if (name.startsWith('q')) status.blobs.metadataPacks++
        const time = object.LastModified?.getTime()
        if (time !== undefined && (!newest || time > newest.time)) newest = {key: object.Key ?? '', time}
      }

      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)

    if (options.deleteAfterDays !== undefined || options.restoreTest) {
      const text = await getText(client, options.bucket, options.markerKey ?? OFFSITE_MARKER_KEY, timeout)
      if (text !== null) {
        try {
          marker = offsiteMarkerSchema.parse(JSON.parse(text))
        } catch (error) {
          marker = new Error(error instanceof SyntaxError ? 'not JSON' : 'unexpected shape')
        }
      }
    }

    if (options.restoreTest) {
      status.restoreTest = await restoreTest({
        bucket: options.bucket,
        client,
        marker: marker instanceof Error ? null : marker,
        prefix: options.prefix,
        sample: options.restoreTest.sample,
        sizes,
        timeout,
      })
    }
  } catch (error) {
    const code = (error as Error & {Code?: string}).name ?? (error as {Code?: string}).Code
    if (code === 'NoSuchBucket') {
      status.reachable = true
      status.problems.push(`bucket ${options.bucket} does not exist at ${endpoint}`)
      return status
    }

    throw s3Error(error, options, endpoint)
  } finally {
    client.destroy()
  }

  const where = `s3://${options.bucket}/${options.prefix}`
  if (status.blobs.total === 0) status.problems.push(`${where} is empty: no Kopia repository there (has kopia-r2-sync ever succeeded?)`)
  else {
    if (!status.blobs.repository) status.problems.push(`${where}kopia.repository is missing: not a Kopia repository`)
    if (status.blobs.packs === 0 || status.blobs.metadataPacks === 0)
      status.problems.push(`${where}: no ${status.blobs.packs === 0 ? 'p' : 'q'} pack blobs: the repository holds no snapshot data`)
  }

  if (newest) {
    const ageSeconds = Math.max(0, Math.round((now - newest.time) / 1000))
    status.newestBlob = {ageSeconds, key: newest.key, lastModified: new Date(newest.time).toISOString()}
    if (ageSeconds > options.maxAgeSeconds)
      status.problems.push(`newest blob ${newest.key} is ${formatAge(ageSeconds)} old (expected within ${formatAge(options.maxAgeSeconds)})`)
  }

  if (options.deleteAfterDays !== undefined) {
    const judged = judgeProtection({
      backupFile: options.backupFile ?? 'nixos/backup.json',
      deleteAfterDays: options.deleteAfterDays,
      marker,
      markerKey: options.markerKey,
      maxAgeSeconds: options.maxAgeSeconds,
      now: nowDate,
      where: `s3://${options.bucket}/`,
    })
    status.protection = judged.protection
    status.problems.push(...judged.problems)
  }

  if (status.restoreTest) status.problems.push(...status.restoreTest.problems)

  status.ok = status.problems.length === 0
  return status
}

/** Maps an S3 SDK error to the CLI's errors (see {@link checkOffsite}); NoSuchBucket is returned as a problem there. */
function s3Error(error: unknown, options: OffsiteCheckOptions, endpoint: string): Error {
  const err = error as Error & {$metadata?: {httpStatusCode?: number}; code?: string; Code?: string}
  const code = err.name ?? err.Code
  const where = `${endpoint} bucket ${options.bucket}`
  if (CREDENTIAL_ERRORS.has(code) || err.$metadata?.httpStatusCode === 401 || err.$metadata?.httpStatusCode === 403) {
    const source = options.credentialsSource ? ` from ${options.credentialsSource}` : ''
    return new OffsiteCredentialsError(`${where} refused the credentials${source} (${code}): wrong r2.access_key_id or r2.secret_access_key`, {
      cause: error,
      suggestions: [
        `check the R2 API token in Cloudflare and store it with \`homelab secrets set ${options.credentialsSource ?? '<sops file>'} r2.access_key_id\` (and r2.secret_access_key)`,
      ],
    })
  }

  const netCode = err.code ?? (err.cause as NodeJS.ErrnoException | undefined)?.code
  if (netCode && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH)$/.test(netCode))
    return new HostUnreachableError(`${endpoint} is unreachable (${netCode})`, {cause: error, suggestions: ['check homelab.yaml backup.offsite.endpoint and your network']})
  if (err.name === 'TimeoutError' || err.name === 'AbortError')
    return new HostUnreachableError(`${endpoint} did not answer within ${Math.round((options.timeoutMs ?? 20_000) / 1000)}s`, {cause: error})
  return new HomelabError(`reading ${where} failed: ${code}: ${err.message}`, {cause: error})
}

type S3 = InstanceType<typeof import('@aws-sdk/client-s3').S3Client>
type Timeout = () => {abortSignal: AbortSignal}

/** The object's bytes, or null when the key does not exist. */
async function getBytes(client: S3, bucket: string, key: string, timeout: Timeout): Promise<Uint8Array | null> {
  const {GetObjectCommand} = await import('@aws-sdk/client-s3')
  try {
    const r = await client.send(new GetObjectCommand({Bucket: bucket, Key: key}), timeout())
    return (await r.Body?.transformToByteArray()) ?? new Uint8Array()
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey' || (error as {$metadata?: {httpStatusCode?: number}}).$metadata?.httpStatusCode === 404) return null
    throw error
  }
}

async function getText(client: S3, bucket: string, key: string, timeout: Timeout): Promise<string | null> {
  const bytes = await getBytes(client, bucket, key, timeout)
  return bytes === null ? null : Buffer.from(bytes).toString('utf8')
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

/** Reads the format blob and `sample` random recorded p/q blobs in full and checks them (see {@link OffsiteRestoreTest}). */
async function restoreTest(options: {
  client: S3
  bucket: string
  prefix: string
  marker: OffsiteMarker | null
  sample: number
  sizes: Map<string, number>
  timeout: Timeout
}): Promise<OffsiteRestoreTest> {
  const {bucket, client, marker, prefix, sizes, timeout} = options
  const where = `s3://${bucket}/${prefix}`
  const formatKey = `${prefix}kopia.repository`
  const result: OffsiteRestoreTest = {
    bytesRead: 0,
    formatBlob: {key: formatKey, length: null, ok: false, sha256: null, uniqueID: null},
    matched: 0,
    mismatches: [],
    missing: [],
    ok: false,
    problems: [],
    recorded: 0,
    sampled: 0,
    unrecorded: 0,
  }
  const records = marker?.blobs ?? {}
  if (!marker) result.problems.push(`s3://${bucket}/${OFFSITE_MARKER_KEY} is missing or unreadable: no blob records to check the bytes against`)

  // The format blob: JSON with the repository's uniqueID (kopia repo/format), the marker's.
  const format = await getBytes(client, bucket, formatKey, timeout)
  if (format === null) result.problems.push(`${where}kopia.repository is missing: the copy cannot be opened without it`)
  else {
    result.bytesRead += format.length
    result.formatBlob.length = format.length
    result.formatBlob.sha256 = sha256(format)
    let uniqueID: unknown
    try {
      uniqueID = (JSON.parse(Buffer.from(format).toString('utf8')) as {uniqueID?: unknown}).uniqueID
    } catch {}

    result.formatBlob.uniqueID = typeof uniqueID === 'string' && uniqueID !== '' ? uniqueID : null
    const record = records['kopia.repository']
    if (result.formatBlob.uniqueID === null) result.problems.push(`${where}kopia.repository does not parse as a Kopia format blob (no uniqueID)`)
    else if (marker?.uniqueID && marker.uniqueID !== result.formatBlob.uniqueID)
      result.problems.push(`${where}kopia.repository has uniqueID ${result.formatBlob.uniqueID}, the marker ${marker.uniqueID}: another repository`)
    else if (record && (record.length !== format.length || record.sha256 !== result.formatBlob.sha256))
      result.problems.push(`${where}kopia.repository differs from its record (${format.length} bytes, sha256 ${result.formatBlob.sha256.slice(0, 12)}…; recorded ${record.length} bytes, ${record.sha256.slice(0, 12)}…)`)
    else result.formatBlob.ok = true
  }

  const candidates: string[] = []
  for (const id of sizes.keys()) {
    if (!id.startsWith('p') && !id.startsWith('q')) continue
    if (records[id]) candidates.push(id)
    else result.unrecorded++
  }

  result.recorded = candidates.length
  result.missing = Object.keys(records)
    .filter((id) => !sizes.has(id))
    .map((id) => `${prefix}${id}`)
  if (result.missing.length > 0)
    result.problems.push(`${result.missing.length} blob${result.missing.length === 1 ? '' : 's'} the marker records ${result.missing.length === 1 ? 'is' : 'are'} gone from ${where} (e.g. ${result.missing[0]}): deleted outside kopia-r2-sync`)

  // A random sample without repetition (partial Fisher-Yates).
  const n = Math.min(options.sample, candidates.length)
  for (let i = 0; i < n; i++) {
    const j = i + randomInt(candidates.length - i)
    ;[candidates[i], candidates[j]] = [candidates[j], candidates[i]]
  }

  for (const id of candidates.slice(0, n)) {
    // eslint-disable-next-line no-await-in-loop
    const bytes = await getBytes(client, bucket, `${prefix}${id}`, timeout)
    result.sampled++
    const expected = records[id]
    if (bytes === null) {
      result.missing.push(`${prefix}${id}`)
      result.problems.push(`${where}${id} vanished while it was read`)
      continue
    }

    result.bytesRead += bytes.length
    const actual = {length: bytes.length, sha256: sha256(bytes)}
    if (actual.length === expected.length && actual.sha256 === expected.sha256) result.matched++
    else result.mismatches.push({actual, expected, key: `${prefix}${id}`})
  }

  if (result.mismatches.length > 0)
    result.problems.push(
      `${result.mismatches.length} of ${result.sampled} blobs read back differ from what the host wrote (${result.mismatches.map((m) => m.key).join(', ')}): the R2 copy of ${result.mismatches.length === 1 ? 'that blob is' : 'those blobs are'} damaged`,
    )
  if (marker && options.sample > 0 && candidates.length === 0) result.problems.push(`${where}: no recorded p/q blobs to read back`)
  result.ok = result.problems.length === 0
  return result
}
