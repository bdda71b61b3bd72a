#!/usr/bin/env node
// Production entry point: runs the compiled commands in dist/ with the oclif manifest.
// `--version` and the root help are answered from package.json and the manifests without
// loading @oclif/core (bin/fast-paths.js): they are what people run most, and oclif's import
// alone costs about as much as starting node (measured in bench/startup).
import * as nodeModule from 'node:module'
import {fileURLToPath} from 'node:url'

import {tryFastPath} from './fast-paths.js'

if (!tryFastPath(fileURLToPath(new URL('..', import.meta.url)), process.argv.slice(2))) {
  nodeModule.enableCompileCache?.() // Node >= 22.1; a no-op on Node 20
  const {execute} = await import('@oclif/core')
  await execute({dir: import.meta.url})
}
