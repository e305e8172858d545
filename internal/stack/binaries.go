package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/devops-exam/msgpipe/internal/runfiles"
)

// Environment variables naming prebuilt service binaries. Under Bazel they
// hold rlocation paths (e.g. "_main/services/api/api_/api"), which
// runfiles.Rlocation resolves; anywhere else a plain path works too.
const (
	EnvAPIBin      = "MSGPIPE_API_BIN"
	EnvConsumerBin = "MSGPIPE_CONSUMER_BIN"
)

// Binaries are the service executables to run: the same ones that ship.
type Binaries struct {
	API      string
	Consumer string
}

// FindBinaries returns the binaries named by MSGPIPE_API_BIN and
// MSGPIPE_CONSUMER_BIN. ok is false when neither is set; setting only one is
// an error, since running one prebuilt and one fresh binary would test a
// pair that never ships together.
func FindBinaries() (b Binaries, ok bool, err error) {
	api, consumer := os.Getenv(EnvAPIBin), os.Getenv(EnvConsumerBin)
	switch {
	case api == "" && consumer == "":
		return Binaries{}, false, nil
	case api == "" || consumer == "":
		return Binaries{}, false, fmt.Errorf("set both %s and %s, or neither to build them", EnvAPIBin, EnvConsumerBin)
	}
	if b.API, err = runfiles.Rlocation(api); err != nil {
		return Binaries{}, false, fmt.Errorf("%s: %w", EnvAPIBin, err)
	}
	if b.Consumer, err = runfiles.Rlocation(consumer); err != nil {
		return Binaries{}, false, fmt.Errorf("%s: %w", EnvConsumerBin, err)
	}
	return b, true, nil
}

// FindOrBuild returns the binaries from the environment if it names them,
// else builds them from source into dir.
func FindOrBuild(ctx context.Context, dir string) (Binaries, error) {
	b, ok, err := FindBinaries()
	if err != nil || ok {
		return b, err
	}
	if runfiles.UnderBazel() {
		// A Bazel sandbox has neither the go tool nor the module source.
		return Binaries{}, fmt.Errorf("under bazel test, the target must put //services/api and //services/consumer in data and set %s and %s to their rlocation paths", EnvAPIBin, EnvConsumerBin)
	}
	root, err := ModuleRoot(ctx)
	if err != nil {
		return Binaries{}, err
	}
	return Build(ctx, root, dir)
}

// FindOrBuildTemp is FindOrBuild into a temporary directory, for a test
// binary or a tool that needs the binaries for its whole run. Call cleanup
// when done with them.
func FindOrBuildTemp(ctx context.Context) (b Binaries, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "msgpipe-bin-")
	if err != nil {
		return Binaries{}, nil, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	if b, err = FindOrBuild(ctx, dir); err != nil {
		cleanup()
		return Binaries{}, nil, err
	}
	return b, cleanup, nil
}

// ModuleRoot finds the directory of the go.mod that encloses the working
// directory.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w (is the Go toolchain on PATH?)", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the msgpipe module: run from the repository, or set " + EnvAPIBin + " and " + EnvConsumerBin)
	}
	return filepath.Dir(gomod), nil
}

// Build compiles services/api and services/consumer from the module at root
// into dir. CGO is off because the images ship pure Go binaries; a local
// run should not link what production never has.
func Build(ctx context.Context, root, dir string) (Binaries, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(os.PathSeparator), "./services/api", "./services/consumer")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return Binaries{}, fmt.Errorf("go build ./services/api ./services/consumer: %w\n%s", err, strings.TrimSpace(stderr.String()))
	}
	return Binaries{API: filepath.Join(dir, "api"), Consumer: filepath.Join(dir, "consumer")}, nil
}
