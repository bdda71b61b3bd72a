// The repository flake's outputs for Nix users (issue 17), evaluated by real nix-instantiate with
// test/helpers/flake-outputs.nix: a stand-in nixpkgs whose legacyPackages hold only the
// attribute names checked in nixpkgs (nixos-25.11):
//   buildNpmPackage  pkgs/build-support/node/build-npm-package/default.nix (args npmDepsHash, nodejs, npmBuildScript "build")
//   nodejs_20        pkgs/development/web/nodejs/v20.nix (top-level nodejs_20)
//   fluxcd           pkgs/by-name/fl/fluxcd/package.nix (mainProgram "flux")
//   nixos-anywhere   pkgs/by-name/ni/nixos-anywhere/package.nix (meta.platforms = platforms.all)
//   sops, age, kopia, kubectl, shellcheck (top-level attributes of those names)
// `nix flake check` itself needs the network (nixpkgs); the `checks.validate` script is run here
// the way its build sandbox would run it: read-only source, HOME in a temp folder, only node and
// kubectl on PATH.
// A missing nix-instantiate or kubectl skips locally and FAILS under CI=true.
import {execFileSync} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {copyBundledHomelab} from '../helpers/copy-homelab.js'
import {haveTool} from '../helpers/have-tool.js'
import {withTestNixConfig} from '../helpers/nix-config.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
const CI = process.env.CI === 'true'
const SYSTEMS = ['aarch64-darwin', 'aarch64-linux', 'x86_64-linux']
const FAKE_HASH = 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='

function needs(tool: string): boolean {
  const present = haveTool(tool)
  if (!present && CI) throw new Error(`${tool} is not installed (scripts/install-test-tools.sh installs it)`)
  return present
}

interface Evaluated {
  outputNames: string[]
  nixosModuleKeys: string[]
  systems: Record<'apps' | 'checks' | 'devShells' | 'packages', string[]>
  package: Record<string, {builtWith: string; pname: string; version: string; npmDepsHash: string; nodejs: string; sourceFiles: string[]; mainProgram: string}>
  app: Record<string, {type: string; program: string}>
  devShell: Record<string, string[]>
  check: Record<string, {builtWith: string; name: string; script: string; inputs: string[]}>
}

