import {execa} from 'execa'
import {existsSync, promises as fs} from 'node:fs'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {loadIdentities, parseIdentities} from '../../../src/lib/age/index.js'
import {decryptSopsFile, loadSopsConfig, readSopsMetadata} from '../../../src/lib/sops/index.js'
import {listSopsFiles} from '../../../src/lib/sops/repo.js'
import {ROTATE_KEY_STEPS, rotateKey, type RotateKeyRemote, rotateKeyStateFile, type RotateKeyStep} from '../../../src/lib/sops/rotate-key.js'
import {unwrapDataKey} from '../../../src/lib/age/data-key.js'
import {copyHomelab, DEMO_KEY, DEMO_RECIPIENT} from '../../commands/secrets/helpers.js'

class Crash extends Error {}

/** A host and cluster that check what they are given (test input, not a stand-in for a tool). */
function fakeRemote(calls: string[], failOnce?: 'cluster' | 'host'): RotateKeyRemote {
  let failed = false
  return {
    async installClusterKey(keyText, sha256) {
      if (failOnce === 'cluster' && !failed) {
        failed = true
        throw new Error('cluster unreachable')
      }

      const {createHash} = await import('node:crypto')
      expect(createHash('sha256').update(keyText).digest('hex')).toBe(sha256)
      calls.push('cluster')
    },
    async installHostKey(keyText, probe) {
      if (failOnce === 'host' && !failed) {
        failed = true
        throw new Error('host unreachable')
      }

      const ids = await parseIdentities(keyText, 'host key.txt')
      const opened = await Promise.all(ids.map((id) => unwrapDataKey(probe.armored, id)))
      expect(opened.some((k) => k && Buffer.from(k).toString('base64') === probe.dataKeyBase64)).toBe(true)
      calls.push(`host ${probe.file}`)
    },
  }
}

