/**
 * The Nix settings the tests run nix with. Debian's `nix-bin` is a single-user Nix without a
 * daemon, without the `nixbld` group its built-in `build-users-group = nixbld` names, and without
 * an /etc/nix/nix.conf; a fresh test machine has nothing more. So every nix the tests start (the
 * CLI's `nix-instantiate --parse`, the helpers' `nix-instantiate --eval`, the e2e test host's
 * `nix flake lock`, `nix build`, `nix-env`, `nix store diff-closures` as root) needs:
 *
 * - `build-users-group =`: build as the invoking user (root on the e2e host), no build users;
 *   without it every nix call warns `the group 'nixbld' … does not exist` and builds fail;
 * - `sandbox = false`: the sandbox has no /bin/sh on a non-NixOS machine (builds fail with
 *   `executing '/bin/sh': No such file or directory`).
 *
 * `NIX_HOST_CONF` is that, as the nix.conf of the e2e test host (what a NixOS host's
 * /etc/nix/nix.conf holds for it). `NIX_TEST_CONFIG` adds flakes and quiet dirty trees, for
 * `NIX_CONFIG` (newline-separated nix.conf lines) of the test processes.
 */
export const NIX_HOST_CONF = 'build-users-group =\nsandbox = false\n'

/** `NIX_CONFIG` value for every test process: NIX_HOST_CONF plus flakes on and no dirty-tree warning. */
export const NIX_TEST_CONFIG = `${NIX_HOST_CONF}experimental-features = nix-command flakes\nwarn-dirty = false`

/**
 * `NIX_TEST_CONFIG` after the lines of an existing `NIX_CONFIG` (a later line wins in nix, so the
 * tests' settings apply and the caller's other settings are kept).
 * @param existing the caller's NIX_CONFIG, if any
 */
export function withTestNixConfig(existing: string | undefined): string {
  return existing ? `${existing}\n${NIX_TEST_CONFIG}` : NIX_TEST_CONFIG
}
