package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// streamCall is a streamed call's request: its URL, body and headers.
type streamCall struct {
	url, body string
	header    http.Header
}

// chatCall is a streamed Chat Completions call.
func chatCall(base, key, model string) streamCall {
	return streamCall{base + "/v1/chat/completions",
		`{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"Say something short about gateways."}]}`,
		http.Header{"Authorization": {"Bearer " + key}}}
}

// openStreams opens n streamed calls, each read until its first event,
// and returns a function that ends them all.
func openStreams(t *testing.T, call streamCall, n int) (closeAll func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	opened := make(chan struct{}, n)
	for range n {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, call.url, strings.NewReader(call.body))
			if err != nil {
				errs <- err
				return
			}
			req.Header = call.header.Clone()
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
				return
			}
			line, err := bufio.NewReader(resp.Body).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "data: ") && !strings.HasPrefix(line, "event: ") {
				errs <- fmt.Errorf("first line %q: %v", line, err)
				return
			}
			opened <- struct{}{}
			<-ctx.Done()
		})
	}
	for range n {
		select {
		case err := <-errs:
			cancel()
			wg.Wait()
			t.Fatal(err)
		case <-opened:
		}
	}
	return func() {
		cancel()
		wg.Wait()
		hc.CloseIdleConnections()
	}
}

// held is the live heap and the goroutine stacks in use, after a
// collection.
func held() (heap, stack int64) {
	// Stacks shrink by half at a collection when they can.
	for range 4 {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc), int64(m.StackInuse)
}

// heldUpstream is an OpenAI-dialect upstream whose streams send their
// first text chunk and then wait until their client goes away.
func heldUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		const chunk = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":%s,"finish_reason":null}]}`
		fmt.Fprintf(w, "data: "+chunk+"\n\n", `{"role":"assistant","content":""}`)
		fmt.Fprintf(w, "data: "+chunk+"\n\n", `{"content":"Hello"}`)
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestStreamMemory measures what the gateway holds per open stream: n
// streams are held open through it, each waiting on the upstream after
// its first text, and the same n straight to the upstream; the difference
// of the live heap and of the goroutine stacks, divided by n, is the
// gateway's share (the client's and the upstream's are in both).
func TestStreamMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens hundreds of connections")
	}
	const n = 300
	up := heldUpstream(t)
	g := startGateway(t, `
listen: 127.0.0.1:0
store: {driver: sqlite, dsn: DIR/test.db}
# The streams open all at once; this measures memory, not admission,
# which on a busy machine would refuse some of them (503/529).
server: {admission: {mode: "off"}}
providers:
  - {name: held, type: openai, base_url: `+up.URL+`/v1, api_key_env: SIM_KEY}
models:
  - name: held-model
    offerings:
      - {provider: held, upstream_model: gpt-4o-mini, price: {input_per_mtok: 1, output_per_mtok: 2}}
`)
	measure := func(t *testing.T, call streamCall) (heap, stack int64) {
		// A warm-up stream first, so that pools and caches filled by the
		// first request are in the baseline.
		openStreams(t, call, 1)()
		h0, s0 := held()
		closeAll := openStreams(t, call, n)
		h1, s1 := held()
		closeAll()
		return (h1 - h0) / n, (s1 - s0) / n
	}
	directHeap, directStack := measure(t, chatCall(up.URL, "k", "gpt-4o-mini"))
	for _, door := range []struct {
		name string
		call streamCall
	}{
		// An OpenAI client of an OpenAI channel: the passthrough.
		{"chat", chatCall(g.base, g.key, "held-model")},
		// An Anthropic client of the same channel: decoded and encoded.
		{"anthropic", streamCall{g.base + "/v1/messages",
			`{"model":"held-model","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"Say something short about gateways."}]}`,
			http.Header{"X-Api-Key": {g.key}, "Anthropic-Version": {"2023-06-01"}}}},
	} {
		t.Run(door.name, func(t *testing.T) {
			viaHeap, viaStack := measure(t, door.call)
			heap, stack := viaHeap-directHeap, viaStack-directStack
			t.Logf("per open stream: direct heap %d stack %d; through the gateway heap %d stack %d; the gateway's share: heap %d B, stacks %d B, total %.1f KiB",
				directHeap, directStack, viaHeap, viaStack, heap, stack, float64(heap+stack)/1024)
			// About 33 KiB of heap, measured 21 to 34 (16 of them
			// net/http's connection buffers: the server's 4 KiB reader,
			// 4 KiB writer and 2 KiB chunk writer, the transport's 4 KiB
			// reader and 2 KiB writer; the rest request state on both
			// sides and the gateway's own, a few hundred bytes each), and
			// 23 to 28 KiB of stacks: four goroutines, the handler's 16
			// KiB (it runs a stream at a depth of about 6 KiB, and a
			// stack shrinks by half only while under a quarter of it is
			// in use), the transport's read and write loops' 4 KiB each
			// and the server's background read's 2 KiB. The bounds catch
			// a buffer allocated at full size per stream, such as a 64
			// KiB scanner buffer, a goroutine added per stream, or a
			// handler deep enough for its stack to stay at 32 KiB.
			if raceEnabled {
				return // the race detector's stacks are larger
			}
			if heap > 38<<10 || stack > 40<<10 || heap+stack > 72<<10 {
				t.Errorf("the gateway holds %d B of heap and %d B of stacks per open stream, want under 38 KiB of heap, 40 KiB of stacks and 72 KiB in all", heap, stack)
			}
		})
	}
}
