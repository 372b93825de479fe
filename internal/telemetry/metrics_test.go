package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// serveWith runs one request through the middleware whose handler fills
// the request's Info with fill.
func serveWith(m *Metrics, fill func(*Info)) {
	h := Middleware(slog.New(slog.DiscardHandler), m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fill(InfoFrom(r.Context()))
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil))
}

// scrape returns the metrics as a scraper asking for accept gets them.
func scrape(t *testing.T, m *Metrics, accept string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", accept)
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Body)
	return string(b)
}

func TestMetrics_RefusalsStreamsAndFallbacks(t *testing.T) {
	m := NewMetrics()
	serveWith(m, func(in *Info) { in.Refusal = "budget" })
	serveWith(m, func(in *Info) { in.Refusal = "made-up" }) // not a kind: not counted, no series
	serveWith(m, func(in *Info) { in.Summarized = true })
	serveWith(m, func(in *Info) {
		in.Model, in.ModelKnown, in.Provider, in.Dialect = "m", true, "c", "openai"
		in.Stream, in.TTFT, in.Output = true, time.Nanosecond, 11
	})
	m.AttemptEnded("c", 2*time.Second, "timeout")
	m.AttemptEnded("c", time.Second, "")
	out := scrape(t, m, "text/plain")
	for _, want := range []string{
		`switchyard_refusals_total{kind="budget"} 1`, `switchyard_refusals_total{kind="overload"} 1`,
		`switchyard_refusals_total{kind="limit"} 0`, `switchyard_refusals_total{kind="contract"} 0`,
		`switchyard_time_to_first_token_seconds_count{dialect="openai",model="m",provider="c"} 1`,
		`switchyard_time_per_output_token_seconds_count{model="m",provider="c"} 1`,
		`switchyard_upstream_attempt_duration_seconds_count{provider="c"} 2`,
		`switchyard_fallbacks_total{provider="c",reason="timeout"} 1`,
		`switchyard_connections_refused_total{listener="admin"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(out, "made-up") {
		t.Error("an unknown refusal kind became a label")
	}
	if strings.Contains(out, "# {") {
		t.Error("exemplars without tracing")
	}
}

func TestMetrics_TraceExemplars(t *testing.T) {
	m := NewMetrics()
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	m.TraceExemplars(func(ctx context.Context) (string, bool) { return id, true })
	serveWith(m, func(in *Info) { in.Model, in.ModelKnown, in.Provider, in.Dialect = "m", true, "c", "openai" })
	if out := scrape(t, m, "application/openmetrics-text; version=1.0.0"); !strings.Contains(out, `# {trace_id="`+id+`"}`) {
		t.Errorf("no exemplar in the OpenMetrics exposition:\n%s", out)
	}
	m = NewMetrics()
	m.TraceExemplars(func(ctx context.Context) (string, bool) { return "", false }) // not sampled
	serveWith(m, func(in *Info) { in.Model, in.ModelKnown, in.Provider, in.Dialect = "m", true, "c", "openai" })
	if out := scrape(t, m, "application/openmetrics-text; version=1.0.0"); strings.Contains(out, "trace_id") {
		t.Error("an exemplar for a request not sampled")
	}
}

func TestMetrics_StreamsAndBudgets(t *testing.T) {
	m := NewMetrics()
	open := int64(3)
	m.WatchStreams(func() int64 { return open })
	m.WatchBudgets(func() []BudgetState {
		return []BudgetState{{Tenant: "acme", UsedRatio: 0.85}, {Tenant: "globex", UsedRatio: 1.2}}
	})
	out := scrape(t, m, "text/plain")
	for _, want := range []string{
		"switchyard_streams_in_flight 3\n",
		`switchyard_budget_used_ratio{tenant="acme"} 0.85` + "\n",
		`switchyard_budget_used_ratio{tenant="globex"} 1.2` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestMetrics_InFlight: InFlight counts the requests in the handler, a
// refused (summarized) one and one whose handler panics included, and
// each is counted out when its handler returns.
func TestMetrics_InFlight(t *testing.T) {
	m := NewMetrics()
	var during []int64
	serveWith(m, func(*Info) { during = append(during, m.InFlight()) })
	serveWith(m, func(in *Info) {
		during = append(during, m.InFlight())
		serveWith(m, func(*Info) { during = append(during, m.InFlight()) })
	})
	serveWith(m, func(in *Info) { in.Summarized = true; during = append(during, m.InFlight()) })
	func() {
		defer func() { _ = recover() }()
		serveWith(m, func(*Info) { during = append(during, m.InFlight()); panic("handler") })
	}()
	if want := []int64{1, 1, 2, 1, 1}; !slices.Equal(during, want) {
		t.Errorf("in flight during the handlers: %v, want %v", during, want)
	}
	if n := m.InFlight(); n != 0 {
		t.Errorf("in flight after: %d, want 0", n)
	}
	if !strings.Contains(scrape(t, m, "text/plain"), "switchyard_requests_in_flight 0") {
		t.Error("the in-flight gauge is not back to 0")
	}
}
