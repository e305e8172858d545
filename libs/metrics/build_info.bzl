"""Link-time values of the build_info metric (libs/metrics), for every service binary.

The values come from tools/workspace_status.sh. rules_go substitutes them only when stamping
(--config=release) and otherwise drops the -X flags, so plain builds stay reproducible and the
metric falls back to what the Go toolchain recorded.
"""

BUILD_INFO_X_DEFS = {
    "github.com/devops-exam/msgpipe/libs/metrics.revision": "{STABLE_GIT_SHA}",
    "github.com/devops-exam/msgpipe/libs/metrics.version": "{STABLE_GIT_VERSION}",
}
