package app

import (
	"context"
	"fmt"
	"time"

	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/cli"
	"switchyard/internal/config"
	"switchyard/internal/route"
	"switchyard/internal/store/sqlstore"
)

// cliEnv gives the operator subcommands their backends.
func cliEnv(env *Env) *cli.Env {
	return &cli.Env{Getenv: env.Getenv, Stdout: env.Stdout, Stderr: env.Stderr,
		Direct: func(ctx context.Context, path string) (cli.Backend, error) {
			cfg, err := config.Load(path)
			if err != nil {
				return nil, err
			}
			st, err := openConfiguredStore(ctx, cfg, env.Getenv)
			if err != nil {
				return nil, err
			}
			sealer, err := masterSealer(env.Getenv)
			if err != nil {
				st.Close()
				return nil, err
			}
			router, err := buildRouter(cfg)
			if err != nil {
				st.Close()
				return nil, err
			}
			if err := seedCommitments(ctx, st, router, time.Now()); err != nil {
				st.Close()
				return nil, err
			}
			return &cli.Direct{Service: &admin.Service{Store: st, Sealer: sealer}, Closer: st.Close,
				Report: reports(st, func() *route.Router { return router }), Replay: whatIf(st, nil),
				Export: export(st, func() *config.Config { return cfg })}, nil
		}}
}

func openConfiguredStore(ctx context.Context, cfg *config.Config, getenv func(string) string) (*sqlstore.Store, error) {
	dsn := cfg.Store.DSN
	if cfg.Store.DSNEnv != "" || cfg.Store.DSNFile != "" {
		var err error
		if dsn, err = secret(getenv, "store.dsn", cfg.Store.DSNEnv, cfg.Store.DSNFile); err != nil {
			return nil, err
		}
	}
	st, err := sqlstore.Open(ctx, cfg.Store.Driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	return st, nil
}

// masterSealer reads SWITCHYARD_MASTER_KEY; without it there is no sealer
// and keys get no AWS-style pair.
func masterSealer(getenv func(string) string) (*auth.Sealer, error) {
	mk := getenv("SWITCHYARD_MASTER_KEY")
	if mk == "" {
		return nil, nil
	}
	key, err := auth.ParseMasterKey(mk)
	if err != nil {
		return nil, fmt.Errorf("SWITCHYARD_MASTER_KEY: %w", err)
	}
	return auth.NewSealer(key)
}
