// Package app is the composition root: it parses the command line, loads
// the configuration, builds every dependency (store, channels, router,
// gateway, front doors, admin listener) and runs them with an ordered
// shutdown. It is the only place where concrete implementations are
// chosen.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"switchyard/internal/cli"
)

// Run executes one switchyard subcommand. It reads the environment only
// through getenv, so tests can run the whole program in-process.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printUsage(stderr)
		return errors.New("no subcommand given")
	}
	env := &Env{Getenv: getenv, Stdout: stdout, Stderr: stderr}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, env, rest)
	case "demo":
		return runDemo(ctx, env, rest)
	case "fakecloud":
		return runFakecloud(ctx, env, rest)
	case "validate":
		return runValidate(env, rest)
	case "import":
		return runImport(env, rest)
	case "keys":
		return cli.Keys(ctx, cliEnv(env), rest)
	case "tenants":
		return cli.Tenants(ctx, cliEnv(env), rest)
	case "usage":
		return cli.Usage(ctx, cliEnv(env), rest)
	case "route":
		return runRoute(ctx, env, rest)
	case "bench":
		return runBench(ctx, env, rest)
	case "version":
		fmt.Fprintln(stdout, "switchyard", Version())
		return nil
	case "help", "-h", "-help", "--help":
		printUsage(stdout)
		return nil
	}
	printUsage(stderr)
	return fmt.Errorf("unknown subcommand %q", cmd)
}

// Env is the process environment a subcommand sees.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, strings.TrimLeft(`
usage: switchyard <command> [flags]

commands:
  demo        run the whole gateway offline on simulated clouds, with a demo key
  serve       run the gateway from a config file (-config switchyard.yaml)
  validate    check a config file and report every error (-config F)
  import      convert a LiteLLM proxy config: import litellm -f config.yaml [-o switchyard.yaml]
  keys        manage virtual keys: keys create|list|revoke|rotate (-admin URL | -config F)
  tenants     manage tenants: tenants create|list|update|disable|enable
  usage       report traffic and spend: usage -by tenant|key|model|provider -since 24h
  route       explain a routing decision: route explain -config F -model M -tenant T -traffic stateless
  fakecloud   serve the simulated clouds on their own (-listen ADDR)
  bench       measure the gateway against a bare reverse proxy (writes BENCHMARKS.md)
  version     print the version

Run 'switchyard <command> -h' for a command's flags.
`, "\n"))
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, env *Env) *flag.FlagSet {
	fs := flag.NewFlagSet("switchyard "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

// parseFlags parses args; -h is not an error.
func parseFlags(fs *flag.FlagSet, args []string) (help bool, err error) {
	err = fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return true, nil
	}
	return false, err
}
