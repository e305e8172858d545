#!/usr/bin/env bash
# The Nix flake, checked without nixpkgs (its source is not reachable from CI's machine):
#
#   1. flake.nix parses (nix-instantiate --parse, from Debian's nix-bin, installed if missing).
#   2. flake.nix evaluates against a stub nixpkgs that has exactly the attributes recorded in
#      .ci/nix-attrs.txt (each with the nixpkgs file that defines it): an attribute flake.nix
#      uses but nobody checked fails here, and so does a recorded one it no longer uses.
#      devShells.default must exist for every system and list the contributor's tools.
#   3. flake.lock pins nixpkgs by a full commit, with lastModified and an SRI narHash, on the
#      branch flake.nix names.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail() {
  echo "nix-checks: FAIL: $*" >&2
  exit 1
}

if ! command -v nix-instantiate >/dev/null; then
  if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null; then
    fail "nix-instantiate is missing; install nix (Debian: apt-get install -y nix-bin)"
  fi
  log="$(mktemp)"
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nix-bin; } >"$log" 2>&1; then
    cat "$log" >&2
    fail "could not install nix-bin"
  fi
  rm -f "$log"
fi

# --- 1. syntax ------------------------------------------------------------------------------
nix-instantiate --parse flake.nix >/dev/null || fail "flake.nix does not parse"

# --- 2. attributes --------------------------------------------------------------------------
names() { awk -v k="$1" '!/^#/ && NF >= 2 && $2 == k { print $1 }' .ci/nix-attrs.txt; }
nixlist() { sed 's/.*/"&"/' | paste -sd' ' -; }
pkgs="$(names pkg | nixlist)"
fn1="$(names fn1 | nixlist)"
fn2="$(names fn2 | nixlist)"
[[ -n "$pkgs" ]] || fail ".ci/nix-attrs.txt lists no packages"

# Each package stub is a string naming it, so the shell's package list reads back as names.
# Every flake output and every attribute flake.nix reads must come from these stubs.
expr='
let
  flake = import ./flake.nix;
  systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
  genAttrs = ns: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) ns);
  stub =
    genAttrs ['"$pkgs"'] (n: n)
    // genAttrs ['"$fn1"'] (n: a: a // { stub = n; })
    // genAttrs ['"$fn2"'] (n: x: y: "${n}:${x}");
  nixpkgs = { lib = { inherit genAttrs; }; legacyPackages = genAttrs systems (s: stub); };
  out = flake.outputs { self = { }; inherit nixpkgs; };
in
  map (s: out.devShells.${s}.default.packages) systems
'
if ! got="$(nix-instantiate --eval --strict --json -E "$expr" 2>&1)"; then
  echo "$got" >&2
  fail "flake.nix uses an attribute that .ci/nix-attrs.txt does not record (checked against nixpkgs), or does not evaluate"
fi
for want in bazelisk go_1_26 buildifier buildozer bazel-gazelle crane awscli2 jq "writeShellScriptBin:bazel"; do
  grep -q "\"$want\"" <<<"$got" || fail "devShells.default lacks $want (got: $got)"
done
while read -r n; do
  grep -Eq "pkgs\.$n\b" flake.nix || fail ".ci/nix-attrs.txt records $n, which flake.nix does not use: drop it"
done < <(awk '!/^#/ && NF >= 2 { print $1 }' .ci/nix-attrs.txt)

# --- 3. flake.lock --------------------------------------------------------------------------
python3 - <<'PY' || fail "flake.lock does not pin nixpkgs properly"
import json, re, sys
lock = json.load(open("flake.lock"))
node = lock["nodes"][lock["nodes"]["root"]["inputs"]["nixpkgs"]]
l, o = node["locked"], node["original"]
errs = []
if lock.get("version") != 7: errs.append("version is not 7")
if l.get("type") != "github" or l.get("owner") != "NixOS" or l.get("repo") != "nixpkgs": errs.append("locked is not github:NixOS/nixpkgs")
if not re.fullmatch(r"[0-9a-f]{40}", l.get("rev", "")): errs.append("rev is not a full commit")
if not isinstance(l.get("lastModified"), int): errs.append("lastModified missing")
if not re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", l.get("narHash", "")): errs.append("narHash is not an SRI sha256")
flake = open("flake.nix").read()
m = re.search(r'nixpkgs\.url\s*=\s*"github:NixOS/nixpkgs/([^"]+)"', flake)
if not m or m.group(1) != o.get("ref"): errs.append("original ref differs from flake.nix's nixpkgs.url")
for e in errs: print("flake.lock: " + e, file=sys.stderr)
sys.exit(1 if errs else 0)
PY

echo "nix-checks: OK (flake.nix parses and evaluates against the $(names pkg | wc -l | tr -d ' ') recorded nixpkgs packages; flake.lock pins nixpkgs $(python3 -c 'import json;l=json.load(open("flake.lock"));print(l["nodes"]["nixpkgs"]["locked"]["rev"][:12])'))"
