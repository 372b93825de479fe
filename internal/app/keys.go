package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"switchyard/internal/auth"
	"switchyard/internal/config"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

func runKeys(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: switchyard keys create|list|revoke -config F [flags]")
	}
	sub, rest := args[0], args[1:]
	fs := newFlags("keys "+sub, env)
	path := fs.String("config", "switchyard.yaml", "config file (the store it names is used directly)")
	tenant := fs.String("tenant", "", "tenant name (create: created if missing; list: filter)")
	name := fs.String("name", "", "a label for the key")
	if help, err := parseFlags(fs, rest); help || err != nil {
		return err
	}
	st, err := openStore(ctx, env, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "create":
		if *tenant == "" {
			return errors.New("keys create: -tenant is required")
		}
		t, err := ensureTenant(ctx, st, *tenant)
		if err != nil {
			return err
		}
		secret, k, err := createKey(ctx, st, t, *name, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "key id:   %s\ntenant:   %s\napi key:  %s\n\nThe key is shown only this once; Switchyard keeps only its hash.\n", k.ID, t.Name, secret)
		return nil
	case "list":
		tenantID := ""
		if *tenant != "" {
			t, err := st.TenantByName(ctx, *tenant)
			if err != nil {
				return fmt.Errorf("tenant %q: %w", *tenant, err)
			}
			tenantID = t.ID
		}
		keys, err := st.ListKeys(ctx, tenantID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTENANT\tPREFIX\tNAME\tCREATED\tSTATUS")
		for _, k := range keys {
			status := "active"
			if k.RevokedAt != nil {
				status = "revoked " + k.RevokedAt.UTC().Format(time.RFC3339)
			} else if k.ExpiresAt != nil && k.ExpiresAt.Before(time.Now()) {
				status = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\t%s\n", k.ID, k.TenantID, k.Prefix, k.Name, k.CreatedAt.UTC().Format(time.RFC3339), status)
		}
		return tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			return errors.New("usage: switchyard keys revoke -config F KEY_ID_OR_KEY")
		}
		id := fs.Arg(0)
		if strings.HasPrefix(id, "sk-sy-") {
			k, err := st.KeyByHash(ctx, auth.HashKey(id))
			if err != nil {
				return fmt.Errorf("finding key: %w", err)
			}
			id = k.ID
		}
		if err := st.RevokeKey(ctx, id, time.Now()); err != nil {
			return fmt.Errorf("revoking %s: %w", id, err)
		}
		fmt.Fprintf(env.Stdout, "revoked %s\n", id)
		return nil
	}
	return fmt.Errorf("unknown keys subcommand %q (want create, list or revoke)", sub)
}

func openStore(ctx context.Context, env *Env, path string) (*sqlstore.Store, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	dsn := cfg.Store.DSN
	if cfg.Store.DSNEnv != "" {
		dsn = env.Getenv(cfg.Store.DSNEnv)
	}
	return sqlstore.Open(ctx, cfg.Store.Driver, dsn)
}

// tenantStore is what key bootstrapping needs from the store.
type tenantStore interface {
	TenantByName(ctx context.Context, name string) (*store.Tenant, error)
	CreateTenant(ctx context.Context, t *store.Tenant) error
	CreateKey(ctx context.Context, k *store.Key) error
	KeyByHash(ctx context.Context, hash []byte) (*store.Key, error)
}

func ensureTenant(ctx context.Context, st tenantStore, name string) (*store.Tenant, error) {
	t, err := st.TenantByName(ctx, name)
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	t = &store.Tenant{Name: name}
	if err := st.CreateTenant(ctx, t); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return st.TenantByName(ctx, name)
		}
		return nil, err
	}
	return t, nil
}

// createKey stores a new key for t; secret may fix the key (the demo's
// -key), otherwise a random one is made.
func createKey(ctx context.Context, st tenantStore, t *store.Tenant, name, secret string) (string, *store.Key, error) {
	var hash []byte
	var prefix string
	if secret == "" {
		var err error
		if secret, hash, prefix, err = auth.NewKey(); err != nil {
			return "", nil, err
		}
	} else {
		hash, prefix = auth.HashKey(secret), secret[:min(len(secret), 10)]
	}
	k := &store.Key{TenantID: t.ID, Name: name, Hash: hash, Prefix: prefix, CreatedAt: time.Now()}
	if err := st.CreateKey(ctx, k); err != nil {
		return "", nil, fmt.Errorf("creating key: %w", err)
	}
	return secret, k, nil
}

// ensureDemoKey makes the demo tenant and its key (reusing a fixed key
// that a kept data directory already holds).
func ensureDemoKey(ctx context.Context, inst *Instance, fixed string) (string, error) {
	st := inst.Store()
	t, err := ensureTenant(ctx, st, "demo")
	if err != nil {
		return "", err
	}
	if fixed != "" {
		if k, err := st.KeyByHash(ctx, auth.HashKey(fixed)); err == nil && k.RevokedAt == nil {
			return fixed, nil
		}
	}
	secret, _, err := createKey(ctx, st, t, "demo", fixed)
	return secret, err
}
