import {promises as fs} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {asTargetError, writeFileAtomic} from '../../../src/lib/fs/atomic-write.js'
import {applyChanges, recoverInterruptedChange, TransactionError} from '../../../src/lib/fs/transaction.js'

let dir: string

/** Every file under `root` (relative path → content), to compare trees byte for byte. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const entry of await fs.readdir(root, {recursive: true, withFileTypes: true})) {
    const full = path.join(entry.parentPath, entry.name)
    out[path.relative(root, full) + (entry.isDirectory() ? '/' : '')] = entry.isDirectory() ? '' : await fs.readFile(full, 'utf8')
  }

  return out
}

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'homelab-tx-'))
  await fs.writeFile(path.join(dir, 'a.txt'), 'a1\n')
  await fs.writeFile(path.join(dir, 'b.txt'), 'b1\n', {mode: 0o600})
  await fs.mkdir(path.join(dir, 'old'))
  await fs.writeFile(path.join(dir, 'old', 'gone.txt'), 'gone\n')
})

afterEach(async () => {
  await fs.rm(dir, {force: true, recursive: true})
})

describe('applyChanges', () => {
  it('creates, changes and deletes files together, keeping modes and removing emptied folders', async () => {
    await applyChanges(
      [
        {after: 'new\n', before: null, path: path.join(dir, 'app', 'sub', 'c.txt')},
        {after: 'a2\n', before: 'a1\n', path: path.join(dir, 'a.txt')},
        {after: 'b2\n', before: 'b1\n', path: path.join(dir, 'b.txt')},
        {after: null, before: 'gone\n', path: path.join(dir, 'old', 'gone.txt')},
      ],
      {removeEmptyDirs: [path.join(dir, 'old')]},
    )
    expect(await snapshot(dir)).toEqual({'a.txt': 'a2\n', 'app/': '', 'app/sub/': '', 'app/sub/c.txt': 'new\n', 'b.txt': 'b2\n'})
    expect((await fs.stat(path.join(dir, 'b.txt'))).mode & 0o777).toBe(0o600)
  })

  it('writes nothing when a file changed since the change set was prepared', async () => {
    const before = await snapshot(dir)
    await expect(
      applyChanges([
        {after: 'x\n', before: null, path: path.join(dir, 'new.txt')},
        {after: 'a2\n', before: 'something else\n', path: path.join(dir, 'a.txt')},
      ]),
    ).rejects.toThrow('a.txt changed while the change was prepared; nothing was written')
    expect(await snapshot(dir)).toEqual(before)
  })

  it('puts everything back when a rename fails half way (injected failure)', async () => {
    const before = await snapshot(dir)
    let renames = 0
    const error = await applyChanges(
      [
        {after: 'new\n', before: null, path: path.join(dir, 'app', 'c.txt')},
        {after: 'a2\n', before: 'a1\n', path: path.join(dir, 'a.txt')},
        {after: null, before: 'gone\n', path: path.join(dir, 'old', 'gone.txt')},
        {after: 'b2\n', before: 'b1\n', path: path.join(dir, 'b.txt')},
      ],
      {
        fs: {
          async rename(from, to) {
            if (++renames === 4) throw Object.assign(new Error('EIO: i/o error, rename'), {code: 'EIO'})
            await fs.rename(from, to)
          },
        },
        root: dir,
      },
    ).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(TransactionError)
    expect((error as Error).message).toBe('could not write b.txt: EIO: i/o error, rename; no file was changed')
    expect(await snapshot(dir)).toEqual(before)
    expect((await fs.stat(path.join(dir, 'b.txt'))).mode & 0o777).toBe(0o600)
  })

  it('puts everything back when a real write fails (a file where a folder must go)', async () => {
    await fs.writeFile(path.join(dir, 'blocker'), 'not a folder\n')
    const before = await snapshot(dir)
    await expect(
      applyChanges([
        {after: 'a2\n', before: 'a1\n', path: path.join(dir, 'a.txt')},
        {after: 'x\n', before: null, path: path.join(dir, 'newdir', 'x.txt')},
        {after: 'y\n', before: null, path: path.join(dir, 'blocker', 'y.txt')},
      ]),
    ).rejects.toThrow(/could not write .*blocker\/y\.txt: .*; no file was changed/)
    expect(await snapshot(dir)).toEqual(before)
  })

  it('refuses a folder where a file should be, before writing anything', async () => {
    const before = await snapshot(dir)
    await expect(applyChanges([{after: 'x', before: null, path: path.join(dir, 'old')}])).rejects.toThrow('is a folder where a file belongs')
    expect(await snapshot(dir)).toEqual(before)
  })

  it('leaves a journal while renaming, from which recoverInterruptedChange undoes a change cut short', async () => {
    const before = await snapshot(dir)
    let renames = 0
    let stalled: () => void = () => {}
    const reached = new Promise<void>((resolve) => {
      stalled = resolve
    })
    // The 3rd rename never returns: the state a SIGKILL there leaves on disk.
    void applyChanges(
      [
        {after: 'new\n', before: null, path: path.join(dir, 'app', 'c.txt')},
        {after: 'a2\n', before: 'a1\n', path: path.join(dir, 'a.txt')},
        {after: null, before: 'gone\n', path: path.join(dir, 'old', 'gone.txt')},
        {after: 'b2\n', before: 'b1\n', path: path.join(dir, 'b.txt')},
      ],
      {
        command: 'test change',
        fs: {
          async rename(from, to) {
            if (++renames === 3) {
              stalled()
              await new Promise(() => {})
            }

            await fs.rename(from, to)
          },
        },
        root: dir,
      },
    )
    await reached
    const cut = await snapshot(dir)
    expect(cut['.homelab-state/journal.json']).toContain('"state": "applying"')
    expect(cut['a.txt']).toBe('a2\n')

    const done = await recoverInterruptedChange(dir)
    expect(done).toMatchObject({action: 'rolled back', command: 'test change', files: 4, problems: []})
    expect(await snapshot(dir)).toEqual(before)
    expect((await fs.stat(path.join(dir, 'b.txt'))).mode & 0o777).toBe(0o600)
    expect(await recoverInterruptedChange(dir)).toBeNull()
  })

  it('finishes (does not undo) a change whose journal says committed', async () => {
    await fs.link(path.join(dir, 'a.txt'), path.join(dir, '.a.txt.x.old'))
    await fs.writeFile(path.join(dir, 'a.txt.new'), 'a2\n')
    await fs.rename(path.join(dir, 'a.txt.new'), path.join(dir, 'a.txt'))
    await fs.mkdir(path.join(dir, '.homelab-state'))
    const journal = {command: 'x', createdAt: '2026-01-01T00:00:00.000Z', createdDirs: [], entries: [{backup: '.a.txt.x.old', created: false, deleted: false, target: 'a.txt', temp: '.a.txt.x.tmp'}], pid: 999_999_999, removeEmptyDirs: [], startTime: null, state: 'committed', version: 1}
    await fs.writeFile(path.join(dir, '.homelab-state/journal.json'), JSON.stringify(journal))
    expect(await recoverInterruptedChange(dir)).toMatchObject({action: 'finished', files: 1})
    expect(await snapshot(dir)).toEqual({'a.txt': 'a2\n', 'b.txt': 'b1\n', 'old/': '', 'old/gone.txt': 'gone\n'})
  })
})

describe('errors name the file, never its temp file', () => {
  it('asTargetError turns an error about the temp path into one about the target', () => {
    const raw = Object.assign(new Error("EACCES: permission denied, open '/r/.x.yaml.abc.tmp'"), {code: 'EACCES', path: '/r/.x.yaml.abc.tmp', syscall: 'open'})
    const out = asTargetError(raw, '/r/.x.yaml.abc.tmp', 'x.yaml') as NodeJS.ErrnoException
    expect(out.message).toBe('x.yaml: permission denied: its folder is not writable')
    expect(out.path).toBe('x.yaml')
    expect(out.code).toBe('EACCES')
    const other = Object.assign(new Error('EIO'), {code: 'EIO', path: '/elsewhere'})
    expect(asTargetError(other, '/r/.x.yaml.abc.tmp', 'x.yaml')).toBe(other)
  })

  it('writeFileAtomic reports a missing folder by the target path', async () => {
    const target = path.join(dir, 'nope', 'f.txt')
    const error = (await writeFileAtomic(target, 'x').catch((error_: unknown) => error_)) as NodeJS.ErrnoException
    expect(error.path).toBe(target)
    expect(error.message).toBe(`${target}: its folder does not exist`)
    expect(error.message).not.toContain('.tmp')
  })
})
