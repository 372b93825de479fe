package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"switchyard/internal/admin"
	"switchyard/internal/config"
	"switchyard/internal/fakecloud"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

const reqlogConfig = `
listen: 127.0.0.1:0
store: {driver: @DRIVER@, dsn: "@DSN@"}
log:
  payloads:
    max_bytes: 400
    never_tenants: [vault]
    rules:
      - {tenant: quiet, sample_rate: 0}
      - {model: "*", sample_rate: 1}
providers:
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY}
  - {name: azure-sim, type: azure, base_url: FAKECLOUD/azure, api_key_env: SIM_KEY}
  - {name: anthropic-sim, type: anthropic, base_url: FAKECLOUD/anthropic, api_key_env: SIM_KEY}
models:
  - name: gpt-4o-mini
    route: {strategy: priority, max_attempts: 2}
    offerings:
      - {provider: openai-sim, upstream_model: gpt-4o-mini, price: {input_per_mtok: 1, output_per_mtok: 2}}
      - {provider: azure-sim, upstream_model: mini, price: {input_per_mtok: 1, output_per_mtok: 2}}
  - name: claude-sonnet-4
    offerings:
      - {provider: anthropic-sim, upstream_model: claude-sonnet-4-20250514, price: {input_per_mtok: 3, output_per_mtok: 15}}
`

// TestRequestLog drives the gateway with the official SDKs over a real
// socket and reads each request back from the admin API: the route and
// every attempt of a fallback made by fault injection, tokens, cost and
// status, a request refused by a rate limit, and payload capture on, off
// (a rule with sample rate 0) and never (a tenant on the never list),
// redacted and cut to the cap.
func TestRequestLog(t *testing.T) {
	for _, driver := range []string{sqlstore.DriverSQLite, sqlstore.DriverPostgres} {
		t.Run(driver, func(t *testing.T) {
			dsn := sqlstore.TestDSN(t, driver)
			g := startGatewayCloud(t, strings.NewReplacer("@DRIVER@", driver, "@DSN@", dsn).Replace(reqlogConfig), fakecloud.Options{Seed: 1})
			ctx := context.Background()
			issue := func(tenant string, rpm int) string {
				iss, err := g.inst.admin.IssueKey(ctx, admin.KeySpec{Tenant: tenant, CreateTenant: true, Limits: admin.Limits{RPM: rpm}})
				if err != nil {
					t.Fatal(err)
				}
				return iss.Secret
			}
			oai := func(key string) openai.Client {
				return openai.NewClient(option.WithBaseURL(g.base+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
			}

			// A fallback: the first channel answers 503.
			g.cloud.SetFaults("openai", fakecloud.Faults{FailRate: 1, FailStatus: 503})
			prompt := "mail jane.doe@example.com, key sk-proj-AbCdEfGhIjKlMnOpQrStUv12. " + strings.Repeat("padding words ", 40)
			var raw *http.Response
			c := oai(g.key)
			resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)}}, option.WithResponseInto(&raw))
			if err != nil {
				t.Fatal(err)
			}
			fallbackID := raw.Header.Get("X-Request-Id")
			g.cloud.SetFaults("openai", fakecloud.Faults{})

			// A stream from the Anthropic SDK, reassembled.
			ac := anthropic.NewClient(anthropicoption.WithBaseURL(g.base), anthropicoption.WithAPIKey(g.key), anthropicoption.WithMaxRetries(0))
			s := ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "claude-sonnet-4", MaxTokens: 100,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("stream to the log, call +14155552671"))}},
				anthropicoption.WithResponseInto(&raw))
			var acc anthropic.Message
			for s.Next() {
				if err := acc.Accumulate(s.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Err(); err != nil || len(acc.Content) == 0 {
				t.Fatalf("stream: %v %+v", err, acc.Content)
			}
			streamID := raw.Header.Get("X-Request-Id")

			// A rate limit refuses the second request of a 1-rpm key.
			limited := oai(issue("acme", 1))
			if _, err := limited.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one")}}); err != nil {
				t.Fatal(err)
			}
			_, err = limited.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("two")}}, option.WithResponseInto(&raw))
			if err == nil || raw.StatusCode != 429 {
				t.Fatalf("second request of a 1-rpm key: %v", err)
			}
			limitedID := raw.Header.Get("X-Request-Id")

			// Capture off by a sample rate of 0, and never for a tenant on
			// the never list, although the catch-all rule matches both.
			ids := map[string]string{}
			for _, tenant := range []string{"quiet", "vault"} {
				c := oai(issue(tenant, 0))
				if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("private")}}, option.WithResponseInto(&raw)); err != nil {
					t.Fatal(err)
				}
				ids[tenant] = raw.Header.Get("X-Request-Id")
			}

			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := g.inst.ledger.Flush(fctx); err != nil {
				t.Fatal(err)
			}
			get := func(id string) admin.RequestRecord {
				t.Helper()
				var rec admin.RequestRecord
				if code := adminGet(t, g, "/admin/v1/requests/"+id, &rec); code != 200 {
					t.Fatalf("GET request %s: %d", id, code)
				}
				return rec
			}

			fb := get(fallbackID)
			if fb.Status != 200 || fb.Channel != "azure-sim" || fb.UpstreamModel != "mini" || fb.Model != "gpt-4o-mini" ||
				fb.Dialect != "openai" || fb.Stream {
				t.Errorf("fallback record: %+v", fb)
			}
			if len(fb.Attempts) != 2 || fb.Attempts[0].Channel != "openai-sim" || fb.Attempts[0].Status != 503 ||
				fb.Attempts[0].Fallback == "" || fb.Attempts[1].Channel != "azure-sim" || fb.Attempts[1].Status != 200 {
				t.Errorf("fallback attempts: %+v", fb.Attempts)
			}
			if fb.Route == nil || fb.Route.Strategy != "priority" || len(fb.Route.Candidates) != 2 {
				t.Errorf("fallback route: %+v", fb.Route)
			}
			if fb.Tokens.Input != resp.Usage.PromptTokens || fb.Tokens.Output != resp.Usage.CompletionTokens || fb.Tokens.Input == 0 {
				t.Errorf("tokens %+v, the client was told %+v", fb.Tokens, resp.Usage)
			}
			wantCost := float64(resp.Usage.PromptTokens)*1e-6 + float64(resp.Usage.CompletionTokens)*2e-6
			if d := fb.CostUSD - wantCost; d > 1e-9 || d < -1e-9 || fb.LatencyMS <= 0 {
				t.Errorf("cost %v (want %v), latency %v", fb.CostUSD, wantCost, fb.LatencyMS)
			}
			p := fb.Payload
			if p == nil || !p.Truncated || len(p.Request) > 400 || p.RequestBytes <= 400 {
				t.Fatalf("fallback payload not cut at 400 bytes: %+v", p)
			}
			if strings.Contains(p.Request, "jane.doe@") || strings.Contains(p.Request, "sk-proj") ||
				!strings.Contains(p.Request, "[REDACTED:email]") || !strings.Contains(p.Request, "[REDACTED:api_key]") {
				t.Errorf("payload not redacted: %s", p.Request)
			}

			st := get(streamID)
			if !st.Stream || st.Status != 200 || st.Channel != "anthropic-sim" || st.Dialect != "anthropic" || st.Tokens.Output == 0 || st.TTFTMS <= 0 {
				t.Errorf("stream record: %+v", st)
			}
			if st.Payload == nil || !strings.Contains(st.Payload.Request, "[REDACTED:phone]") || strings.Contains(st.Payload.Request, "4155552671") {
				t.Errorf("stream payload request: %+v", st.Payload)
			}
			// The simulated model echoes the prompt: the answer is redacted too.
			want := strings.ReplaceAll(acc.Content[0].Text, "+14155552671", "[REDACTED:phone]")
			if st.Payload == nil || st.Payload.Response != truncateTo(want, 400) || !strings.Contains(want, "[REDACTED:phone]") {
				t.Errorf("stream payload response %q, want %q", st.Payload.Response, want)
			}

			lim := get(limitedID)
			if lim.Status != 429 || lim.ErrorKind != "rate limited" || lim.Error == "" || len(lim.Attempts) != 0 || lim.CostUSD != 0 {
				t.Errorf("refused record: %+v", lim)
			}
			for tenant, id := range ids {
				if r := get(id); r.Status != 200 || r.Payload != nil {
					t.Errorf("%s: status %d, payload %+v; want none captured", tenant, r.Status, r.Payload)
				}
			}

			// The listing filters by channel and status.
			var page admin.RequestPage
			if code := adminGet(t, g, "/admin/v1/requests?channel=azure-sim", &page); code != 200 || len(page.Data) != 1 || page.Data[0].ID != fallbackID {
				t.Errorf("channel filter: %d %+v", code, page)
			}
			if code := adminGet(t, g, "/admin/v1/requests?status=429", &page); code != 200 || len(page.Data) != 1 || page.Data[0].ID != limitedID {
				t.Errorf("status filter: %d %+v", code, page)
			}
			if code := adminGet(t, g, "/admin/v1/requests?limit=1000", &page); code != 200 || len(page.Data) != 6 {
				t.Errorf("all requests: %d, %d records, want 6", code, len(page.Data))
			}
			// Payloads never reach the log lines.
			if strings.Contains(g.logs.String(), "padding words") || strings.Contains(g.logs.String(), "stream to the log") {
				t.Error("a payload reached the log")
			}
		})
	}
}

