package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"switchyard/internal/admin"
	"switchyard/internal/auth"
	"switchyard/internal/gateway"
	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/provider/anthropic"
	"switchyard/internal/ratelimit"
	"switchyard/internal/route"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/telemetry"
	"switchyard/internal/usage"
)

// benchAnthropicAnswer is a typical non-streamed answer of an Anthropic
// channel, as fakecloud and the API send it.
const benchAnthropicAnswer = `{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-3-5-haiku-latest",` +
	`"content":[{"type":"text","text":"Gateways route requests between clients and the services behind them."}],` +
	`"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":14,"cache_creation_input_tokens":0,` +
	`"cache_read_input_tokens":0,"output_tokens":12,"service_tier":"standard"}}`

// BenchmarkChatCompletionsTranslated measures one non-streamed OpenAI
// request through the front door and the gateway to an Anthropic channel:
// the translated path, through the canonical model both ways, with the
// key, limits, metrics and access log of BenchmarkChatCompletions.
func BenchmarkChatCompletionsTranslated(b *testing.B) {
	front, secret := newAnthropicFront(b, &http.Client{Transport: cannedUpstream{benchAnthropicAnswer, ""}}, "http://upstream.invalid",
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
	body := `{"model":"bench-model","messages":[{"role":"user","content":"Say something short about gateways."}]}`
	benchFront(b, front, secret, body)
}

// BenchmarkChatCompletionsTranslatedStream measures one streamed OpenAI
// request of 50 content chunks through the gateway to an Anthropic
// channel, as BenchmarkChatCompletionsTranslated does a plain one.
func BenchmarkChatCompletionsTranslatedStream(b *testing.B) {
	var sse strings.Builder
	sse.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\"," +
		"\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-3-5-haiku-latest\",\"content\":[],\"stop_reason\":null," +
		"\"stop_sequence\":null,\"usage\":{\"input_tokens\":14,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0," +
		"\"output_tokens\":1,\"service_tier\":\"standard\"}}}\n\n")
	sse.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	sse.WriteString("event: ping\ndata: {\"type\":\"ping\"}\n\n")
	for i := range 50 {
		fmt.Fprintf(&sse, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"+
			"\"delta\":{\"type\":\"text_delta\",\"text\":\"word%d \"}}\n\n", i)
	}
	sse.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	sse.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}," +
		"\"usage\":{\"output_tokens\":50}}\n\n")
	sse.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	front, secret := newAnthropicFront(b, &http.Client{Transport: cannedUpstream{sse.String(), "text/event-stream"}},
		"http://upstream.invalid", slog.New(slog.NewJSONHandler(io.Discard, nil)))
	body := `{"model":"bench-model","stream":true,"stream_options":{"include_usage":true},` +
		`"messages":[{"role":"user","content":"Say something short about gateways."}]}`
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

// newAnthropicFront is newOpenAIFront with one Anthropic channel at base,
// serving "bench-model" as claude-3-5-haiku-latest.
func newAnthropicFront(tb testing.TB, hc *http.Client, base string, log *slog.Logger) (http.Handler, string) {
	tb.Helper()
	st := sqlstore.OpenTestStore(tb, sqlstore.DriverSQLite)
	reg := provider.NewRegistry()
	_ = reg.Add(anthropic.New(anthropic.Options{Name: "an", BaseURL: base, APIKey: "k", HTTPClient: hc}))
	price := route.Price{InputPerMTok: 0.8, OutputPerMTok: 4}
	cat, err := route.NewCatalog([]route.Model{{Name: "bench-model", Offerings: []route.Offering{
		{Provider: "an", ProviderType: "anthropic", UpstreamModel: "claude-3-5-haiku-latest", Price: price}}}})
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
