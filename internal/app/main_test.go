package app

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// subprocessEnv makes the test binary run `switchyard` itself (with the
// arguments in the variable, separated by \x1f) instead of the tests, so
// tests can start real gateway processes without building a binary.
const subprocessEnv = "SWITCHYARD_TEST_RUN_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(subprocessEnv); args != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := Run(ctx, strings.Split(args, "\x1f"), os.Getenv, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "switchyard:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// Most of this package's slow tests wait (for deadlines, breaker
	// probes and cache expiries) rather than compute, so more of them run
	// at once than the default of one per CPU. An explicit -parallel wins.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "8")
	}
	os.Exit(m.Run())
}
