#!/usr/bin/env bash
# Bazel workspace status command for --config=release (see .bazelrc).
# Prints "KEY value" lines; keys starting with STABLE_ are stable-status keys, so a new commit
# re-links the stamped targets and nothing else. Reads the local checkout only: no network.
# Fails (and so fails the stamped build) when the commit cannot be read, rather than
# tagging an image with a made-up revision.
set -euo pipefail

sha="$(git rev-parse --verify HEAD)"
echo "STABLE_GIT_SHA ${sha}"
# The services' build_info version label: the nearest tag and the commits since, or the short
# SHA when there is no tag; "-dirty" when the tree has uncommitted changes.
echo "STABLE_GIT_VERSION $(git describe --tags --always --dirty)"
