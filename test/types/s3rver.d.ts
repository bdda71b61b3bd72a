// s3rver (3.x) ships no types; the tests use its constructor, run() and close() only.
declare module 's3rver' {
  interface S3rverOptions {
    address?: string
    configureBuckets?: Array<{name: string}>
    directory: string
    port?: number
    silent?: boolean
  }
  export default class S3rver {
    constructor(options: S3rverOptions)
    run(): Promise<unknown>
    close(): Promise<void>
  }
}
