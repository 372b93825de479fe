package api

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/gateway"
	"switchyard/internal/llm"
	"switchyard/internal/overload"
	"switchyard/internal/provider"
	"switchyard/internal/provider/openai"
	"switchyard/internal/ratelimit"
	"switchyard/internal/route"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/telemetry"
	"switchyard/internal/usage"
)

// benchAnswer is a typical non-streamed answer of an OpenAI channel.
const benchAnswer = `{"id":"chatcmpl-bench","object":"chat.completion","created":1733000000,"model":"gpt-4o-mini",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Gateways route requests between clients and the services behind them.","refusal":null,"annotations":[]},` +
	`"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":12,"total_tokens":26,` +
	`"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}},` +
	`"service_tier":"default","system_fingerprint":"fp_bench"}`

// cannedUpstream answers every request with its body without a socket,
// so that a benchmark's allocations are the gateway's alone.
type cannedUpstream struct{ body, contentType string }

func (u cannedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	_ = r.Body.Close()
	return &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, Request: r,
		Header:        http.Header{"Content-Type": {cmp.Or(u.contentType, "application/json")}},
		ContentLength: int64(len(u.body)), Body: io.NopCloser(strings.NewReader(u.body))}, nil
}

type benchLedger struct{}

func (benchLedger) Record(store.UsageRecord) {}

// BenchmarkChatCompletions measures one non-streamed OpenAI request through
// the front door and the gateway to an OpenAI channel (the same-dialect
// fast path), with a key that has request and token limits and a budget,
// metrics, and the access log into a discarded JSON stream. The
// upstream answers in-process, so allocations are the gateway's own; the
// ledger is a no-op (the usage package measures its own writes).
func BenchmarkChatCompletions(b *testing.B) {
	front, secret := newOpenAIFront(b, &http.Client{Transport: cannedUpstream{benchAnswer, ""}}, "http://upstream.invalid/v1",
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
	body := `{"model":"bench-model","messages":[{"role":"user","content":"Say something short about gateways."}]}`
	benchFront(b, front, secret, body)
}

// BenchmarkChatCompletionsStream measures one streamed OpenAI request of
// 50 content chunks through the front door and the gateway, as
// BenchmarkChatCompletions does a plain one.
func BenchmarkChatCompletionsStream(b *testing.B) {
	var sse strings.Builder
	for i := range 50 {
		fmt.Fprintf(&sse, `data: {"id":"chatcmpl-s","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-mini",`+
			`"choices":[{"index":0,"delta":{"content":"word%d "},"logprobs":null,"finish_reason":null}]}`+"\n\n", i)
	}
	sse.WriteString(`data: {"id":"chatcmpl-s","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-mini",` +
		`"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}` + "\n\n")
	sse.WriteString(`data: {"id":"chatcmpl-s","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-mini",` +
		`"choices":[],"usage":{"prompt_tokens":14,"completion_tokens":50,"total_tokens":64}}` + "\n\ndata: [DONE]\n\n")
	front, secret := newOpenAIFront(b, &http.Client{Transport: cannedUpstream{sse.String(), "text/event-stream"}},
		"http://upstream.invalid/v1", slog.New(slog.NewJSONHandler(io.Discard, nil)))
	body := `{"model":"bench-model","stream":true,"messages":[{"role":"user","content":"Say something short about gateways."}]}`
	benchFront(b, front, secret, body)
}

// benchFront sends body to the front door's chat completions endpoint
// once per iteration, with the key's secret, and wants a 200.
func benchFront(b *testing.B, front http.Handler, secret, body string) {
	u, _ := url.Parse("/v1/chat/completions")
	b.ReportAllocs()
	for b.Loop() {
		r := &http.Request{Method: http.MethodPost, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Authorization": {"Bearer " + secret}, "Content-Type": {"application/json"}},
			Body:   io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Host: "gateway.test"}
		w := &discardWriter{h: http.Header{}}
		front.ServeHTTP(w, r)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	}
}

// newOpenAIFront is the front door over a gateway with one OpenAI channel
// at base, serving "bench-model" as gpt-4o-mini, and a key with request
// and token limits and a budget, whose secret it returns.
func newOpenAIFront(tb testing.TB, hc *http.Client, base string, log *slog.Logger) (http.Handler, string) {
	return newBenchFront(tb, openai.New(openai.Options{Name: "oa", BaseURL: base, APIKey: "k", HTTPClient: hc}),
		"openai", "gpt-4o-mini", route.Price{InputPerMTok: 0.15, OutputPerMTok: 0.6}, log)
}

// newBenchFront is the front door over a gateway whose one channel, ch of
// type typ, serves "bench-model" as upstream at price, and a key with
// request and token limits and a budget, whose secret it returns.
func newBenchFront(tb testing.TB, ch provider.Provider, typ, upstream string, price route.Price, log *slog.Logger) (http.Handler, string) {
	tb.Helper()
	st := sqlstore.OpenTestStore(tb, sqlstore.DriverSQLite)
	reg := provider.NewRegistry()
	_ = reg.Add(ch)
	cat, err := route.NewCatalog([]route.Model{{Name: "bench-model", Offerings: []route.Offering{
		{Provider: ch.Name(), ProviderType: typ, UpstreamModel: upstream, Price: price}}}})
	if err != nil {
		tb.Fatal(err)
	}
	router, err := route.New(route.Options{Catalog: cat})
	if err != nil {
		tb.Fatal(err)
	}
	gw := gateway.New(gateway.Options{
		Runtime: gateway.Runtime{Router: router, Providers: reg}, Ledger: benchLedger{},
		Cost:    func(u llm.Usage, p route.Price) float64 { return usage.Cost(u, usage.Price(p)) },
		Limiter: ratelimit.NewMemory(), Spend: ratelimit.NewMemorySpend(), SpendSince: st.SpendSince,
	})
	svc := &admin.Service{Store: st}
	iss, err := svc.IssueKey(context.Background(), admin.KeySpec{Tenant: "bench", CreateTenant: true, Name: "bench",
		Limits: admin.Limits{RPM: 1 << 30, TPM: 1 << 30, BudgetUSD: 1e9, BudgetPeriod: "month"}})
	if err != nil {
		tb.Fatal(err)
	}
	return New(Options{Gateway: gw, Auth: auth.NewAuthenticator(st, auth.AuthOptions{}), Logger: log,
		Metrics: telemetry.NewMetrics()}), iss.Secret
}

// discardWriter is a ResponseWriter that keeps only the status, as the
// server's own writer costs the same whatever the gateway does.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	w.WriteHeader(200)
	return len(b), nil
}

