import {z} from 'zod'

import {KopiaOutputError} from './errors.js'

/**
 * `kopia snapshot verify [--verify-files-percent P] [--sources S…] --json` (kopia
 * `cli/command_snapshot_verify.go`): `{stats{…}, errorCount, errorStrings[]}`, exit 1 when
 * errorCount > 0. No captured sample exists (see test/fixtures/kopia/README.md): the shape
 * follows the project's Kopia notes and a kopia 0.23.1 runbook reading `.errorCount`,
 * `.stats.expectedTotalFileCount` and `.stats.processedObjectCount`; every field but errorCount
 * is optional and unknown fields are kept.
 */
export const snapshotVerifySchema = z.looseObject({
  stats: z
    .looseObject({
      expectedTotalFileCount: z.number().optional(),
      processedObjectCount: z.number().optional(),
      readFileCount: z.number().optional(),
      /** Bytes read while verifying the sampled files. */
      readBytes: z.number().optional(),
    })
    .optional(),
  errorCount: z.number(),
  errorStrings: z.array(z.string()).optional(),
})

export type SnapshotVerifyResult = z.infer<typeof snapshotVerifySchema>

/**
 * Parses the JSON object `kopia snapshot verify --json` prints (the last `{` line of stdout, so
 * stray lines before it do no harm).
 * @throws KopiaOutputError when there is no such object or it lacks errorCount
 */
export function parseSnapshotVerify(text: string): SnapshotVerifyResult {
  const trimmed = text.trim()
  const start = trimmed.startsWith('{') ? 0 : trimmed.lastIndexOf('\n{') + 1
  let value: unknown
  try {
    value = JSON.parse(trimmed.slice(start))
  } catch (error) {
    throw new KopiaOutputError(`kopia snapshot verify --json: not JSON (${(error as Error).message})`)
  }

  const result = snapshotVerifySchema.safeParse(value)
  if (!result.success) {
    const issue = result.error.issues[0]
    throw new KopiaOutputError(`kopia snapshot verify --json: ${issue.path.join('.') || 'root'}: ${issue.message}`)
  }

  return result.data
}
