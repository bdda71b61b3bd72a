# The homelab flake. It is never cloned on the host: the host bootstrap flake in /etc/nixos
# (reference copy: nixos/flake.nix) takes this repository as its input `homelab`, pins it in
# /etc/nixos/flake.lock, and imports `nixosModules.default`.
{
  description = "azalab-0 homelab: NixOS host module (k3s, sops-nix, Kopia backups) and its Flux tree";

  # The host bootstrap flake (nixos/flake.nix) makes its `homelab` input follow its own
  # nixpkgs, sops-nix and disko: these three are what it overrides, so keep their names.
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
    sops-nix = {
      url = "github:Mic92/sops-nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    disko = {
      url = "github:nix-community/disko";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    { self, nixpkgs, sops-nix, disko, ... }:
    let
      # The systems the CLI, its dev shell and the checks are exported for (each package used
      # below builds on all of them: nixos-anywhere has meta.platforms = platforms.all, fluxcd,
      # kopia, sops, age, kubectl and shellcheck are Go/Haskell builds for Linux and Darwin).
      systems = [ "x86_64-linux" "aarch64-linux" "aarch64-darwin" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
    in
    {
      # The host configuration. Wraps ./nixos/homelab-module.nix with the modules it needs and
      # hands it this flake's own source and revision (a module cannot see `self` otherwise).
      nixosModules.default = {
        imports = [
          sops-nix.nixosModules.sops
          disko.nixosModules.disko
          # The host module (with ./nixos/backup.nix and ./nixos/git-access.nix) and the disk
          # layout, imported here and nowhere else: nixos/configuration.nix holds values only.
          ./nixos/homelab-module.nix
          ./nixos/disko.nix
        ];
        # Exposed read-only at /etc/homelab/source (the pinned source the host runs).
        homelab.source = self.outPath;
        # `nixos-version --configuration-revision` and `nixos-rebuild list-generations --json`
        # report it; `homelab status` compares it with the commit Flux applied.
        homelab.revision = self.rev or self.dirtyRev or "dirty";
      };

      # One configuration per host of nixos/hosts.json (written by the CLI from homelab.yaml),
      # without the host's generated hardware-configuration.nix: lets
      # `nix build .#nixosConfigurations.<host>.config.system.build.toplevel` check the module on a
      # machine that can fetch nixpkgs. Each host's values file (`configuration`) imports the
      # shared nixos/configuration.nix; the real host builds from /etc/nixos (its bootstrap flake).
      nixosConfigurations = builtins.listToAttrs (map (host: {
        inherit (host) name;
        value = nixpkgs.lib.nixosSystem {
          modules = [
            self.nixosModules.default
            (./. + "/${host.configuration}")
            { nixpkgs.hostPlatform = "x86_64-linux"; }
          ];
        };
      }) (builtins.fromJSON (builtins.readFile ./nixos/hosts.json)).hosts);

      # The `homelab` CLI (`nix build .#`, `nix profile install .#`): npm ci from package-lock.json,
      # `npm run build` (tsc + oclif manifest), then the package's `files` with production
      # dependencies only. buildNpmPackage (nixpkgs pkgs/build-support/node/build-npm-package):
      # `nodejs` picks the Node it builds and runs with (package.json engines: >= 20.19),
      # `npmDepsHash` is the fixed-output hash of the npm dependency cache (fetchNpmDeps).
      packages = forAllSystems (
        system: pkgs: {
          default = pkgs.buildNpmPackage {
            pname = "homelab";
            version = (builtins.fromJSON (builtins.readFile ./package.json)).version;
            # Only what the build reads: a change under flux/ or nixos/ does not rebuild the CLI.
            src = nixpkgs.lib.fileset.toSource {
              root = ./.;
              fileset = nixpkgs.lib.fileset.unions [
                ./package.json
                ./package-lock.json
                ./tsconfig.json
                ./bin
                ./src
                ./templates
              ];
            };
            nodejs = pkgs.nodejs_20;
            # NOT the real hash: it cannot be computed here (fetching the npm dependencies needs the
            # network, and this repository is prepared offline). This is lib.fakeHash, so the first
            # `nix build .#` fails and prints the real one. Refresh it after every change of
            # package-lock.json with:  prefetch-npm-deps package-lock.json
            # (from nixpkgs: `nix run nixpkgs#prefetch-npm-deps -- package-lock.json`).
            npmDepsHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
            meta = {
              description = "Operate a declarative NixOS + k3s + Flux homelab from your laptop";
              mainProgram = "homelab";
              license = nixpkgs.lib.licenses.mit;
            };
          };
        }
      );

      # `nix run .# -- validate`
      apps = forAllSystems (
        system: pkgs: {
          default = {
            type = "app";
            program = "${self.packages.${system}.default}/bin/homelab";
            meta.description = "The homelab CLI";
          };
        }
      );

      # `nix develop`: Node 20 for the CLI and the tools it drives or the README uses.
      devShells = forAllSystems (
        system: pkgs: {
          default = pkgs.mkShell {
            packages = [
              pkgs.nodejs_20
              pkgs.sops
              pkgs.age
              pkgs.kopia
              pkgs.fluxcd # the `flux` CLI (nixpkgs pkgs/by-name/fl/fluxcd, mainProgram = "flux")
              pkgs.kubectl
              pkgs.nixos-anywhere
              pkgs.shellcheck
            ];
          };
        }
      );

      # `nix flake check`: `homelab validate` on this tree (kubectl for its kustomize check; the
      # nix check reports itself skipped in the build sandbox, which has no nix).
      checks = forAllSystems (
        system: pkgs: {
          validate =
            pkgs.runCommand "homelab-validate"
              {
                nativeBuildInputs = [
                  self.packages.${system}.default
                  pkgs.kubectl
                ];
              }
              ''
                export HOME="$TMPDIR"
                homelab validate --repo ${self}
                touch "$out"
              '';
        }
      );
    };
}
