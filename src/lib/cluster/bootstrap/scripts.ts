import {K3S_KUBECONFIG} from '../../flux/kubectl.js'
import {HOST_KEY_FILE} from '../../sops/rotate-key-remote.js'
import {shellQuote} from '../../ssh/shell.js'

/**
 * The remote side of `homelab cluster bootstrap`: one POSIX shell script per step, run as root
 * (`sudo sh -c`) on the k3s server, kept as text (so they can be read and tested). Each prints
 * `key=value` lines on stdout (parsed by {@link parseReport}); tools' own output goes to stderr.
 * Secrets never appear in these texts: the private deploy key (when given) comes on stdin, the age
 * identity is read on the host from {@link HOST_AGE_KEY_FILE}, and only SHA-256 sums of Secret
 * values are compared.
 */

/** sops-nix's age identity on the host (`sops.age.keyFile`; the same file rotate-key installs). */
export const HOST_AGE_KEY_FILE = HOST_KEY_FILE
/** The Secret Flux's GitRepository authenticates with (flux2 `flux bootstrap`/`flux create secret git` default). */
export const GIT_SECRET = 'flux-system'
/** The Secret the kustomize-controller decrypts SOPS files with; `*.agekey` keys are age identities (Flux SOPS guide). */
export const SOPS_SECRET = 'sops-age'
export const SOPS_SECRET_KEY = 'age.agekey'
/** Exit status of the deploy-key script when the Secret holds another key and replacing was not allowed. */
export const EXIT_KEY_DIFFERS = 10
/** Exit status of the deploy-key script when stdin is not an unencrypted OpenSSH private key. */
export const EXIT_BAD_KEY = 11
/** Exit status of the sops-age script when the host has no age identity. */
export const EXIT_NO_AGE_KEY = 12

const prelude = (): string[] => ['set -eu', `export KUBECONFIG=${K3S_KUBECONFIG}`, 'k() { k3s kubectl "$@"; }']

/**
 * The `flux` command on the host: the one on root's PATH (the host module's
 * `environment.systemPackages`), else nixpkgs' `fluxcd` from the host flake's own nixpkgs
 * (`nix run --inputs-from <flakeDir> nixpkgs#fluxcd --`), so the version is the host's pin
 * either way. Defines the shell function `fluxcli` and prints `via=path|nix-run`.
 */
export function fluxSelector(flakeDir: string): string {
  return [
    'if command -v flux >/dev/null 2>&1; then fluxcli() { flux "$@"; }; echo via=path',
    `else fluxcli() { nix --extra-experimental-features 'nix-command flakes' run --inputs-from ${shellQuote(flakeDir)} nixpkgs#fluxcd -- "$@"; }; echo via=nix-run; fi`,
  ].join('\n')
}

/**
 * Step `flux`: installs the Flux controllers unless they already run the CLI's version.
 * `flux version --client` prints `flux: v2.x.y` (flux2 `cmd/flux/version.go`); `flux install`
 * labels the namespace flux-system `app.kubernetes.io/version: v2.x.y` (flux2
 * `pkg/manifestgen/install` templates), so equal values mean installed at this version.
 * Otherwise `flux check --pre` (Kubernetes version) then `flux install` (server-side apply of the
 * embedded manifests, waits for the controllers; an in-place upgrade when older).
 * Prints `via=…`, `version=v2.x.y`, `previous=<label or empty>`, `result=created|updated|unchanged`.
 */
export function fluxInstallScript(flakeDir: string): string {
  return [
    ...prelude(),
    fluxSelector(flakeDir),
    'want=$(fluxcli version --client 2>/dev/null | sed -n "s/^flux: *//p" | head -n1)',
    '[ -n "$want" ] || { echo "flux version --client printed no version" >&2; exit 1; }',
    'echo "version=$want"',
    String.raw`have=$(k get namespace flux-system --ignore-not-found -o 'jsonpath={.metadata.labels.app\.kubernetes\.io/version}')`,
    'echo "previous=$have"',
    'if [ "$have" = "$want" ]; then echo result=unchanged; exit 0; fi',
    'fluxcli check --pre >&2',
    'fluxcli install >&2',
    'if [ -z "$have" ]; then echo result=created; else echo result=updated; fi',
  ].join('\n')
}

/**
 * Step `deploy-key`: the Secret flux-system/flux-system in Flux's SSH format (`identity`,
 * `identity.pub`, `known_hosts`: flux2 `pkg/manifestgen/sourcesecret`, what `flux create secret
 * git --url=ssh://…` writes), built in a 0700 temporary folder under /run (tmpfs) on the host, removed after.
 * - `given`: the private key arrives on stdin (never argv); a different key already in the
 *   Secret is replaced only with `force` (else exit {@link EXIT_KEY_DIFFERS}).
 * - not given: the key already in the Secret is kept; without one, `ssh-keygen -t ed25519`
 *   makes it on the host, so the private half never leaves it.
 * known_hosts is `knownHosts` (the forge's pinned keys from the git access file), never
 * ssh-keyscan. Each value's SHA-256 is compared with the Secret's; only a difference applies.
 * Prints `pub=<public key>`, `key=kept|generated|given`, `result=created|updated|unchanged`.
 */
