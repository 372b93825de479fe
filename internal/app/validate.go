package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"

	"switchyard/internal/config"
)

// runValidate checks a config file the way serve would start from it:
// the file itself (every error with its YAML path), every environment
// variable and file it names, every channel built by the code serve uses, the
// router, and SWITCHYARD_MASTER_KEY. It opens no store (validate has no
// side effects) and listens nowhere except the loopback ports of fake
// channels' simulated clouds, closed before it returns.
func runValidate(env *Env, args []string) error {
	fs := newFlags("validate", env)
	path := fs.String("config", "switchyard.yaml", "config file")
	envWarn := fs.Bool("env-warn", false, "this is not the environment serve runs in (e.g. CI): report unset environment variables and unreadable files as warnings, not errors")
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
// empty and the files it names that cannot be read (secret files also when
// empty or too large); errs everything else. Channels are built with a
// stand-in value for each unset variable and unreadable secret file, so
// that their other problems show too.
func checkStartable(ctx context.Context, cfg *config.Config, getenv func(string) string) (unset, errs []error) {
	missing := map[string]bool{}
	for _, r := range settingRefs(cfg, "_env") {
		if getenv(r.name) == "" {
			missing[r.name] = true
			unset = append(unset, fmt.Errorf("%s: environment variable %s is not set", r.path, r.name))
		}
	}
	badFiles := map[string]bool{}
	for _, r := range settingRefs(cfg, "_file") {
		var err error
		if r.secret {
			_, err = readSecretFile(r.name)
		} else {
			err = checkReadable(r.name)
		}
		if err != nil {
			badFiles[r.path] = true
			unset = append(unset, fmt.Errorf("%s: %s: %w", r.path, r.name, err))
		}
	}
	withStandIns := func(k string) string {
		if missing[k] || k == standInEnv {
			return "unset-" + k
		}
		return getenv(k)
	}
	hc := &http.Client{Transport: upstreamTransport()}
	defer hc.CloseIdleConnections()
	for i, pc := range cfg.Providers {
		standInFiles(&pc, fmt.Sprintf("providers[%d]", i), badFiles)
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
	// An alert endpoint whose settings all resolve must make sense: an
	// http(s) URL and, for the standard format, a whsec_ secret.
	for i, e := range cfg.Alerts.Endpoints {
		at := fmt.Sprintf("alerts.endpoints[%d]", i)
		if missing[e.URLEnv] || missing[e.SecretEnv] || badFiles[at+".url_file"] || badFiles[at+".secret_file"] {
			continue
		}
		if _, err := alertEndpoint(at, e, getenv); err != nil {
			errs = append(errs, err)
		}
	}
	return unset, errs
}

// standInEnv is the variable a channel reads in place of a secret file
// that validate found unreadable.
const standInEnv = "SWITCHYARD_VALIDATE_STAND_IN"

// standInFiles points each secret file setting of pc that badFiles lists
// (by YAML path under at) at the stand-in variable instead.
func standInFiles(pc *config.Provider, at string, badFiles map[string]bool) {
	v := reflect.ValueOf(pc).Elem()
	t := v.Type()
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if !strings.HasSuffix(key, "_file") || !badFiles[at+"."+key] {
			continue
		}
		if env, ok := fieldByKey(v, strings.TrimSuffix(key, "_file")+"_env"); ok {
			v.Field(i).SetString("")
			env.SetString(standInEnv)
		}
	}
}

// fieldByKey is the string field of struct v whose YAML key is key.
func fieldByKey(v reflect.Value, key string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k == key && t.Field(i).Type.Kind() == reflect.String {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// checkReadable reports a file that serve could not open.
func checkReadable(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return pathErr(err)
	}
	return f.Close()
}

// settingRef is one setting whose key ends in a suffix (_env or _file):
// its YAML path and its value, the variable or file it names. secret marks
// a _file setting that is the file form of an _env one.
type settingRef struct {
	path, name string
	secret     bool
}

// settingRefs lists every environment variable (suffix "_env") or file
// (suffix "_file") cfg names, by the YAML path of the field, except where
// serve does not read it: the admin token and TLS files when the admin
// listener is off, the Redis URL when the limits backend is not redis,
// and the credentials of fake channels, which use the simulated cloud's.
func settingRefs(cfg *config.Config, suffix string) []settingRef {
	var out []settingRef
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
				if f.Type.Kind() == reflect.String && strings.HasSuffix(key, suffix) {
					if name := v.Field(i).String(); name != "" {
						_, secret := fieldByKey(v, strings.TrimSuffix(key, "_file")+"_env")
						out = append(out, settingRef{p, name, suffix == "_file" && secret})
					}
					continue
				}
				walk(v.Field(i), p)
			}
		}
	}
	c := *cfg
	if c.Admin.Listen == "off" {
		c.Admin = config.Admin{}
	}
	if c.Limits.Backend != "redis" {
		c.Limits.RedisURLEnv, c.Limits.RedisURLFile = "", ""
	}
	walk(reflect.ValueOf(&c).Elem(), "")
	return out
}
