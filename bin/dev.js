#!/usr/bin/env -S node --import tsx
// Development entry point: runs the TypeScript sources through tsx (pinned to 4.20.6, see
// STYLE.md). The root plugin is loaded with ignoreManifest, so a stale oclif.manifest.json left
// by a build never hides a new command in development.
import {execute, Plugin} from '@oclif/core'
import {fileURLToPath} from 'node:url'
import path from 'node:path'

process.env.NODE_ENV = 'development'
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const rootPlugin = new Plugin({ignoreManifest: true, isRoot: true, root})
await rootPlugin.load()
await execute({development: true, loadOptions: {plugins: new Map([[rootPlugin.name, rootPlugin]]), root}})
