package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"switchyard/internal/config"
)

// runValidate checks a config file the way serve would start from it:
// the file itself (every error with its YAML path), every environment
// variable it names, every channel built by the code serve uses, the
// router, and SWITCHYARD_MASTER_KEY. It opens no store (validate has no
// side effects) and listens nowhere except the loopback ports of fake
// channels' simulated clouds, closed before it returns.
func runValidate(env *Env, args []string) error {
	fs := newFlags("validate", env)
	path := fs.String("config", "switchyard.yaml", "config file")
	envWarn := fs.Bool("env-warn", false, "this is not the environment serve runs in (e.g. CI): report unset environment variables as warnings, not errors")
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
	unset, errs := checkStartable(context.Background(), cfg, env.Getenv)
	if *envWarn {
		for _, u := range unset {
			fmt.Fprintf(env.Stderr, "warning: %v\n", u)
		}
	} else {
		errs = append(unset, errs...)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s:\n%w", *path, err)
	}
	fmt.Fprintf(env.Stdout, "%s: ok (%d providers, %d models, %d contracts)\n", *path, len(cfg.Providers), len(cfg.Models), len(cfg.Contracts))
	for _, w := range unpricedWarnings(cfg, book) {
		fmt.Fprintln(env.Stdout, "warning:", w)
	}
	return nil
}

// checkStartable reports what would stop serve starting from cfg in this
// environment: unset lists the environment variables cfg names that are
// empty; errs everything else. Channels are built with a stand-in value
// for each unset variable, so that their other problems show too.
func checkStartable(ctx context.Context, cfg *config.Config, getenv func(string) string) (unset, errs []error) {
	missing := map[string]bool{}
	for _, r := range envRefs(cfg) {
		if getenv(r.name) == "" {
			missing[r.name] = true
			unset = append(unset, fmt.Errorf("%s: environment variable %s is not set", r.path, r.name))
		}
	}
	withStandIns := func(k string) string {
		if missing[k] {
			return "unset-" + k
		}
		return getenv(k)
	}
	hc := &http.Client{Transport: upstreamTransport()}
	defer hc.CloseIdleConnections()
	for i, pc := range cfg.Providers {
		_, closeChannel, err := buildChannel(ctx, pc, withStandIns, hc)
		if err != nil {
			errs = append(errs, fmt.Errorf("providers[%d]: %w", i, err))
			continue
		}
		closeChannel()
	}
	if _, err := buildRouter(cfg); err != nil {
		errs = append(errs, fmt.Errorf("models: %w", err))
	}
	if _, err := masterSealer(getenv); err != nil {
		errs = append(errs, err)
	}
	return unset, errs
}

type envRef struct{ path, name string }

// envRefs lists every environment variable cfg names, by the YAML path of
// the field (every field whose key ends in _env), except where serve does
// not read it: the admin token when the admin listener is off, the Redis
// URL when the limits backend is not redis, and the
// credentials of fake channels, which use the simulated cloud's.
func envRefs(cfg *config.Config) []envRef {
	var out []envRef
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), path)
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			}
		case reflect.Struct:
			if p, ok := v.Addr().Interface().(*config.Provider); ok && p.Type == config.TypeFake {
				return
			}
			t := v.Type()
			for i := range t.NumField() {
				f := t.Field(i)
				key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				if !f.IsExported() || key == "-" {
					continue
				}
				p := key
				if path != "" && key != "" {
					p = path + "." + key
				} else if key == "" {
					p = path // inlined
				}
				if f.Type.Kind() == reflect.String && strings.HasSuffix(key, "_env") {
					if name := v.Field(i).String(); name != "" {
						out = append(out, envRef{p, name})
					}
					continue
				}
				walk(v.Field(i), p)
			}
		}
	}
	c := *cfg
	if c.Admin.Listen == "off" {
		c.Admin.TokenEnv = ""
	}
	if c.Limits.Backend != "redis" {
		c.Limits.RedisURLEnv = ""
	}
	walk(reflect.ValueOf(&c).Elem(), "")
	return out
}