export function deployKeyScript(options: {given: boolean; force: boolean; knownHosts: string[]; comment: string}): string {
  const knownHosts = options.knownHosts.map((l) => shellQuote(l)).join(' ')
  return [
    ...prelude(),
    'umask 077',
    // /run is a tmpfs: the private key is never written to a disk.
    'd=$(mktemp -d /run/homelab-bootstrap.XXXXXX)',
    `trap 'rm -rf "$d"' EXIT`,
    `get() { k get secret ${GIT_SECRET} -n flux-system --ignore-not-found -o "jsonpath={.data.$1}"; }`,
    'sum() { sha256sum | cut -d" " -f1; }',
    `exists=$(k get secret ${GIT_SECRET} -n flux-system --ignore-not-found -o name)`,
    'old=$(get identity)',
    options.given
      ? [
          'cat > "$d/identity"',
          `ssh-keygen -y -f "$d/identity" > "$d/identity.pub" 2>/dev/null </dev/null || { echo "not an unencrypted OpenSSH private key" >&2; exit ${EXIT_BAD_KEY}; }`,
          `if [ -n "$old" ] && [ "$(printf %s "$old" | base64 -d | sum)" != "$(sum < "$d/identity")" ] && [ ${options.force ? 1 : 0} != 1 ]; then`,
          `  printf 'oldpub=%s\\n' "$(get 'identity\\.pub' | base64 -d | head -n1)"; exit ${EXIT_KEY_DIFFERS}; fi`,
          'echo key=given',
        ].join('\n')
      : [
          'if [ -n "$old" ]; then',
          '  printf %s "$old" | base64 -d > "$d/identity"',
          String.raw`  get 'identity\.pub' | base64 -d > "$d/identity.pub"`,
          '  [ -s "$d/identity.pub" ] || ssh-keygen -y -f "$d/identity" > "$d/identity.pub" </dev/null',
          '  echo key=kept',
          'else',
          `  ssh-keygen -q -t ed25519 -N '' -C ${shellQuote(options.comment)} -f "$d/identity" </dev/null`,
          '  echo key=generated',
          'fi',
        ].join('\n'),
    `printf '%s\\n' ${knownHosts} > "$d/known_hosts"`,
    'same=1',
    String.raw`for f in identity identity.pub known_hosts; do`,
    String.raw`  [ "$(get "$(printf %s "$f" | sed 's/\./\\./g')" | base64 -d | sum)" = "$(sum < "$d/$f")" ] || same=0`,
    'done',
    `printf 'pub=%s\\n' "$(head -n1 "$d/identity.pub")"`,
    'if [ "$same" = 1 ]; then echo result=unchanged; exit 0; fi',
    `k create secret generic ${GIT_SECRET} -n flux-system --from-file=identity="$d/identity" --from-file=identity.pub="$d/identity.pub" --from-file=known_hosts="$d/known_hosts" --dry-run=client -o json | k apply -f - >&2`,
    'if [ -n "$exists" ]; then echo result=updated; else echo result=created; fi',
  ].join('\n')
}

/**
 * Step `sops-age`: the Secret flux-system/sops-age (key `age.agekey`) from the host's own
 * {@link HOST_AGE_KEY_FILE}, read by kubectl on the host (`--from-file`), so the identity never
 * travels. Applied only when its SHA-256 differs from the Secret's.
 * Prints `result=created|updated|unchanged`; exit {@link EXIT_NO_AGE_KEY} when the file is missing or empty.
 */
export function sopsAgeScript(): string {
  const escapedKey = SOPS_SECRET_KEY.replaceAll('.', String.raw`\.`)
  return [
    ...prelude(),
    `[ -s ${HOST_AGE_KEY_FILE} ] || exit ${EXIT_NO_AGE_KEY}`,
    'sum() { sha256sum | cut -d" " -f1; }',
    `exists=$(k get secret ${SOPS_SECRET} -n flux-system --ignore-not-found -o name)`,
    `have=$(k get secret ${SOPS_SECRET} -n flux-system --ignore-not-found -o 'jsonpath={.data.${escapedKey}}' | base64 -d | sum)`,
    `if [ -n "$exists" ] && [ "$have" = "$(sum < ${HOST_AGE_KEY_FILE})" ]; then echo result=unchanged; exit 0; fi`,
    `k create secret generic ${SOPS_SECRET} -n flux-system --from-file=${SOPS_SECRET_KEY}=${HOST_AGE_KEY_FILE} --dry-run=client -o json | k apply -f - >&2`,
    'if [ -n "$exists" ]; then echo result=updated; else echo result=created; fi',
  ].join('\n')
}

/**
 * Step `sync`: `k3s kubectl apply -f -` of the sync objects (a JSON `v1/List` on stdin), run when
 * the live objects differ from them (src/lib/cluster/bootstrap/bootstrap.ts `holds`).
 */
export function syncApplyScript(): string {
  return [...prelude(), 'k apply -f -'].join('\n')
}

/** Parses the `key=value` lines a step script printed (later values win; other lines ignored). */
export function parseReport(stdout: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of stdout.split('\n')) {
    const m = /^([a-z]+)=(.*)$/.exec(line)
    if (m) out[m[1]] = m[2]
  }

  return out
}
