#!/usr/bin/env node
// Production entry point: runs the compiled commands in dist/ with the oclif manifest.
import {enableCompileCache} from 'node:module'
enableCompileCache?.()
const {execute} = await import('@oclif/core')
await execute({dir: import.meta.url})
