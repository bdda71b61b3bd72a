import {HomelabError} from '../errors.js'
import type {HostConnection} from '../ssh/index.js'
import type {RotateKeyRemote} from './rotate-key.js'

/** Where sops-nix reads its age key on the host (sops-nix `sops.age.keyFile` in nixos/homelab-module.nix). */
export const HOST_KEY_FILE = '/var/lib/sops-nix/key.txt'

const run = async (conn: HostConnection, what: string, command: string, stdin?: string) => {
  const r = await conn.sudo(command, {stdin, timeoutMs: 120_000})
  if (r.exitCode !== 0)
    throw new HomelabError(`${conn.host.name}: ${what} failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n').at(-1) ?? ''}`, {
      suggestions: ['fix the cause and run `homelab secrets rotate-key` again: it resumes where it stopped'],
    })
  return r.stdout
}

/**
 * The host and cluster steps of rotate-key over the SSH transport (src/lib/ssh): the key text
 * only ever travels on stdin of `sudo` commands, never in argv.
 * - host: writes /var/lib/sops-nix/key.txt (root:root 0600) atomically, checks owner and mode,
 *   then `age -d -i` of a SOPS file's stanza must give its data key (`age` from PATH, else
 *   `nix shell nixpkgs#age`);
 * - cluster: `k3s kubectl apply -f -` of the Secret flux-system/sops-age, then the SHA-256 of its
 *   `age.agekey` read back with `k3s kubectl get` must match.
 * `connections` are open connections to every host; the cluster step uses the first.
 */
export function sshRotateKeyRemote(connections: readonly HostConnection[]): RotateKeyRemote {
  return {
    async installClusterKey(keyText, sha256) {
      const conn = connections[0]
      const manifest = JSON.stringify({
        apiVersion: 'v1',
        data: {'age.agekey': Buffer.from(keyText).toString('base64')},
        kind: 'Secret',
        metadata: {name: 'sops-age', namespace: 'flux-system'},
        type: 'Opaque',
      })
      await run(conn, 'k3s kubectl apply of Secret flux-system/sops-age', 'k3s kubectl apply -f -', manifest)
      const got = await run(
        conn,
        'reading Secret flux-system/sops-age back',
        `k3s kubectl -n flux-system get secret sops-age -o jsonpath='{.data.age\\.agekey}' | base64 -d | sha256sum`,
      )
      if (got.trim().split(/\s+/)[0] !== sha256)
        throw new HomelabError(`${conn.host.name}: the Secret flux-system/sops-age does not hold the new key after the update`, {
          suggestions: ['check the cluster with `sudo k3s kubectl -n flux-system get secret sops-age`, then run rotate-key again'],
        })
    },
    async installHostKey(keyText, probe) {
      for (const conn of connections) {
        const tmp = `${HOST_KEY_FILE}.homelab-tmp`
        await run(
          conn,
          `installing ${HOST_KEY_FILE}`,
          `umask 077 && mkdir -p /var/lib/sops-nix && cat > ${tmp} && chown root:root ${tmp} && chmod 0600 ${tmp} && mv -f ${tmp} ${HOST_KEY_FILE}`,
          keyText,
        )
        const mode = (await run(conn, `checking ${HOST_KEY_FILE}`, `stat -c '%U %a' ${HOST_KEY_FILE}`)).trim()
        if (mode !== 'root 600') throw new HomelabError(`${conn.host.name}: ${HOST_KEY_FILE} is "${mode}", expected owner root and mode 600`)
        const decrypt = `age -d -i ${HOST_KEY_FILE} | base64 -w0`
        const got = await run(
          conn,
          `decrypting ${probe.file} with ${HOST_KEY_FILE}`,
          `if command -v age >/dev/null 2>&1; then ${decrypt}; else nix --extra-experimental-features 'nix-command flakes' shell nixpkgs#age -c sh -c '${decrypt}'; fi`,
          probe.armored,
        )
        if (got.trim() !== probe.dataKeyBase64)
          throw new HomelabError(`${conn.host.name}: the installed key does not decrypt ${probe.file}`, {suggestions: ['run rotate-key again; the state file keeps your progress']})
      }
    },
  }
}
