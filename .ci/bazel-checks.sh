#!/usr/bin/env bash
# Bazel-side checks that need no Bazel (Bazel itself runs in GitHub Actions, see
# .github/workflows/ci.yml). Runs on a fresh Debian machine as root with Go and node/npm on
# PATH; safe to run again and again. Quiet on success except one summary line; on failure it
# prints what drifted and exits non-zero.
#
#   1. BUILD files are what gazelle v0.53.0 generates (gazelle -mode=diff -external=static).
#   2. Every BUILD/.bzl/MODULE file is formatted and lint-clean for buildifier 8.2.1.
#   3. MODULE.bazel's use_repo(go_deps, ...) lists exactly go.mod's direct requirements, and
#      every @repo a BUILD file names is a bazel_dep or a use_repo.
#   4. tools/bazelcheck: every main-repo label names a target or file that is visible from the
#      rule naming it, $(location) labels are prerequisites, select() keys are conditions, and
#      every attribute fits the pinned rule's schema (types, mandatory, size, tags, env); see
#      docs/bazel-verification.md. Failures are in Bazel's own words.
#   5. Every third-party action in .github/workflows is pinned by a full commit SHA.
#
# Tools are installed into a versioned cache directory (not on PATH), so reruns skip them.
set -euo pipefail

GAZELLE_VERSION=v0.53.0
BUILDIFIER_VERSION=8.2.1

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${MSGPIPE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/msgpipe-bazel-tools}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

fail() {
  echo "bazel-checks: FAIL: $*" >&2
  exit 1
}

# --- tools ----------------------------------------------------------------------------------
command -v go >/dev/null || fail "go is not on PATH"
command -v npm >/dev/null || fail "npm is not on PATH"

gazelle="$cache/gazelle-$GAZELLE_VERSION/gazelle"
if [[ ! -x "$gazelle" ]]; then
  mkdir -p "$(dirname "$gazelle")"
  if ! (cd "$cache" && GOBIN="$(dirname "$gazelle")" GOFLAGS=-mod=mod \
      go install "github.com/bazelbuild/bazel-gazelle/cmd/gazelle@$GAZELLE_VERSION") >"$log" 2>&1; then
    cat "$log" >&2
    fail "could not install gazelle $GAZELLE_VERSION"
  fi
fi

# The npm package ships prebuilt binaries; node_modules/.bin/buildifier picks the one for
# this OS and CPU.
bprefix="$cache/buildifier-$BUILDIFIER_VERSION"
buildifier="$bprefix/node_modules/.bin/buildifier"
if [[ ! -x "$buildifier" ]] || ! "$buildifier" --version 2>/dev/null | grep -q "version: $BUILDIFIER_VERSION\b"; then
  mkdir -p "$bprefix"
  if ! npm install --prefix "$bprefix" --no-audit --no-fund --loglevel=error \
      "@bazel/buildifier@$BUILDIFIER_VERSION" >"$log" 2>&1; then
    cat "$log" >&2
    fail "could not install buildifier $BUILDIFIER_VERSION"
  fi
fi
"$buildifier" --version 2>/dev/null | grep -q "version: $BUILDIFIER_VERSION\b" ||
  fail "buildifier at $buildifier is not version $BUILDIFIER_VERSION"

cd "$root"

# --- 1. gazelle drift -----------------------------------------------------------------------
# -external=static: resolve imports from go.mod (via MODULE.bazel's go_deps) without the
# network. Without it gazelle tries to look modules up online and, offline, drops their deps.
if ! "$gazelle" -mode=diff -external=static >"$log" 2>&1; then
  cat "$log" >&2
  fail "BUILD files drift from gazelle $GAZELLE_VERSION: run 'bazel run //:gazelle' (or: gazelle -external=static) and commit"
fi

# --- 2. buildifier --------------------------------------------------------------------------
if ! "$buildifier" -mode=check -lint=warn -r . >"$log" 2>&1; then
  cat "$log" >&2
  fail "buildifier $BUILDIFIER_VERSION: run 'buildifier -lint=fix -r .' and commit"
fi

