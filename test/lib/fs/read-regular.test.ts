import {execFileSync} from 'node:child_process'
import {closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {readAppFolder} from '../../../src/lib/app/read-app.js'
import {readText} from '../../../src/lib/app/tree.js'
import {validateRepo} from '../../../src/lib/validate/run.js'
import {copyBundledHomelab} from '../../helpers/copy-homelab.js'

const dirs: string[] = []
const servers: net.Server[] = []
afterAll(() => {
  for (const server of servers) server.close()
  for (const dir of dirs) rmSync(dir, {force: true, recursive: true})
})

function tempRoot(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'homelab-special-'))
  dirs.push(dir)
  mkdirSync(path.join(dir, 'apps/x'), {recursive: true})
  writeFileSync(path.join(dir, 'apps/x/ok.yaml'), 'kind: ConfigMap\nmetadata:\n  name: ok\n')
  return dir
}

/**
 * Makes a FIFO at `file`. Should a reader block on it (the old code did), a writer opens and
 * closes it after a moment, so the read ends (empty) instead of hanging the test run.
 */
function fifo(file: string): void {
  execFileSync('mkfifo', [file])
  const timer = setInterval(() => {
    try {
      closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK))
    } catch {
      // no reader blocked on it (ENXIO): nothing to release
    }
  }, 300)
  afterAll(() => clearInterval(timer))
}

async function socket(file: string): Promise<void> {
  const server = net.createServer()
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(file, resolve))
}

describe('reading a tree with non-regular files', () => {
  it('app folders refuse a FIFO, naming it, without opening it', async () => {
    const root = tempRoot()
    fifo(path.join(root, 'apps/x/pipe.yaml'))
    await expect(readAppFolder(root, 'apps/x')).rejects.toThrow(/^apps\/x\/pipe\.yaml is a FIFO \(named pipe\), not a regular file: .*remove it$/)
  })

  it('app folders refuse a socket and a link to a FIFO inside the repository, naming the entry', async () => {
    const root = tempRoot()
    await socket(path.join(root, 'apps/x/sock'))
    await expect(readAppFolder(root, 'apps/x')).rejects.toThrow(/^apps\/x\/sock is a socket, not a regular file/)
    const other = tempRoot()
    fifo(path.join(other, 'pipe'))
    symlinkSync('../../pipe', path.join(other, 'apps/x/link.yaml'))
    await expect(readAppFolder(other, 'apps/x')).rejects.toThrow(/^apps\/x\/link\.yaml is a FIFO \(named pipe\), not a regular file/)
  })

  it('app folders refuse a link to /dev/urandom in one line, reading nothing', async () => {
    const root = tempRoot()
    symlinkSync('/dev/urandom', path.join(root, 'apps/x/random.yaml'))
    await expect(readAppFolder(root, 'apps/x')).rejects.toThrow(/^apps\/x\/random\.yaml leads through a symbolic link to \/dev\/urandom, outside the repository/)
  })

  it('shared tree files refuse a FIFO', async () => {
    const root = tempRoot()
    fifo(path.join(root, 'apps/persistent-volumes.yaml'))
    await expect(readText(root, 'apps/persistent-volumes.yaml')).rejects.toThrow(/^apps\/persistent-volumes\.yaml is a FIFO/)
  })

  it('validate reports a FIFO and a link to a device in the Flux tree, at line 1', async () => {
    const root = copyBundledHomelab('homelab-special-validate-')
    dirs.push(root)
    const app = 'flux/clusters/azalab-0/manifests/apps/libsql'
    fifo(path.join(root, app, 'pipe.yaml'))
    symlinkSync('/dev/null', path.join(root, app, 'null.yaml'))
    const report = await validateRepo({root})
    const yaml = report.checks.find((c) => c.id === 'yaml')!
    expect(yaml.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({file: `${app}/pipe.yaml`, line: 1, message: expect.stringMatching(/is a FIFO \(named pipe\), not a regular file/), severity: 'error'}),
        expect.objectContaining({file: `${app}/null.yaml`, line: 1, message: expect.stringMatching(/outside the repository/), severity: 'error'}),
      ]),
    )
  })
})
