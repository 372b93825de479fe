package app

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"switchyard/internal/admin"
	"switchyard/internal/config"
	"switchyard/internal/gateway"
	"switchyard/internal/route"
)

// reloader re-reads the configuration file and swaps the gateway's
// runtime (channels, models, contracts) atomically. Requests in flight
// finish on the runtime they started with.
type reloader struct {
	mu      sync.Mutex
	path    string
	cfg     *config.Config
	env     *Env
	inst    *Instance
	gw      *gateway.Gateway
	closers []func() error // of earlier runtimes, closed at shutdown
}

// errNoConfigFile is returned by Reload when the gateway was started from
// a configuration in memory (the demo).
var errNoConfigFile = errors.New("this gateway was not started from a config file")

// Reload validates the file first; an invalid file, or one that changes
// what only a restart can change, is refused with its errors and the
// running configuration stays.
func (rl *reloader) Reload(ctx context.Context) error {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.path == "" {
		return errNoConfigFile
	}
	cfg, err := config.Load(rl.path)
	if err != nil {
		return err
	}
	if err := restartOnly(rl.cfg, cfg); err != nil {
		return err
	}
	router, err := buildRouter(cfg)
	if err != nil {
		return err
	}
	reg, closeProviders, err := buildProviders(ctx, cfg, rl.env.Getenv, rl.inst.log)
	if err != nil {
		return err
	}
	rl.gw.Swap(gateway.Runtime{Router: router, Providers: reg})
	rl.closers = append(rl.closers, closeProviders)
	rl.cfg = cfg
	rl.inst.log.Info("configuration reloaded", "path", rl.path, "providers", len(cfg.Providers), "models", len(cfg.Models),
		"contracts", len(cfg.Contracts))
	return nil
}

// restartOnly refuses changes that a reload cannot apply.
func restartOnly(old, cur *config.Config) error {
	var errs []error
	for _, f := range []struct {
		name     string
		old, cur any
	}{
		{"listen", old.Listen, cur.Listen},
		{"admin", old.Admin, cur.Admin},
		{"store", old.Store, cur.Store},
		{"limits", old.Limits, cur.Limits},
		{"server", old.Server, cur.Server},
	} {
		if !reflect.DeepEqual(f.old, f.cur) {
			errs = append(errs, fmt.Errorf("%s: changed; it takes a restart, not a reload", f.name))
		}
	}
	return errors.Join(errs...)
}

func (rl *reloader) close() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for _, c := range rl.closers {
		_ = c()
	}
	rl.closers = nil
}

// explain answers a routing question against the live router (with its
// channel health).
func explain(gw *gateway.Gateway) func(ctx context.Context, q admin.ExplainQuery) (any, error) {
	return func(ctx context.Context, q admin.ExplainQuery) (any, error) {
		return explainWith(gw.Router(), q), nil
	}
}

// Explanation is what `route explain` and the admin API print.
type Explanation struct {
	Decision *route.Decision `json:"decision,omitempty"`
	// Error is set when the request would be refused, naming the
	// contract(s) that left no channel.
	Error string `json:"error,omitempty"`
}

func explainWith(r *route.Router, q admin.ExplainQuery) Explanation {
	d, err := r.Explain(route.Input{Model: q.Model, Tenant: q.Tenant, Traffic: q.Traffic})
	out := Explanation{Decision: d}
	if err != nil {
		out.Error = err.Error()
	}
	return out
}
