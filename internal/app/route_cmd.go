package app

import (
	"context"
	"encoding/json"
	"errors"

	"switchyard/internal/admin"
	"switchyard/internal/cli"
	"switchyard/internal/config"
)

// runRoute runs `switchyard route explain`: the routing decision for a
// model, tenant and traffic class, computed from the config file alone
// (every channel healthy), as JSON.
func runRoute(ctx context.Context, env *Env, args []string) error {
	return cli.Group(ctx, env.Stdout, env.Stderr, "route", "Explain routing decisions from a config file.", []cli.Sub{
		{Name: "explain", Summary: "the ranked channels for a model, tenant and traffic class, as JSON", Run: func(_ context.Context, args []string) error {
			return runRouteExplain(env, args)
		}},
	}, args)
}

func runRouteExplain(env *Env, args []string) error {
	fs := cli.NewFlags("route explain -model M [flags]", "The routing decision for a model, tenant and traffic class, computed from the config file alone (every channel healthy), as JSON.",
		env.Stdout, env.Stderr)
	path := fs.String("config", "switchyard.yaml", "config file")
	model := fs.String("model", "", "client-facing model name (required)")
	tenant := fs.String("tenant", "", "tenant name")
	traffic := fs.String("traffic", "stateless", "traffic class: stateless or stateful")
	if help, err := fs.Parse(args); help || err != nil {
		return err
	}
	if *model == "" {
		return errors.New("route explain: -model is required")
	}
	if *traffic != "stateless" && *traffic != "stateful" {
		return errors.New("route explain: -traffic must be stateless or stateful")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	r, err := buildRouter(cfg)
	if err != nil {
		return err
	}
	out := explainWith(r, admin.ExplainQuery{Model: *model, Tenant: *tenant, Traffic: *traffic})
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	if out.Error != "" {
		return errors.New(out.Error)
	}
	return nil
}
