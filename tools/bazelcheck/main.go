// Command bazelcheck checks a Bazel workspace's BUILD files for what Bazel's
// analysis would refuse and neither gazelle nor buildifier sees: labels that
// name nothing, targets not visible to the rule that names them, undeclared
// $(location) labels, and attributes that do not fit the pinned rules'
// schemas (types, mandatory attributes, select() keys, test size and
// timeout, tags, env). It prints one line per finding, in Bazel's words
// where Bazel has words for it, and exits 1 if there is any.
//
//	go run ./tools/bazelcheck [workspace root, default .]
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/devops-exam/msgpipe/tools/bazelcheck/internal/check"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	root := "."
	switch len(args) {
	case 0:
	case 1:
		root = args[0]
	default:
		fmt.Fprintln(stderr, "usage: bazelcheck [workspace root]")
		return 2
	}
	ws, err := check.Load(root)
	if err != nil {
		fmt.Fprintf(stderr, "bazelcheck: %v\n", err)
		return 2
	}
	findings := check.All(ws)
	for _, f := range findings {
		fmt.Fprintf(stderr, "ERROR: %s\n", f)
	}
	if len(findings) > 0 {
		fmt.Fprintf(stderr, "bazelcheck: %d errors\n", len(findings))
		return 1
	}
	n := 0
	for _, p := range ws.Packages {
		n += len(p.Targets)
	}
	fmt.Fprintf(stdout, "bazelcheck: OK (%d packages, %d targets: labels, visibility, $(location), attribute schemas)\n", len(ws.Packages), n)
	return 0
}
