package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"switchyard/internal/route"
	"switchyard/internal/store"
)

// The admin API's channel list, breaker reset and model list read and act
// on the router the gateway is serving with.
func TestAdminChannelsAndModels(t *testing.T) {
	g := startGateway(t, twoCloudConfig)
	ctx := context.Background()
	router := g.inst.reload.gw.Router
	for range 20 {
		router().Observe("azure-sim", route.Outcome{Retryable: true})
	}
	state := func(name string) string {
		t.Helper()
		cs, err := channelStatus(router)(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Name == name {
				return c.State
			}
		}
		t.Fatalf("no channel %q in %+v", name, cs)
		return ""
	}
	if got := state("azure-sim"); got != route.StateOpen {
		t.Fatalf("azure-sim after 20 failures: %q, want open", got)
	}
	if err := resetChannel(router)(ctx, "azure-sim"); err != nil {
		t.Fatal(err)
	}
	if got := state("azure-sim"); got != route.StateClosed {
		t.Errorf("azure-sim after reset: %q, want closed", got)
	}
	if err := resetChannel(router)(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("reset of an unknown channel: %v, want ErrNotFound", err)
	}
	ms, err := modelList(router)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "gpt-4o-mini" || ms[0].Strategy != route.StrategyPriority || ms[0].MaxAttempts != 2 ||
		len(ms[0].Offerings) != 2 || ms[0].Offerings[0].Provider != "azure-sim" || ms[0].Offerings[0].OutputPerMTok != 2 {
		t.Errorf("models = %+v", ms)
	}
}

// The console is on the admin listener: / sends to /ui/, which asks for a
// sign-in; and the running configuration it shows has no secret.
func TestConsoleOnAdminListener(t *testing.T) {
	g := startGateway(t, strings.Replace(twoCloudConfig, "api_key_env: SIM_KEY, region: eastus}",
		"api_key_env: SIM_KEY, region: eastus, headers: {X-Team: hunter2-header}}", 1))
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, to := range map[string]string{"/": "/ui/", "/ui/": "/ui/signin"} {
		resp, err := c.Get("http://" + g.inst.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || loc != to {
			t.Errorf("GET %s = %d to %q, want a redirect to %s", path, resp.StatusCode, loc, to)
		}
	}
	y, err := g.inst.runningConfig()
	if err != nil {
		t.Fatal(err)
	}
	if s := string(y); strings.Contains(s, "hunter2") || !strings.Contains(s, "SIM_KEY") || !strings.Contains(s, "X-Team: REDACTED") {
		t.Errorf("running configuration:\n%s", s)
	}
}