// BenchmarkChatCompletionsHTTP measures one non-streamed OpenAI request
// over real sockets end to end: an HTTP client, the front door behind
// net/http's server, the gateway, and the channel's HTTP client to an
// upstream server on loopback that answers benchAnswer. Its allocations
// are everything the request costs in this process, the client's and the
// upstream's included (a fixed share), so a change in the gateway's own
// per-request spending shows here as it does in the deployed server.
func BenchmarkChatCompletionsHTTP(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header()["Content-Type"] = []string{"application/json"}
		_, _ = io.WriteString(w, benchAnswer)
	}))
	b.Cleanup(up.Close)
	front, secret := newOpenAIFront(b, &http.Client{}, up.URL+"/v1", slog.New(slog.NewJSONHandler(io.Discard, nil)))
	srv := httptest.NewServer(front)
	b.Cleanup(srv.Close)
	hc := srv.Client()
	body := `{"model":"bench-model","messages":[{"role":"user","content":"Say something short about gateways."}]}`
	u, _ := url.Parse(srv.URL + "/v1/chat/completions")
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		req := &http.Request{Method: http.MethodPost, URL: u, Host: u.Host,
			Header:        http.Header{"Authorization": {"Bearer " + secret}, "Content-Type": {"application/json"}},
			Body:          io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body))}
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := resp.Body.Read(buf); err != nil {
				break
			}
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkOverloadRefusal measures one request refused by admission
// control, in each dialect, through the whole front door (the access-log
// middleware into a discarded JSON stream, metrics, the edge's checks and
// routing): under overload this is the CPU each refusal takes from the
// requests being served.
func BenchmarkOverloadRefusal(b *testing.B) {
	lim := overload.New(overload.Config{MaxInFlight: 1, Queue: -1}, nil)
	held, err := lim.Acquire(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer held.Release(0)
	front := New(Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: telemetry.NewMetrics(), Admission: lim})
	body := `{"model":"bench-model","messages":[{"role":"user","content":"Say something short about gateways."}]}`
	for _, d := range []struct{ name, path string }{
		{"openai", "/v1/chat/completions"}, {"anthropic", "/v1/messages"}, {"bedrock", "/model/bench-model/converse"},
	} {
		b.Run(d.name, func(b *testing.B) {
			u, _ := url.Parse(d.path)
			b.ReportAllocs()
			for b.Loop() {
				r := &http.Request{Method: http.MethodPost, URL: u, RequestURI: d.path, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
					Header: http.Header{"Authorization": {"Bearer sk-bench"}, "Content-Type": {"application/json"}},
					Body:   io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Host: "gateway.test"}
				w := &discardWriter{h: http.Header{}}
				front.ServeHTTP(w, r)
				if w.code != http.StatusServiceUnavailable && w.code != 529 {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}
