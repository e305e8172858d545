#!/usr/bin/env bash
# Monitoring as tested code (docs/operations.md): promtool checks and unit-tests the rules in
# deploy/monitoring, then the Go test holds the rules and the dashboard to the services' real
# metrics. Called by .ci/run; runs alone too. Safe to run again and again.
#
# promtool: $PROMTOOL, else the one on PATH, else a cached copy, else it is fetched:
#   - on Debian/Ubuntu, the `prometheus` package's promtool, unpacked with dpkg-deb into the
#     cache. Nothing is installed: no maintainer script runs, no service starts, no user is
#     created;
#   - elsewhere, `go install` of cmd/promtool at the prometheus version go.mod already uses.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${MSGPIPE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/msgpipe-bazel-tools}/promtool"
log="$(mktemp)"
work="$(mktemp -d)"
trap 'rm -rf "$log" "$work"' EXIT

fail() {
  echo "monitoring: FAIL: $*" >&2
  exit 1
}

find_promtool() {
  if [[ -n "${PROMTOOL:-}" ]]; then
    echo "$PROMTOOL"
  elif command -v promtool >/dev/null; then
    command -v promtool
  elif [[ -x "$cache/deb/usr/bin/promtool" ]]; then
    echo "$cache/deb/usr/bin/promtool"
  elif [[ -x "$cache/go/promtool" ]]; then
    echo "$cache/go/promtool"
  fi
}

fetch_promtool() {
  if command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; then
    # apt-get download needs the package lists; refresh them only when it cannot find it.
    if ! (cd "$work" && apt-get download prometheus) >"$log" 2>&1; then
      apt-get update >>"$log" 2>&1 || true
      (cd "$work" && apt-get download prometheus) >>"$log" 2>&1 || { cat "$log" >&2; return 1; }
    fi
    mkdir -p "$cache/deb"
    dpkg-deb -x "$work"/prometheus_*.deb "$cache/deb"
    return 0
  fi
  local version
  version="$(cd "$root" && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)"
  mkdir -p "$cache/go"
  (cd "$root" && GOBIN="$cache/go" go install "github.com/prometheus/prometheus/cmd/promtool@$version") >"$log" 2>&1 ||
    { cat "$log" >&2; return 1; }
}

promtool="$(find_promtool)"
if [[ -z "$promtool" ]]; then
  echo "monitoring: promtool not found; fetching it into $cache"
  fetch_promtool || fail "could not fetch promtool"
  promtool="$(find_promtool)"
fi
[[ -x "$promtool" ]] || fail "promtool at '$promtool' is not executable"
"$promtool" --version 2>&1 | head -1

cd "$root/deploy/monitoring"
"$promtool" check rules recording.yml alerts.yml || fail "promtool check rules"
"$promtool" test rules tests/alerts_test.yml || fail "promtool test rules (deploy/monitoring/tests)"

cd "$root"
go test ./deploy/monitoring/... || fail "the rules or the dashboard do not match the services' metrics (docs/operations.md)"
echo "monitoring: OK"