describe('rotateKey', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c()
  })

  async function setup() {
    const repo = await copyHomelab()
    cleanups.push(repo.cleanup)
    const keyFile = path.join(repo.home, 'keys.txt')
    await fs.copyFile(DEMO_KEY, keyFile)
    await fs.chmod(keyFile, 0o600)
    const env = {SOPS_AGE_KEY_FILE: keyFile, XDG_STATE_HOME: path.join(repo.home, 'state')}
    const files = await listSopsFiles(repo.dir)
    const ids = await loadIdentities({env, homeDir: repo.home})
    const values = new Map<string, unknown>()
    const dataKeys = new Map<string, string>()
    for (const rel of files) {
      const decrypted = await decryptSopsFile({file: path.join(repo.dir, rel), identities: ids})
      values.set(rel, decrypted.values)
      dataKeys.set(rel, Buffer.from(decrypted.dataKey).toString('hex'))
    }
    /** Every SOPS file decrypts with the identities in the operator key file only. */
    const assertDecryptable = async () => {
      const available = await loadIdentities({env, homeDir: repo.home})
      for (const rel of files) await decryptSopsFile({file: path.join(repo.dir, rel), identities: available})
      await loadSopsConfig({dir: repo.dir})
    }

    return {assertDecryptable, dataKeys, env, files, keyFile, repo, values}
  }

  async function assertFinished(ctx: Awaited<ReturnType<typeof setup>>, newRecipient: string) {
    const config = await loadSopsConfig({dir: ctx.repo.dir})
    for (const rule of config.rules) expect(rule.recipients).toEqual([newRecipient])
    const keyText = await fs.readFile(ctx.keyFile, 'utf8')
    expect(keyText).toContain(`# public key: ${newRecipient}`)
    expect(keyText).toContain('AGE-SECRET-KEY-1JZXL6YKYAHZ43S9WGCV8ACZPPJXC9HYX7EF4YV279EJ36SZ6UJXQN69WFM') // old one kept
    expect((await fs.stat(ctx.keyFile)).mode & 0o777).toBe(0o600)
    const onlyNew = (await parseIdentities(keyText, 'k')).filter((i) => i.recipient === newRecipient)
    for (const rel of ctx.files) {
      const file = path.join(ctx.repo.dir, rel)
      expect(readSopsMetadata(await fs.readFile(file, 'utf8'), file)?.recipients).toEqual([newRecipient])
      const decrypted = await decryptSopsFile({file, identities: onlyNew})
      expect(decrypted.values).toEqual(ctx.values.get(rel))
      // a new data key: the old identity plus an old copy of the file must not open today's file
      expect(Buffer.from(decrypted.dataKey).toString('hex')).not.toBe(ctx.dataKeys.get(rel))
    }

    expect(existsSync(rotateKeyStateFile(ctx.repo.dir, ctx.env, ctx.repo.home))).toBe(false)
    expect(await fs.readFile(path.join(ctx.repo.dir, '.sops.yaml'), 'utf8')).toContain('# SOPS creation rules') // comments kept
  }

  it('runs every step; files stay decryptable after each; the end state has only the new recipient', async () => {
    const ctx = await setup()
    const calls: string[] = []
    const seen: RotateKeyStep[] = []
    const result = await rotateKey({
      async afterStep(step) {
        seen.push(step)
        await ctx.assertDecryptable()
      },
      env: ctx.env,
      homeDir: ctx.repo.home,
      remote: fakeRemote(calls),
      root: ctx.repo.dir,
    })
    expect(seen).toEqual([...ROTATE_KEY_STEPS])
    expect(result).toMatchObject({complete: true, oldRecipients: [DEMO_RECIPIENT], resumed: false})
    expect(calls).toEqual(['host nixos/secrets/host-secrets.sops.yaml', 'cluster'])
    await assertFinished(ctx, result.newRecipient)
  })

  for (const crashAt of ROTATE_KEY_STEPS.slice(0, -1)) {
    it(`a crash after step ${crashAt} resumes to a consistent end`, async () => {
      const ctx = await setup()
      const calls: string[] = []
      await expect(
        rotateKey({
          afterStep(step) {
            if (step === crashAt) throw new Crash(step)
          },
          env: ctx.env,
          homeDir: ctx.repo.home,
          remote: fakeRemote(calls),
          root: ctx.repo.dir,
        }),
      ).rejects.toBeInstanceOf(Crash)
      await ctx.assertDecryptable()
      const state = JSON.parse(await fs.readFile(rotateKeyStateFile(ctx.repo.dir, ctx.env, ctx.repo.home), 'utf8'))
      expect(state.done.at(-1)).toBe(crashAt)
      const result = await rotateKey({afterStep: () => ctx.assertDecryptable(), env: ctx.env, homeDir: ctx.repo.home, remote: fakeRemote(calls), root: ctx.repo.dir})
      expect(result.resumed).toBe(true)
      expect(result.steps).toEqual(ROTATE_KEY_STEPS.slice(ROTATE_KEY_STEPS.indexOf(crashAt) + 1))
      expect(result.newRecipient).toBe(state.newRecipient)
      await assertFinished(ctx, result.newRecipient)
    })
  }

  it('a failing host step keeps the state; the next run finishes', async () => {
    const ctx = await setup()
    const calls: string[] = []
    const remote = fakeRemote(calls, 'host')
    await expect(rotateKey({env: ctx.env, homeDir: ctx.repo.home, remote, root: ctx.repo.dir})).rejects.toThrow(/host unreachable/)
    await ctx.assertDecryptable()
    const result = await rotateKey({env: ctx.env, homeDir: ctx.repo.home, remote, root: ctx.repo.dir})
    expect(result.steps).toEqual(['host', 'cluster', 'sops-config-new', 'files-new'])
    await assertFinished(ctx, result.newRecipient)
  })

  it('refuses when no identity of yours is a recipient', async () => {
    const ctx = await setup()
    const {generateIdentity, formatIdentity} = await import('../../../src/lib/age/index.js')
    await fs.writeFile(ctx.keyFile, formatIdentity(await generateIdentity(), new Date()))
    await expect(rotateKey({env: ctx.env, homeDir: ctx.repo.home, remote: fakeRemote([]), root: ctx.repo.dir})).rejects.toThrow(/none of your age identities is a recipient in .*\.sops\.yaml/)
  })

  it('refuses a key file inside a git work tree before generating or writing anything', async () => {
    const ctx = await setup()
    const dots = path.join(ctx.repo.home, 'dots')
    await fs.mkdir(dots)
    await execa('git', ['init', '-q'], {cwd: dots})
    const keyFile = path.join(dots, 'demo.agekey')
    await fs.copyFile(DEMO_KEY, keyFile)
    const env = {...ctx.env, SOPS_AGE_KEY_FILE: keyFile}
    const sopsYaml = await fs.readFile(path.join(ctx.repo.dir, '.sops.yaml'), 'utf8')
    const err = await rotateKey({env, homeDir: ctx.repo.home, remote: fakeRemote([]), root: ctx.repo.dir}).catch((error: unknown) => error)
    expect(err).toMatchObject({exitCode: 3, message: `SOPS_AGE_KEY_FILE=${keyFile} is inside the git work tree ${dots}; a new private key is never written where it could be committed`})
    expect(await fs.readFile(keyFile, 'utf8')).toBe(await fs.readFile(DEMO_KEY, 'utf8'))
    expect(await fs.readFile(path.join(ctx.repo.dir, '.sops.yaml'), 'utf8')).toBe(sopsYaml)
    expect(existsSync(rotateKeyStateFile(ctx.repo.dir, env, ctx.repo.home))).toBe(false)
  })
})
