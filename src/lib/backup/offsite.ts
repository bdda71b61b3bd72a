import {HomelabError, HostUnreachableError} from '../errors.js'
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
  /** Key prefix of the Kopia repository ("" or ending in "/"). */
  prefix: string
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
 * the newest blob is younger than `maxAgeSeconds`.
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
    reachable: false,
  }
  const now = (options.now ?? new Date()).getTime()
  let newest: {key: string; time: number} | undefined

  try {
    let token: string | undefined
    do {
      // eslint-disable-next-line no-await-in-loop
      const page = await client.send(
        new ListObjectsV2Command({Bucket: options.bucket, ContinuationToken: token, Prefix: options.prefix || undefined}),
        {abortSignal: AbortSignal.timeout(options.timeoutMs ?? 20_000)},
      )
      status.reachable = true
      for (const object of page.Contents ?? []) {
        const name = (object.Key ?? '').slice(options.prefix.length)
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
  } catch (error) {
    const err = error as Error & {$metadata?: {httpStatusCode?: number}; code?: string; Code?: string}
    const code = err.name ?? err.Code
    const where = `${endpoint} bucket ${options.bucket}`
    if (CREDENTIAL_ERRORS.has(code) || err.$metadata?.httpStatusCode === 401 || err.$metadata?.httpStatusCode === 403) {
      const source = options.credentialsSource ? ` from ${options.credentialsSource}` : ''
      throw new OffsiteCredentialsError(`${where} refused the credentials${source} (${code}): wrong r2.access_key_id or r2.secret_access_key`, {
        cause: error,
        suggestions: [
          `check the R2 API token in Cloudflare and store it with \`homelab secrets set ${options.credentialsSource ?? '<sops file>'} r2.access_key_id\` (and r2.secret_access_key)`,
        ],
      })
    }

    if (code === 'NoSuchBucket') {
      status.reachable = true
      status.problems.push(`bucket ${options.bucket} does not exist at ${endpoint}`)
      return status
    }

    const netCode = err.code ?? (err.cause as NodeJS.ErrnoException | undefined)?.code
    if (netCode && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH)$/.test(netCode))
      throw new HostUnreachableError(`${endpoint} is unreachable (${netCode})`, {cause: error, suggestions: ['check homelab.yaml backup.offsite.endpoint and your network']})
    if (err.name === 'TimeoutError' || err.name === 'AbortError')
      throw new HostUnreachableError(`${endpoint} did not answer within ${Math.round((options.timeoutMs ?? 20_000) / 1000)}s`, {cause: error})
    throw new HomelabError(`listing ${where} failed: ${code}: ${err.message}`, {cause: error})
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

  status.ok = status.problems.length === 0
  return status
}
