package app

import (
	"context"
	"errors"
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
