package app

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/cli"
	"switchyard/internal/config"
)

// NewMasterKeyEnv names the environment variable master-key rotate reads
// the new master key from, unless told otherwise.
const NewMasterKeyEnv = "SWITCHYARD_NEW_MASTER_KEY"

func runMasterKey(ctx context.Context, env *Env, args []string) error {
	return cli.Group(ctx, env.Stdout, env.Stderr, "master-key", "Manage the master key that seals stored secrets.", []cli.Sub{
		{Name: "rotate", Summary: "re-seal every stored secret under a new master key, in one transaction", Run: func(ctx context.Context, args []string) error {
			return runMasterKeyRotate(ctx, env, args)
		}},
	}, args)
}

// runMasterKeyRotate re-seals the store's secrets (the SigV4 secrets of
// client keys, current and in a rotation's grace window) from the old
// master key to the new one. Keys are read from the environment or from
// files, never from flags, which other users of the machine can see.
func runMasterKeyRotate(ctx context.Context, env *Env, args []string) error {
	fs := cli.NewFlags("master-key rotate -config F [flags]",
		"Re-seal every stored secret under a new master key, in one store transaction: it refuses, changing nothing,\n"+
			"when the old key does not open every secret. Then restart every replica with the new key as "+auth.MasterKeyEnv+".\n"+
			"Keys are 32 bytes as 64 hex digits or base64 (make one with: openssl rand -hex 32).",
		env.Stdout, env.Stderr)
	path := fs.String("config", "switchyard.yaml", "config file naming the store")
	oldEnv := fs.String("old-env", auth.MasterKeyEnv, "environment variable holding the current master key")
	oldFile := fs.String("old-file", "", "file holding the current master key (instead of -old-env)")
	newEnv := fs.String("new-env", NewMasterKeyEnv, "environment variable holding the new master key")
	newFile := fs.String("new-file", "", "file holding the new master key (instead of -new-env)")
	if help, err := fs.Parse(args); help || err != nil {
		return err
	}
	oldKey, err := masterKeyFrom(env, "old", *oldEnv, *oldFile)
	if err != nil {
		return err
	}
	newKey, err := masterKeyFrom(env, "new", *newEnv, *newFile)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(oldKey, newKey) == 1 {
		return errors.New("master-key rotate: the new master key is the old one")
	}
	oldS, err := auth.NewSealer(oldKey)
	if err != nil {
		return err
	}
	newS, err := auth.NewSealer(newKey)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	st, err := openConfiguredStore(ctx, cfg, env.Getenv)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := (&admin.Service{Store: st}).RotateMasterKey(ctx, oldS, newS)
	if err != nil {
		return fmt.Errorf("master-key rotate: %w", err)
	}
	fmt.Fprintf(env.Stdout, "re-sealed %d stored secrets under the new master key.\n"+
		"Restart every replica with the new key as %s; until then, replicas on the old key refuse SigV4-signed requests.\n",
		n, auth.MasterKeyEnv)
	return nil
}

// masterKeyFrom reads and parses a master key from a file or an
// environment variable; its errors never include the key.
func masterKeyFrom(env *Env, which, envName, file string) ([]byte, error) {
	if file != "" {
		envName = ""
	}
	v, err := secret(env.Getenv, which+" master key", envName, file)
	if err != nil {
		return nil, err
	}
	if v == "" {
		if file != "" {
			return nil, fmt.Errorf("master-key rotate: the %s master key file %s is empty", which, file)
		}
		return nil, fmt.Errorf("master-key rotate: the %s master key is not set (env %s, or -%s-file)", which, envName, which)
	}
	k, err := auth.ParseMasterKey(v)
	if err != nil {
		return nil, fmt.Errorf("master-key rotate: the %s master key: %w", which, err)
	}
	return k, nil
}
