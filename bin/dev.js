#!/usr/bin/env -S node --import tsx
// Development entry point: runs the TypeScript sources through tsx (pinned to 4.20.6, see STYLE).
import {execute} from '@oclif/core'
await execute({development: true, dir: import.meta.url})
