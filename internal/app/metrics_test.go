package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"switchyard/internal/admin"
	"switchyard/internal/fakecloud"
	"switchyard/internal/store"
)

// TestMetrics_DashboardAndRulesOnLiveGateway runs traffic through a whole
// gateway (answers, a stream, a fallback) and then checks that every
// metric the shipped Grafana dashboard and alerting rules name is on its
// /metrics, and that with tracing on the latency histograms carry trace
// ids as exemplars in the OpenMetrics format.
func TestMetrics_DashboardAndRulesOnLiveGateway(t *testing.T) {
	rc := &otlpReceiver{}
	yaml := tracedConfig + `
contracts:
  - name: openai-commitment
    commitment: {provider: openai-sim, amount_usd: 1000, period: month}
`
	g := startTracedYAML(t, rc, "http/protobuf", yaml)
	ctx := context.Background()
	c := g.client()
	for _, model := range []string{"gpt-4o-mini", "claude-sonnet-4"} {
		if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("count me")}}); err != nil {
			t.Fatal(err)
		}
	}
	s := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream me a few words please")}})
	for s.Next() {
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	g.cloud.SetFaults("openai", fakecloud.Faults{FailRate: 1, FailStatus: 503})
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "fallback-chat",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("fall back")}}); err != nil {
		t.Fatal(err)
	}

	// A budgeted tenant, checked: switchyard_budget_used_ratio.
	budget, day := 100.0, store.PeriodDay
	if _, err := g.inst.admin.UpdateTenant(ctx, "acme", admin.TenantUpdate{LimitsUpdate: admin.LimitsUpdate{BudgetUSD: &budget, BudgetPeriod: &day}}); err != nil {
		t.Fatal(err)
	}
	g.inst.checker.check(ctx, time.Now())

	req, _ := http.NewRequest(http.MethodGet, g.inst.AdminURL()+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/openmetrics-text") {
		t.Fatalf("content type %q, want OpenMetrics", resp.Header.Get("Content-Type"))
	}
	scraped := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		scraped[name] = true
	}
	metricRE := regexp.MustCompile(`\b(?:switchyard|process|go)_[a-z_]+\b`)
	named := map[string]string{}
	dash, err := os.ReadFile("../../deploy/grafana/switchyard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, n := range metricRE.FindAllString(tg.Expr, -1) {
				named[n] = "the dashboard"
			}
		}
	}
	rules, err := os.ReadFile("../../deploy/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rules), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, n := range metricRE.FindAllString(line, -1) {
			named[n] = "the alerting rules"
		}
	}
	if len(named) < 10 {
		t.Fatalf("only %d metrics named in the dashboard and rules", len(named))
	}
	for n, where := range named {
		if !scraped[n] {
			t.Errorf("%s names %s, which the gateway's /metrics does not serve after traffic", where, n)
		}
	}
	// Exemplars: a sampled request's trace id on its latency bucket.
	exemplar := regexp.MustCompile(`switchyard_request_duration_seconds_bucket\{[^}]*\} \d+ # \{trace_id="[0-9a-f]{32}"\}`)
	if !exemplar.Match(body) {
		t.Error("no trace exemplar on switchyard_request_duration_seconds")
	}
	for _, want := range []string{`switchyard_fallbacks_total{provider="openai-sim",reason="overloaded"} 1`,
		`switchyard_dependency_up{dependency="store"} 1`, `switchyard_commitment_pace_ratio{contract="openai-commitment",provider="openai-sim"}`,
		`switchyard_refusals_total{kind="budget"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
