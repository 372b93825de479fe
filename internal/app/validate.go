package app

import (
	"fmt"

	"switchyard/internal/config"
)

func runValidate(env *Env, args []string) error {
	fs := newFlags("validate", env)
	path := fs.String("config", "switchyard.yaml", "config file")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	book, err := priceBook(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: ok (%d providers, %d models, %d contracts)\n", *path, len(cfg.Providers), len(cfg.Models), len(cfg.Contracts))
	for _, w := range unpricedWarnings(cfg, book) {
		fmt.Fprintln(env.Stdout, "warning:", w)
	}
	return nil
}
