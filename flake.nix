{
  description = "msgpipe: the tools a contributor needs (Bazel through Bazelisk, Go, buildifier, gazelle, crane, AWS CLI)";

  # Pinned in flake.lock; every attribute below is listed, with its nixpkgs path, in
  # .ci/nix-attrs.txt, which .ci/nix-checks.sh checks this file against.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            # Bazelisk as `bazel`: it runs the version in .bazelversion.
            (pkgs.writeShellScriptBin "bazel" ''exec ${pkgs.bazelisk}/bin/bazelisk "$@"'')
            pkgs.bazelisk
            # Go 1.26; go.mod's `toolchain go1.26.8` line makes the go command fetch
            # exactly that release when this one is older (GOTOOLCHAIN=auto below).
            pkgs.go_1_26
            pkgs.buildifier
            pkgs.buildozer
            pkgs.bazel-gazelle
            pkgs.crane
            pkgs.awscli2
            pkgs.jq
          ];
          GOTOOLCHAIN = "auto";
        };
      });
    };
}
