package app

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"switchyard/internal/config"
)

// TestUpstreamPoolKeepsAdmittedCalls: as many calls to one channel as
// admission control admits at once (max_requests) open their connections
// once; the next as many reuse them all, instead of dialling again past
// the transport's default idle pool (256 per host) and closing what the
// pool cannot keep. With admission control off the pool is left as it is.
func TestUpstreamPoolKeepsAdmittedCalls(t *testing.T) {
	const calls = 300 // past the default pool of 256 per host
	var opened atomic.Int64
	var mu sync.Mutex
	arrived, all := 0, make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every call of a round is answered once all are under way, so
		// that each round has them all on the wire at once.
		mu.Lock()
		if arrived++; arrived == calls {
			close(all)
		}
		wait := all
		mu.Unlock()
		<-wait
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	round := func(c *http.Client) {
		t.Helper()
		mu.Lock()
		arrived, all = 0, make(chan struct{})
		mu.Unlock()
		var wg sync.WaitGroup
		for range calls {
			wg.Go(func() {
				resp, err := c.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		wg.Wait()
	}
	for _, c := range []struct {
		name string
		a    config.Admission
		want int64 // connections opened over two rounds
	}{
		{"admission control on", config.Admission{Mode: "adaptive", MaxRequests: calls}, calls},
		{"admission control off", config.Admission{Mode: "off", MaxRequests: calls}, calls + calls - 256},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := upstreamTransport()
			keepIdleFor(tr, c.a)
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			opened.Store(0)
			round(client)
			round(client)
			if got := opened.Load(); got != c.want {
				t.Errorf("%d connections opened for two rounds of %d calls at once, want %d", got, calls, c.want)
			}
		})
	}
}
