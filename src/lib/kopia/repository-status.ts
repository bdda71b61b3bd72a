import {z} from 'zod'

import {KopiaOutputError} from './errors.js'

/**
 * `kopia repository status --json` (kopia `cli/command_repository_status.go`, RepositoryStatus:
 * configFile, uniqueIDHex, clientOptions, storage{type, config}, contentFormat, objectFormat,
 * blobRetention). Secrets in storage.config are masked by kopia (`scrubber.ScrubSensitiveData`).
 * Durations (formatBlobCacheDuration, epoch parameters) are Go nanoseconds. Sample:
 * test/fixtures/kopia/repository-status.json (kopia 0.23.1, S3 storage).
 */
export const repositoryStatusSchema = z.looseObject({
  configFile: z.string(),
  uniqueIDHex: z.string(),
  clientOptions: z.looseObject({
    hostname: z.string(),
    username: z.string(),
    description: z.string().optional(),
    readonly: z.boolean().optional(),
    /** Go nanoseconds. */
    formatBlobCacheDuration: z.number().optional(),
  }),
  storage: z.looseObject({
    /** "filesystem", "s3", "b2", … */
    type: z.string(),
    /** Backend options; for s3: bucket, prefix, endpoint, region, doNotUseTLS, … */
    config: z.record(z.string(), z.unknown()),
  }),
  contentFormat: z.looseObject({hash: z.string(), encryption: z.string()}).optional(),
  objectFormat: z.looseObject({splitter: z.string()}).optional(),
})

export type RepositoryStatus = z.infer<typeof repositoryStatusSchema>

/**
 * Parses `kopia repository status --json`.
 * @throws KopiaOutputError when the text is not JSON or lacks configFile/uniqueIDHex/clientOptions/storage
 */
export function parseRepositoryStatus(text: string): RepositoryStatus {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new KopiaOutputError(`kopia repository status --json: not JSON (${(error as Error).message})`)
  }

  const result = repositoryStatusSchema.safeParse(value)
  if (!result.success) {
    const issue = result.error.issues[0]
    throw new KopiaOutputError(`kopia repository status --json: ${issue.path.join('.') || 'root'}: ${issue.message}`)
  }

  return result.data
}