# --- 3. repositories ------------------------------------------------------------------------
# gazelle's repo name for a Go module path: reverse the host's labels, then every run of
# non-word characters becomes "_" (label.ImportPathToBazelRepoName), lower-cased.
repo_name() {
  local host="${1%%/*}" rest=""
  [[ "$1" == */* ]] && rest="/${1#*/}"
  local rev
  rev="$(tr '.' '\n' <<<"$host" | tac | paste -sd. -)"
  printf '%s%s\n' "$rev" "$rest" | tr '[:upper:]' '[:lower:]' | sed -E 's/[^a-z0-9_]+/_/g'
}

# Direct requirements of go.mod: require lines without "// indirect", block or single form.
want="$(awk '
  /^require[ \t]*\(/ { inblock = 1; next }
  inblock && /^\)/   { inblock = 0; next }
  inblock && NF >= 2 && $0 !~ /\/\/ indirect/ { print $1 }
  !inblock && /^require[ \t]+[^(]/ && $0 !~ /\/\/ indirect/ { print $2 }
' go.mod | while read -r m; do repo_name "$m"; done | sort -u)"

# use_repo(go_deps, ...) in MODULE.bazel.
have="$(awk '
  /use_repo\(/ { buf = ""; grab = 1 }
  grab { buf = buf $0 }
  grab && /\)/ { grab = 0; if (buf ~ /use_repo\([ \t]*go_deps[ \t]*,/) print buf }
' MODULE.bazel | grep -o '"[^"]*"' | tr -d '"' | sort -u)"

if [[ "$want" != "$have" ]]; then
  {
    echo "use_repo(go_deps, ...) in MODULE.bazel does not match go.mod's direct requirements:"
    { diff <(echo "$want") <(echo "$have") || true; } | sed -n 's/^< /  missing from use_repo: /p; s/^> /  not a direct go.mod requirement: /p'
  } >&2
  fail "run 'go mod tidy' (code imports a module go.mod marks // indirect?), then make use_repo(go_deps, ...) in MODULE.bazel list go.mod's direct requirements ('bazel mod tidy' does this)"
fi

# Every @repo named in a BUILD or .bzl file must be visible to the root module.
known="$( {
  grep -o 'bazel_dep([^)]*name = "[^"]*"' MODULE.bazel | sed -E 's/.*name = "([^"]*)"/\1/'
  awk '/use_repo\(/ { grab = 1 } grab { print } grab && /\)/ { grab = 0 }' MODULE.bazel |
    grep -o '"[^"]*"' | tr -d '"'
  echo bazel_tools
} | sort -u)"
used="$(git ls-files -co --exclude-standard -- '*BUILD.bazel' '*BUILD' '*.bzl' |
  xargs -r grep -ho '"@@\?[A-Za-z0-9_.~+-]*//' | sed -E 's/^"@@?//; s#//$##' | grep -v '^$' | sort -u || true)"
unknown="$(comm -23 <(echo "$used") <(echo "$known") | grep -v '^$' || true)"
if [[ -n "$unknown" ]]; then
  echo "repositories used in BUILD files but not declared in MODULE.bazel:" >&2
  sed 's/^/  @/' <<<"$unknown" >&2
  fail "add them to MODULE.bazel (a go.mod direct requirement, then use_repo)"
fi

# --- 4. labels, visibility, attribute schemas -------------------------------------------------
if ! go run ./tools/bazelcheck . >"$log" 2>&1; then
  cat "$log" >&2
  fail "tools/bazelcheck found what Bazel's analysis would refuse (above, in Bazel's words)"
fi
bazelcheck_summary="$(tail -n 1 "$log")"

# --- 5. actions pinned by commit ------------------------------------------------------------
# A tag can be moved; a commit cannot. Local actions (./...) and docker:// are exempt.
unpinned="$(grep -nE '^[[:space:]]*(-[[:space:]]*)?uses:' .github/workflows/*.yml |
  grep -vE 'uses:[[:space:]]*[^@[:space:]]+@[0-9a-f]{40}([[:space:]]|$)' |
  grep -vE 'uses:[[:space:]]*(\./|docker://)' || true)"
if [[ -n "$unpinned" ]]; then
  echo "actions not pinned by a full commit SHA:" >&2
  sed 's/^/  /' <<<"$unpinned" >&2
  fail "pin each action as owner/repo@<40-hex commit> # vX.Y.Z"
fi

nbuild="$(git ls-files -co --exclude-standard -- '*BUILD.bazel' | wc -l | tr -d ' ')"
echo "bazel-checks: OK (gazelle $GAZELLE_VERSION: $nbuild BUILD files, no drift; buildifier $BUILDIFIER_VERSION: clean; go_deps use_repo matches go.mod's $(wc -l <<<"$want" | tr -d ' ') direct requirements; actions pinned)"
echo "$bazelcheck_summary"