// truncateTo cuts s to at most n bytes, as capture does (whole runes).
func truncateTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// adminGet reads an admin endpoint of g's admin service: the records
// as GET /admin/v1/requests[/{id}] serves them. It returns the status the
// API would answer with.
func adminGet(t *testing.T, g *testGateway, path string, out any) int {
	t.Helper()
	ctx := context.Background()
	var v any
	var err error
	if id, ok := strings.CutPrefix(path, "/admin/v1/requests/"); ok {
		v, err = g.inst.admin.Request(ctx, id)
	} else {
		u, perr := url.Parse(path)
		if perr != nil {
			t.Fatal(perr)
		}
		q := u.Query()
		v, err = g.inst.admin.Requests(ctx, admin.RequestQuery{Channel: q.Get("channel"), Status: q.Get("status"), Limit: q.Get("limit")})
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 404
	case err != nil:
		t.Fatalf("%s: %v", path, err)
	}
	b, _ := json.Marshal(v)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return 200
}

// A reload cannot change the capture policy the front door was built
// with, so it refuses a changed log.payloads rather than ignore it.
func TestRestartOnly_Payloads(t *testing.T) {
	old, cur := config.Default(), config.Default()
	if err := restartOnly(old, cur); err != nil {
		t.Fatalf("unchanged config refused: %v", err)
	}
	cur.Log.Payloads.Rules = []config.PayloadRule{{Tenant: "acme", SampleRate: 1}}
	if err := restartOnly(old, cur); err == nil || !strings.Contains(err.Error(), "log.payloads: changed") {
		t.Errorf("changed log.payloads: %v", err)
	}
}
