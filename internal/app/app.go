// Package app is the composition root: it parses the command line, loads
// the configuration, builds every dependency (store, channels, router,
// gateway, front doors, admin listener) and runs them with an ordered
// shutdown. It is the only place where concrete implementations are
// chosen.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"switchyard/internal/cli"
)

// command is one top-level subcommand; the list below is the single
// source of the top-level help and of the README's command list.
type command struct {
	name, summary string
	run           func(ctx context.Context, env *Env, args []string) error
}

// commands lists the top-level subcommands. It is a function, not a
// package-level variable, because the commands' flag sets read it back for
// their summaries.
func commands() []command {
	return []command{
		{"demo", "run the whole gateway offline on simulated clouds, with a demo key", runDemo},
		{"serve", "run the gateway from a config file (-config switchyard.yaml)", runServe},
		{"validate", "check a config file as serve would and report every error (-config F)", func(_ context.Context, env *Env, args []string) error {
			return runValidate(env, args)
		}},
		{"import", "convert a LiteLLM proxy config: import litellm -f config.yaml [-o switchyard.yaml]", func(_ context.Context, env *Env, args []string) error {
			return runImport(env, args)
		}},
		{"keys", cli.KeysSummary, func(ctx context.Context, env *Env, args []string) error { return cli.Keys(ctx, cliEnv(env), args) }},
		{"master-key", "re-seal every stored secret under a new master key: master-key rotate -config F (keys from env or files)", runMasterKey},
		{"tenants", cli.TenantsSummary, func(ctx context.Context, env *Env, args []string) error { return cli.Tenants(ctx, cliEnv(env), args) }},
		{"usage", cli.UsageSummary, func(ctx context.Context, env *Env, args []string) error { return cli.Usage(ctx, cliEnv(env), args) }},
		{"channels", cli.ChannelsSummary, func(ctx context.Context, env *Env, args []string) error { return cli.Channels(ctx, cliEnv(env), args) }},
		{"requests", cli.RequestsSummary, func(ctx context.Context, env *Env, args []string) error {
			return cli.Requests(ctx, cliEnv(env), args)
		}},
		{"login", cli.LoginSummary, func(ctx context.Context, env *Env, args []string) error { return cli.Login(ctx, cliEnv(env), args) }},
		{"logout", cli.LogoutSummary, func(ctx context.Context, env *Env, args []string) error { return cli.Logout(ctx, cliEnv(env), args) }},
		{"admin-tokens", cli.AdminTokensSummary, func(ctx context.Context, env *Env, args []string) error {
			return cli.AdminTokens(ctx, cliEnv(env), args)
		}},
		{"audit", cli.AuditSummary, func(ctx context.Context, env *Env, args []string) error { return cli.Audit(ctx, cliEnv(env), args) }},
		{"whatif", cli.WhatIfSummary, func(ctx context.Context, env *Env, args []string) error { return cli.WhatIf(ctx, cliEnv(env), args) }},
		{"reconcile", "compare a cloud's cost export with the ledger, day by channel: reconcile -provider aws|azure|gcp|openai|anthropic -file F -config F", runReconcile},
		{"route", "explain a routing decision: route explain -config F -model M -tenant T -traffic stateless", runRoute},
		{"prices", "show what each offering costs and why: prices list|update (-config F | -from FILE -o OUT)", runPrices},
		{"fakecloud", "serve the simulated clouds on their own (-listen ADDR)", runFakecloud},
		{"bench", "measure the gateway against a bare reverse proxy (writes BENCHMARKS.md)", runBench},
		{"healthcheck", "exit 0 when a running gateway answers /readyz (-url), for container health checks", runHealthcheck},
		{"version", "print the version, commit and build date", runVersion},
	}
}

// Run executes one switchyard subcommand. It reads the environment only
// through getenv, so tests can run the whole program in-process.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printUsage(stderr)
		return errors.New("no subcommand given")
	}
	if cli.IsHelp(args[0]) {
		printUsage(stdout)
		return nil
	}
	env := &Env{Getenv: getenv, Stdout: stdout, Stderr: stderr}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	printUsage(stderr)
	return fmt.Errorf("unknown subcommand %q", args[0])
}

func runVersion(_ context.Context, env *Env, args []string) error {
	fs := newFlags("version", env)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	_, err := fmt.Fprintln(env.Stdout, "switchyard", Version())
	return err
}

// Env is the process environment a subcommand sees.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
}

// usageText is the top-level help.
func usageText() string {
	var b strings.Builder
	b.WriteString("usage: switchyard <command> [flags]\n\ncommands:\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	b.WriteString("\nRun 'switchyard <command> -h' for a command's flags.\n")
	return b.String()
}

func printUsage(w io.Writer) { fmt.Fprint(w, usageText()) }

// newFlags returns the flag set of a top-level command: errors are
// returned, not fatal, and -h prints its usage on stdout.
func newFlags(name string, env *Env) *cli.Flags {
	summary := ""
	for _, c := range commands() {
		if c.name == name {
			summary = c.summary
		}
	}
	return cli.NewFlags(name+" [flags]", summary, env.Stdout, env.Stderr)
}

// parseFlags parses args; -h is not an error.
func parseFlags(fs *cli.Flags, args []string) (help bool, err error) {
	return fs.Parse(args)
}
