package gateway

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"switchyard/internal/provider"
)

// TestResult_Upstream checks that a request's time on channels adds up its
// attempts, failed ones included, and nothing else: admission control
// subtracts it from the request's time to find the gateway's own delay.
func TestResult_Upstream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &fakeProvider{name: "a", errs: []error{pErr(provider.KindOverloaded), pErr(provider.KindOverloaded)}, wait: time.Second}
		b := &fakeProvider{name: "b", wait: 2 * time.Second}
		g, _ := newTestGateway(t, a, b)
		_, res, err := g.Chat(context.Background(), &Call{Model: "m", RequestID: "req1"}, chatReq())
		if err != nil {
			t.Fatal(err)
		}
		if res.Upstream != 3*time.Second {
			t.Errorf("chat: upstream %v, want 3s (a failed after 1s, b answered after 2s)", res.Upstream)
		}
		st, res, err := g.ChatStream(context.Background(), &Call{Model: "m", RequestID: "req2"}, chatReq())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if res.Upstream != 3*time.Second {
			t.Errorf("stream: upstream %v, want 3s until the first event", res.Upstream)
		}
	})
}
