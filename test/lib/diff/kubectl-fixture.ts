// The kubectl side of the `homelab diff` tests: the real kubectl (required under CI), temp folders
// removed after each test, and kubectl wrappers (shell scripts put first on PATH) that log each
// build and then run the real one.
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeAll} from 'vitest'

import {haveTool} from '../../helpers/have-tool.js'

/** A kubectl wrapper: the script, the PATH that puts it first, and its log file. */
export interface KubectlWrapper {
  bin: string
  path: string
  log: string
}

/** A wrapper that logs the folder of each build ({@link KubectlFixture.counting}). */
export interface CountingKubectl extends KubectlWrapper {
  /** The builds since the last call, sorted: `cluster`, `apps/<name>`, or `overlay` (a build through the controller's fields). Clears the log. */
  runs(): string[]
}

/** What {@link kubectlFixture} gives a test file. */
export interface KubectlFixture {
  /** The real kubectl's path (known once the file's tests start). */
  readonly kubectl: string
  /** A new temp folder, removed after the test. */
  temp(prefix: string): string
  /** Removes `dir` (made by the test otherwise) after the test; returns it. */
  removeAfter(dir: string): string
  /** A kubectl wrapper whose script body is `body(realKubectl, logFile)` (after `#!/bin/sh` and `last` = the last argument). */
  wrapper(body: (real: string, log: string) => string): KubectlWrapper
  /** A wrapper that logs each build's folder, then runs the real kubectl. */
  counting(): CountingKubectl
}

/** Registers the file's hooks (kubectl required under CI; temp folders removed after each test) and returns the helpers. */
export function kubectlFixture(): KubectlFixture {
  const dirs: string[] = []
  let kubectl = ''
  beforeAll(() => {
    if (process.env.CI && !haveTool('kubectl')) throw new Error('kubectl is required under CI (homelab diff builds with kubectl kustomize)')
    kubectl = execFileSync('sh', ['-c', 'command -v kubectl'], {encoding: 'utf8'}).trim()
  })
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, {force: true, recursive: true})
  })
  const temp = (prefix: string) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
    dirs.push(dir)
    return dir
  }

  const wrapper = (body: (real: string, log: string) => string): KubectlWrapper => {
    const dir = temp('homelab-diff-kubectl-')
    const log = path.join(dir, 'runs.log')
    writeFileSync(log, '')
    writeFileSync(path.join(dir, 'kubectl'), `#!/bin/sh\nfor a; do last=$a; done\n${body(kubectl, log)}\n`, {mode: 0o755})
    return {bin: path.join(dir, 'kubectl'), log, path: `${dir}:${process.env.PATH}`}
  }

  return {
    get kubectl() {
      return kubectl
    },
    counting() {
      const w = wrapper((real, log) => `printf '%s\\n' "$last" >> '${log}'\nexec '${real}' "$@"`)
      return {
        ...w,
        runs() {
          // `kubectl version --client`: a script kubectl (this wrapper) is identified by the version it runs too (build-cache.ts kubectlIdentity).
          const lines = readFileSync(w.log, 'utf8').trim().split('\n').filter((l) => l && l !== '--client')
          writeFileSync(w.log, '')
          return lines.map((t) => (t.includes('homelab-diff-overlay-') ? 'overlay' : t.replace(/^.*?\/(apps\/\w+|cluster)$/, '$1'))).sort()
        },
      }
    },
    removeAfter(dir: string) {
      dirs.push(dir)
      return dir
    },
    temp,
    wrapper,
  }
}
