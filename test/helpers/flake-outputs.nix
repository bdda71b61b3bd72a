# Evaluates the repository flake's outputs function with a stand-in nixpkgs (nixpkgs is not on a
# fresh machine and `nix flake check` needs the network): `legacyPackages.<system>` holds exactly
# the attribute names this file lists — each one checked in nixpkgs (see test/tree/flake-outputs.test.ts
# for the sources) — so an output naming any other package fails with nix's "attribute … missing".
# buildNpmPackage, mkShell and runCommand return their arguments, for the test to inspect.
#   nix-instantiate --eval --strict --json test/helpers/flake-outputs.nix --arg repo /path/to/repo
{ repo }:
let
  genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
  lib = {
    inherit genAttrs;
    fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    licenses.mit = "mit";
    # lib.fileset (nixpkgs lib/fileset): the test reads which paths the source keeps, as strings
    # relative to the repository (never copied to the store).
    fileset = {
      unions = paths: paths;
      toSource = { root, fileset }: { sourceFiles = map (p: builtins.substring (builtins.stringLength (toString root) + 1) 1000 (toString p)) fileset; };
    };
    nixosSystem = args: { nixosSystemArgs = builtins.attrNames args; };
  };
  tool = name: { stub = name; };
  pkgsFor = system: {
    inherit lib;
    stdenv.hostPlatform.system = system;
    buildNpmPackage = args: args // { builtWith = "buildNpmPackage"; outPath = "/nix/store/00000000000000000000000000000000-homelab-${system}"; };
    mkShell = args: args // { builtWith = "mkShell"; };
    runCommand = name: env: script: { builtWith = "runCommand"; inherit name script; nativeBuildInputs = env.nativeBuildInputs or [ ]; };
    nodejs_20 = tool "nodejs_20";
    sops = tool "sops";
    age = tool "age";
    kopia = tool "kopia";
    fluxcd = tool "fluxcd";
    kubectl = tool "kubectl";
    nixos-anywhere = tool "nixos-anywhere";
    shellcheck = tool "shellcheck";
  };
  flake = import (repo + "/flake.nix");
  systemsOf = attrs: builtins.attrNames attrs;
  outputs = flake.outputs {
    self = outputs // { outPath = "/nix/store/11111111111111111111111111111111-source"; rev = "0000000000000000000000000000000000000000"; };
    nixpkgs = {
      inherit lib;
      legacyPackages = genAttrs [ "x86_64-linux" "aarch64-linux" "aarch64-darwin" "x86_64-darwin" "i686-linux" ] pkgsFor;
    };
    sops-nix.nixosModules.sops = { };
    disko.nixosModules.disko = { };
  };
  toolNames = map (p: p.stub);
in
{
  outputNames = builtins.attrNames outputs;
  nixosModuleKeys = builtins.attrNames outputs.nixosModules.default;
  systems = {
    packages = systemsOf outputs.packages;
    apps = systemsOf outputs.apps;
    devShells = systemsOf outputs.devShells;
    checks = systemsOf outputs.checks;
  };
  package = genAttrs (systemsOf outputs.packages) (system:
    let p = outputs.packages.${system}.default; in {
      inherit (p) builtWith pname version npmDepsHash;
      nodejs = p.nodejs.stub;
      sourceFiles = p.src.sourceFiles;
      mainProgram = p.meta.mainProgram;
    });
  app = genAttrs (systemsOf outputs.apps) (system: outputs.apps.${system}.default);
  devShell = genAttrs (systemsOf outputs.devShells) (system: toolNames outputs.devShells.${system}.default.packages);
  check = genAttrs (systemsOf outputs.checks) (system:
    let c = outputs.checks.${system}.validate; in {
      inherit (c) builtWith name script;
      inputs = map (i: i.stub or i.builtWith) c.nativeBuildInputs;
    });
}