let evaluated: Evaluated | undefined
function evaluate(): Evaluated {
  evaluated ??= JSON.parse(
    execFileSync('nix-instantiate', ['--eval', '--strict', '--json', path.join(ROOT, 'test/helpers/flake-outputs.nix'), '--arg', 'repo', ROOT], {
      encoding: 'utf8',
      env: {...process.env, NIX_CONFIG: withTestNixConfig(process.env.NIX_CONFIG)},
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  ) as Evaluated
  return evaluated
}

const nix = needs('nix-instantiate')

describe('flake.nix outputs', () => {
  it.skipIf(!nix)('exports packages, apps, devShells and checks for the same systems, next to the untouched NixOS module', {timeout: 120_000}, () => {
    const e = evaluate()
    expect(e.outputNames.sort()).toEqual(['apps', 'checks', 'devShells', 'nixosConfigurations', 'nixosModules', 'packages'])
    for (const kind of ['packages', 'apps', 'devShells', 'checks'] as const) expect(e.systems[kind], kind).toEqual(SYSTEMS)
    expect(e.nixosModuleKeys.sort()).toEqual(['homelab', 'imports'])
  })

  it.skipIf(!nix)('packages.<system>.default is the CLI from package-lock.json with buildNpmPackage and Node 20', {timeout: 120_000}, () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string; bin: Record<string, string>; oclif: {commands: string}}
    for (const system of SYSTEMS) {
      const p = evaluate().package[system]
      expect(p).toMatchObject({builtWith: 'buildNpmPackage', mainProgram: 'homelab', nodejs: 'nodejs_20', pname: 'homelab', version: pkg.version})
      // The build reads these (tsc: tsconfig.json + src; the bin; app templates; the lock for npm ci).
      expect(p.sourceFiles.sort()).toEqual(['bin', 'package-lock.json', 'package.json', 'src', 'templates', 'tsconfig.json'])
      expect(Object.keys(pkg.bin)).toEqual(['homelab'])
      expect(p.npmDepsHash).toMatch(/^sha256-[A-Za-z0-9+/]{43}=$/)
    }
  })

  it('says where npmDepsHash is set that it is a placeholder, and the one command that refreshes it', () => {
    const flake = readFileSync(path.join(ROOT, 'flake.nix'), 'utf8')
    const at = flake.indexOf('npmDepsHash = ')
    // The comment lines right above it, joined into one text.
    const comment = flake.slice(flake.lastIndexOf('nodejs = pkgs.nodejs_20;', at), at).replace(/\n\s*#\s*/g, ' ')
    expect(comment).toMatch(/cannot be computed here \(fetching the npm dependencies needs the network/)
    expect(comment).toContain('prefetch-npm-deps package-lock.json')
    expect(flake.slice(at)).toMatch(new RegExp(`^npmDepsHash = "${FAKE_HASH.replaceAll('+', '\\+')}";`))
  })

  it.skipIf(!nix)('apps.<system>.default runs the package\'s bin/homelab', {timeout: 120_000}, () => {
    for (const system of SYSTEMS)
      expect(evaluate().app[system]).toEqual({meta: {description: 'The homelab CLI'}, program: `/nix/store/00000000000000000000000000000000-homelab-${system}/bin/homelab`, type: 'app'})
  })

  it.skipIf(!nix)('devShells.<system>.default has node 20, sops, age, kopia, flux, kubectl, nixos-anywhere and shellcheck', {timeout: 120_000}, () => {
    for (const system of SYSTEMS)
      expect(evaluate().devShell[system]).toEqual(['nodejs_20', 'sops', 'age', 'kopia', 'fluxcd', 'kubectl', 'nixos-anywhere', 'shellcheck'])
  })

  it.skipIf(!nix)('checks.<system>.validate runs homelab validate on the flake source with the CLI and kubectl', {timeout: 120_000}, () => {
    for (const system of SYSTEMS) {
      const c = evaluate().check[system]
      expect(c).toMatchObject({builtWith: 'runCommand', inputs: ['buildNpmPackage', 'kubectl'], name: 'homelab-validate'})
      expect(c.script.split('\n')).toEqual(['export HOME="$TMPDIR"', 'homelab validate --repo /nix/store/11111111111111111111111111111111-source', 'touch "$out"', ''])
    }
  })
})

describe('the checks.validate script as its build sandbox runs it', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homelab-flake-check-'))
  afterAll(() => {
    execFileSync('chmod', ['-R', 'u+w', dir])
    rmSync(dir, {force: true, recursive: true})
  })

  it.skipIf(!needs('kubectl'))('passes on the bundled tree: read-only source, a temp HOME, only node and kubectl on PATH', {timeout: 180_000}, async () => {
    const source = copyBundledHomelab('homelab-flake-source-')
    const bin = path.join(dir, 'bin')
    mkdirSync(bin)
    mkdirSync(path.join(dir, 'home'))
    symlinkSync(process.execPath, path.join(bin, 'node'))
    symlinkSync(execFileSync('sh', ['-c', 'command -v kubectl'], {encoding: 'utf8'}).trim(), path.join(bin, 'kubectl'))
    execFileSync('chmod', ['-R', 'a-w', source])
    try {
      const result = await runCli(['validate', '--repo', source], {env: {HOME: path.join(dir, 'home'), PATH: bin}})
      expect(result.exitCode, result.stdout + result.stderr).toBe(0)
      expect(result.stdout).toMatch(/^✓ kustomize /m)
      expect(result.stdout).toMatch(/^– nix .*\(skipped: nix-instantiate not found/m)
      expect(result.stdout).toMatch(/0 errors, 0 warnings/)
    } finally {
      execFileSync('chmod', ['-R', 'u+w', source])
      rmSync(source, {force: true, recursive: true})
    }
    chmodSync(dir, 0o700)
  })
})
