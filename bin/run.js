#!/usr/bin/env node
// Production entry point: runs the compiled commands in dist/ with the oclif manifest.
import * as nodeModule from 'node:module'

nodeModule.enableCompileCache?.() // Node >= 22.1; a no-op on Node 20
const {execute} = await import('@oclif/core')
await execute({dir: import.meta.url})
