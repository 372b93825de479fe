package app

import (
	"context"
	"encoding/json"
	"errors"

	"switchyard/internal/admin"
	"switchyard/internal/config"
)

// runRoute runs `switchyard route explain`: the routing decision for a
// model, tenant and traffic class, computed from the config file alone
// (every channel healthy), as JSON.
func runRoute(_ context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "explain" {
		return errors.New("usage: switchyard route explain -config F -model M [-tenant T] [-traffic stateless|stateful]")
	}
	fs := newFlags("route explain", env)
	path := fs.String("config", "switchyard.yaml", "config file")
	model := fs.String("model", "", "client-facing model name (required)")
	tenant := fs.String("tenant", "", "tenant name")
	traffic := fs.String("traffic", "stateless", "traffic class: stateless or stateful")
	if help, err := parseFlags(fs, args[1:]); help || err != nil {
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
