import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** A real S3-protocol server (s3rver, filesystem-backed) on 127.0.0.1 for the off-site tests. */
export interface S3TestServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string
  /** The credentials s3rver accepts (its fixed default account). */
  accessKeyId: string
  secretAccessKey: string
  /** Writes an object; `ageSeconds` backdates its Last-Modified. */
  put(bucket: string, key: string, body: string | Buffer, ageSeconds?: number): Promise<void>
  /** An object's bytes, or null when there is no such key. */
  get(bucket: string, key: string): Promise<Buffer | null>
  /** Every key of the bucket (under `prefix`), sorted. */
  keys(bucket: string, prefix?: string): Promise<string[]>
  stop(): Promise<void>
}

/** Starts s3rver on a free loopback port with the given (empty) buckets. */
export async function startS3Server(buckets: string[]): Promise<S3TestServer> {
  const {default: S3rver} = await import('s3rver')
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-s3-'))
  const server = new S3rver({address: '127.0.0.1', configureBuckets: buckets.map((name) => ({name})), directory, port: 0, silent: true})
  const info = (await server.run()) as {port: number}
  const endpoint = `http://127.0.0.1:${info.port}`
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
  const {GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client} = await import('@aws-sdk/client-s3')
  const client = new S3Client({credentials: {accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER'}, endpoint, forcePathStyle: true, region: 'auto'})
  return {
    accessKeyId: 'S3RVER',
    endpoint,
    async put(bucket, key, body, ageSeconds) {
      await client.send(new PutObjectCommand({Body: body, Bucket: bucket, Key: key}))
      if (ageSeconds) {
        // s3rver reports the object file's mtime as Last-Modified (stores/filesystem.js).
        const parts = key.split('/')
        const file = path.join(directory, bucket, ...parts.slice(0, -1), `${parts.at(-1)}._S3rver_object`)
        const time = new Date(Date.now() - ageSeconds * 1000)
        await fs.utimes(file, time, time)
      }
    },
    async get(bucket, key) {
      try {
        const r = await client.send(new GetObjectCommand({Bucket: bucket, Key: key}))
        return Buffer.from((await r.Body?.transformToByteArray()) ?? [])
      } catch (error) {
        if ((error as Error).name === 'NoSuchKey') return null
        throw error
      }
    },
    async keys(bucket, prefix) {
      const keys: string[] = []
      let token: string | undefined
      do {
        // eslint-disable-next-line no-await-in-loop
        const page = await client.send(new ListObjectsV2Command({Bucket: bucket, ContinuationToken: token, Prefix: prefix}))
        for (const o of page.Contents ?? []) keys.push(o.Key ?? '')
        token = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (token)
      return keys.sort()
    },
    secretAccessKey: 'S3RVER',
    async stop() {
      client.destroy()
      await server.close()
      await fs.rm(directory, {force: true, recursive: true})
    },
  }
}
