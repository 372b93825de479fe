package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// runHealthcheck asks a running gateway whether it is ready and exits
// non-zero when it is not. Container images built from scratch or
// distroless have no shell or curl for a HEALTHCHECK, so the binary checks
// itself.
func runHealthcheck(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("healthcheck", env)
	target := fs.String("url", "http://127.0.0.1:8080/readyz", "URL to GET; a 200 answer is healthy (/readyz: the store answers; /healthz: the process does)")
	timeout := fs.Duration("timeout", 3*time.Second, "deadline for the whole check")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck takes no arguments, got %q", fs.Args())
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url %q: want an http or https URL", *target)
	}
	if *timeout <= 0 {
		return errors.New("-timeout must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	// No proxy from the environment: the check is about this container.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", u.Redacted(), resp.Status, body)
	}
	fmt.Fprintf(env.Stdout, "%s", body)
	return nil
}
