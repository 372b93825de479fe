// Package telemetry owns what the gateway tells its operators: the JSON
// access log (one slog line per request), request IDs, and the Prometheus
// metrics served on the admin listener. It is the only importer of the
// Prometheus client.
package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewLogger returns a JSON logger writing to w at level.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// NewRequestID returns a fresh request id ("req_" + 24 hex digits).
func NewRequestID() string {
	var b [requestIDLen]byte
	return string(appendRequestID(b[:0]))
}

// requestIDLen is the length of a request id.
const requestIDLen = len("req_") + 24

// appendRequestID appends a fresh request id to b.
func appendRequestID(b []byte) []byte {
	var r [12]byte
	_, _ = rand.Read(r[:])
	return hex.AppendEncode(append(b, "req_"...), r[:])
}

// Info collects what a handler learns about a request (tenant, model,
// channel, tokens) for the access log and metrics. Handlers fill it through
// InfoFrom; only the request's own goroutine writes it.
type Info struct {
	RequestID string
	// TraceID is the W3C trace id of the request's trace, set by tracing
	// when the request is traced; the request log keeps it.
	TraceID string
	Dialect string
	Tenant  string
	KeyID   string
	Model   string
	// ModelKnown reports that Model is a configured name (or alias). Only
	// then does it become a metric label; any other name is counted
	// under "unknown", so clients cannot grow the series.
	ModelKnown bool
	Provider   string
	Route      string
	Stream     bool
	Input      int64
	Output     int64
	Cached     int64
	CostUSD    float64
	ErrorKind  string
	// Skipped lists channels routing passed over for their health
	// ("name:breaker_open"), so an outage is visible per request.
	Skipped string
	// TTFT is a streamed answer's time to first token (zero when not
	// streamed).
	TTFT time.Duration
	// Refusal is set when the gateway refused the request itself:
	// "limit", "budget" or "contract" (see gateway.Refusal).
	Refusal string
	// Status overrides the status seen by the writer (499 for a client
	// that went away mid-stream).
	Status int
	// Summarized marks a request counted elsewhere instead of given an
	// access line: an overload refusal, exact in the admission metrics
	// and summed up in one log line a second, since under overload a
	// line per refusal would cost as much as the refusal itself.
	Summarized bool
	// Door is the front door's own state of the request (its admission),
	// kept here so that the request carries no context of its own for it;
	// telemetry never reads it.
	Door any
}

type infoKey struct{}

// InfoFrom returns the request's Info, or a throwaway one.
func InfoFrom(ctx context.Context) *Info {
	if in, ok := ctx.Value(infoKey{}).(*Info); ok {
		return in
	}
	return &Info{}
}

// WithInfo returns ctx carrying in.
func WithInfo(ctx context.Context, in *Info) context.Context {
	return context.WithValue(ctx, infoKey{}, in)
}

// Metrics are the gateway's Prometheus collectors.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	ttft     *prometheus.HistogramVec
	tpot     *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
	cost     *prometheus.CounterVec
	inflight prometheus.Gauge
	// active counts the requests in the handler, as inflight does, for
	// InFlight.
	active     atomic.Int64
	attempts   *prometheus.CounterVec
	attemptDur *prometheus.HistogramVec
	fallbacks  *prometheus.CounterVec
	refusals   map[string]prometheus.Counter
	ledgerErr  prometheus.Counter
	refused    *prometheus.CounterVec
	// traceID, when tracing is on, reads the sampled trace of a request's
	// context for exemplars.
	traceID func(context.Context) (string, bool)
}

// RefusalKinds are the kinds of switchyard_refusals_total.
var RefusalKinds = []string{"limit", "budget", "overload", "contract"}

// latencyBuckets are the buckets of the request and attempt durations
// and of the time to first token, in seconds.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// NewMetrics registers the gateway's metrics on a fresh registry, with the
// Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_requests_total", Help: "Client requests by dialect, model, channel and status.",
		}, []string{"dialect", "model", "provider", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchyard_request_duration_seconds", Help: "Client request duration.",
			Buckets: latencyBuckets,
		}, []string{"dialect", "model", "provider"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchyard_time_to_first_token_seconds", Help: "Time from a streamed request's arrival to its first token.",
			Buckets: latencyBuckets,
		}, []string{"dialect", "model", "provider"}),
		tpot: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchyard_time_per_output_token_seconds", Help: "Time per output token of a streamed answer after its first.",
			Buckets: []float64{.001, .0025, .005, .01, .02, .04, .06, .08, .1, .25, .5, 1},
		}, []string{"model", "provider"}),
		attemptDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchyard_upstream_attempt_duration_seconds", Help: "Time of each attempt on a channel (a stream's until its end).",
			Buckets: latencyBuckets,
		}, []string{"provider"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_fallbacks_total", Help: "Attempts after which the gateway moved on to the next channel, by channel and reason.",
		}, []string{"provider", "reason"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_tokens_total", Help: "Tokens by model, channel and kind (input, output, cached_input).",
		}, []string{"model", "provider", "kind"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_cost_usd_total", Help: "Cost in USD by model and channel.",
		}, []string{"model", "provider"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_requests_in_flight", Help: "Client requests being served.",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_upstream_attempts_total", Help: "Upstream attempts by channel and outcome.",
		}, []string{"provider", "outcome"}),
		ledgerErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_ledger_write_errors_total", Help: "Failed usage ledger batch writes (retried).",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_connections_refused_total", Help: "Connections reset on accept because the listener was at its connection cap.",
		}, []string{"listener"}),
	}
	refusals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchyard_refusals_total", Help: "Requests the gateway refused itself, by kind: limit (rate or stream limit), budget, overload, contract.",
	}, []string{"kind"})
	// Pre-resolved: a refusal is counted without a label lookup, and
	// every kind is exported from the start.
	m.refusals = make(map[string]prometheus.Counter, len(RefusalKinds))
	for _, k := range RefusalKinds {
		m.refusals[k] = refusals.WithLabelValues(k)
	}
	// Both listeners' series exist from the start, so that a rate over
	// them is 0 rather than absent before the first refusal.
	for _, l := range []string{"client", "admin"} {
		m.refused.WithLabelValues(l)
	}
	m.Registry.MustRegister(m.requests, m.duration, m.ttft, m.tpot, m.tokens, m.cost, m.inflight, m.attempts, m.attemptDur,
		m.fallbacks, refusals, m.ledgerErr, m.refused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// TraceExemplars makes the latency histograms carry the trace id of each
// sampled request as an exemplar (served in the OpenMetrics format);
// traceID reads it from the request's context. Call it before serving.
func (m *Metrics) TraceExemplars(traceID func(context.Context) (string, bool)) { m.traceID = traceID }

// observe adds v to o, with the request's trace as an exemplar when
// tracing is on and the request sampled.
func (m *Metrics) observe(ctx context.Context, o prometheus.Observer, v float64) {
	if m.traceID != nil {
		if id, ok := m.traceID(ctx); ok {
			if eo, ok := o.(prometheus.ExemplarObserver); ok {
				eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": id})
				return
			}
		}
	}
	o.Observe(v)
}

// AttemptEnded records one attempt's time on its channel and, when the
// gateway fell back to the next channel after it, why (a fixed set of
// reasons).
func (m *Metrics) AttemptEnded(channel string, d time.Duration, fallback string) {
	m.attemptDur.WithLabelValues(channel).Observe(d.Seconds())
	if fallback != "" {
		m.fallbacks.WithLabelValues(channel, fallback).Inc()
	}
}

// ChannelState is one channel's health for the metrics.
type ChannelState struct {
	Channel string
	// State is "closed", "half_open" or "open".
	State string
	// ErrorRate is the recent fraction of failed attempts.
	ErrorRate float64
}

// channelCollector reports channel health read at scrape time.
type channelCollector struct {
	source    func() []ChannelState
	state     *prometheus.Desc
	errorRate *prometheus.Desc
}

func (c *channelCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.state
	ch <- c.errorRate
}

func (c *channelCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.source() {
		for _, st := range []string{"closed", "half_open", "open"} {
			v := 0.0
			if s.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, s.Channel, st)
		}
		ch <- prometheus.MustNewConstMetric(c.errorRate, prometheus.GaugeValue, s.ErrorRate, s.Channel)
	}
}

// WatchChannels reports each channel's circuit-breaker state
// (switchyard_channel_state, 1 for the current state) and recent error
// rate, read from source at every scrape.
func (m *Metrics) WatchChannels(source func() []ChannelState) {
	m.Registry.MustRegister(&channelCollector{
		source: source,
		state: prometheus.NewDesc("switchyard_channel_state", "Circuit-breaker state of each channel (1 for the current state).",
			[]string{"provider", "state"}, nil),
		errorRate: prometheus.NewDesc("switchyard_channel_error_rate", "Recent fraction of failed attempts on each channel.",
			[]string{"provider"}, nil),
	})
}

// AdmissionState is the admission controller's state for the metrics.
type AdmissionState struct {
	// Limit is the current in-flight limit; InFlight and Queued count
	// requests holding and waiting for a slot.
	Limit, InFlight, Queued int
	// Parked counts admitted requests waiting on a channel, their slot
	// lent to others.
	Parked int
	// RequestLimit is the cap in force on requests admitted at once,
	// working or parked.
	RequestLimit int
	// Streams counts open streams; MaxStreams is their limit.
	Streams, MaxStreams int
	// Admitted counts requests given a slot since start.
	Admitted uint64
	// Refused counts refusals since start by reason, from a fixed set.
	Refused map[string]uint64
	// Delay is the delay the adaptive limit last judged.
	Delay time.Duration
}

// admissionCollector reports admission control read at scrape time.
type admissionCollector struct {
	source                                       func() AdmissionState
	limit, inFlight, queued, streams, maxStreams *prometheus.Desc
	parked, admitted, refused, delay             *prometheus.Desc
	requestLimit                                 *prometheus.Desc
}

func (c *admissionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.limit, c.inFlight, c.queued, c.streams, c.maxStreams, c.parked, c.admitted, c.refused, c.delay, c.requestLimit} {
		ch <- d
	}
}

func (c *admissionCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.source()
	for _, g := range []struct {
		d *prometheus.Desc
		v int
	}{{c.limit, s.Limit}, {c.inFlight, s.InFlight}, {c.queued, s.Queued}, {c.streams, s.Streams}, {c.maxStreams, s.MaxStreams}, {c.parked, s.Parked}, {c.requestLimit, s.RequestLimit}} {
		ch <- prometheus.MustNewConstMetric(g.d, prometheus.GaugeValue, float64(g.v))
	}
	ch <- prometheus.MustNewConstMetric(c.delay, prometheus.GaugeValue, s.Delay.Seconds())
	ch <- prometheus.MustNewConstMetric(c.admitted, prometheus.CounterValue, float64(s.Admitted))
	for reason, n := range s.Refused {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(n), reason)
	}
}

// WatchAdmission reports admission control (the in-flight limit, requests
// in flight and queued, open streams and their limit, admissions and
// refusals by reason), read from source at every scrape.
func (m *Metrics) WatchAdmission(source func() AdmissionState) {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("switchyard_admission_"+name, help, labels, nil)
	}
	m.Registry.MustRegister(&admissionCollector{
		source:       source,
		limit:        d("limit", "Current limit on requests in flight (adaptive between its floor and ceiling)."),
		inFlight:     d("in_flight", "Requests holding an in-flight slot (open streams do not)."),
		queued:       d("queue_length", "Requests waiting for an in-flight slot."),
		parked:       d("parked", "Requests waiting on a channel, their in-flight slot lent to others."),
		requestLimit: d("requests_limit", "Cap in force on requests admitted at once, working or parked (lower while the CPU is short)."),
		streams:      d("streams", "Open streams."),
		maxStreams:   d("streams_limit", "Limit on open streams."),
		admitted:     d("admitted_total", "Requests given an in-flight slot."),
		refused:      d("refusals_total", "Requests refused as overload (503/529), by reason.", "reason"),
		delay:        d("delay_seconds", "Gateway delay the adaptive limit last judged: the greater of requests' own delay (median) and goroutines' wait for a CPU."),
	})
}

// Handler serves the metrics in the Prometheus text format, or in the
// OpenMetrics format (which carries exemplars) to a scraper that asks for
// it.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Attempt counts one upstream attempt.
func (m *Metrics) Attempt(provider, outcome string) {
	m.attempts.WithLabelValues(provider, outcome).Inc()
}

// ConnectionRefused counts one connection reset at the cap of listener
// ("client" or "admin").
func (m *Metrics) ConnectionRefused(listener string) { m.refused.WithLabelValues(listener).Inc() }

// LedgerError counts one failed ledger write.
func (m *Metrics) LedgerError() { m.ledgerErr.Inc() }

// Middleware assigns a fresh request id (never the client's: the id keys
// the usage ledger, where a reused id would collapse two requests into
// one row), sets it on the response, tracks in-flight requests, and
// writes one access-log line and the request metrics when the handler
// returns. It never logs headers or bodies, so secrets cannot leak here.
func Middleware(log *slog.Logger, m *Metrics, next http.Handler) http.Handler {
	// The handler's frame stays on the goroutine's stack for the whole
	// request (a stream's whole life), below every frame the handler
	// adds: it keeps only what the request needs, and the access line,
	// with its room for attributes, is written by finish, a call of its
	// own. A stack the collector can shrink by half holds less than a
	// quarter of it in use, so the handler's depth decides what an open
	// stream's goroutine keeps.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := begin(w, r, m)
		if m != nil {
			m.inflight.Inc()
			m.active.Add(1)
			defer m.done()
		}
		next.ServeHTTP(&st.sw, r.WithContext(&st.ctx))
		finish(log, m, r, st)
	})
}

// done counts a request out of the handler.
func (m *Metrics) done() {
	m.inflight.Dec()
	m.active.Add(-1)
}

// InFlight is the number of requests in the handler now, streams
// included.
func (m *Metrics) InFlight() int64 { return m.active.Load() }

// begin makes a request's state: a fresh request id, set on the response,
// and the Info the handler fills.
//
//go:noinline
func begin(w http.ResponseWriter, r *http.Request, m *Metrics) *requestState {
	st := &requestState{start: time.Now()}
	var idb [requestIDLen]byte
	id := string(appendRequestID(idb[:0]))
	st.id[0] = id
	w.Header()["X-Request-Id"] = st.id[:]
	info := &st.info
	info.RequestID = id
	st.sw.ResponseWriter = w
	st.ctx = infoContext{Context: r.Context(), info: info}
	if m != nil && m.traceID != nil {
		// The request log keeps the id of each sampled trace, so that
		// a record leads to its trace.
		info.TraceID, _ = m.traceID(r.Context())
	}
	return st
}

// finish writes a request's access-log line and its metrics once its
// handler has returned.
//
//go:noinline
func finish(log *slog.Logger, m *Metrics, r *http.Request, st *requestState) {
	info, id := &st.info, st.id[0]
	status := st.sw.status
	if status == 0 {
		status = http.StatusOK
	}
	if info.Status != 0 {
		status = info.Status
	}
	if info.Summarized {
		if m != nil {
			m.refusals["overload"].Inc()
		}
		return
	}
	elapsed := time.Since(st.start)
	// Room for every attribute below, on the stack.
	var room [20]slog.Attr
	attrs := append(room[:0],
		slog.String("request_id", id),
		slog.String("method", r.Method),
		slog.String("path", truncate(r.URL.Path, maxLoggedPath)),
		slog.Int("status", status),
		slog.Float64("latency_ms", float64(elapsed.Microseconds())/1000),
	)
	if info.Dialect != "" {
		attrs = append(attrs, slog.String("dialect", info.Dialect))
	}
	if info.Tenant != "" {
		attrs = append(attrs, slog.String("tenant", info.Tenant), slog.String("key_id", info.KeyID))
	}
	if info.Model != "" {
		attrs = append(attrs, slog.String("model", truncate(info.Model, maxLoggedModel)), slog.String("provider", info.Provider),
			slog.Bool("stream", info.Stream), slog.Int64("input_tokens", info.Input),
			slog.Int64("output_tokens", info.Output), slog.Int64("cached_input_tokens", info.Cached),
			slog.Float64("cost_usd", info.CostUSD))
	}
	if info.TraceID != "" {
		attrs = append(attrs, slog.String("trace_id", info.TraceID))
	}
	if info.Route != "" {
		attrs = append(attrs, slog.String("route", info.Route))
	}
	if info.Skipped != "" {
		attrs = append(attrs, slog.String("skipped", info.Skipped))
	}
	if info.ErrorKind != "" {
		attrs = append(attrs, slog.String("error", info.ErrorKind))
	}
	// Marked as an access line: a LogWriter may hold it briefly.
	st.access = accessContext{r.Context()}
	log.LogAttrs(&st.access, slog.LevelInfo, "request", attrs...)
	if m != nil && info.Refusal != "" {
		if c := m.refusals[info.Refusal]; c != nil {
			c.Inc()
		}
	}
	if m != nil && info.Model != "" {
		model, dialect := labelUnknown, dialectLabel(info.Dialect)
		if info.ModelKnown {
			model = info.Model
		}
		m.requests.WithLabelValues(dialect, model, info.Provider, statusLabel(status)).Inc()
		m.observe(r.Context(), m.duration.WithLabelValues(dialect, model, info.Provider), elapsed.Seconds())
		if info.TTFT > 0 && info.Provider != "" {
			m.observe(r.Context(), m.ttft.WithLabelValues(dialect, model, info.Provider), info.TTFT.Seconds())
			if info.Output > 1 && elapsed > info.TTFT {
				m.tpot.WithLabelValues(model, info.Provider).Observe((elapsed - info.TTFT).Seconds() / float64(info.Output-1))
			}
		}
		if info.Provider != "" {
			m.tokens.WithLabelValues(model, info.Provider, "input").Add(float64(info.Input))
			m.tokens.WithLabelValues(model, info.Provider, "output").Add(float64(info.Output))
			m.tokens.WithLabelValues(model, info.Provider, "cached_input").Add(float64(info.Cached))
			m.cost.WithLabelValues(model, info.Provider).Add(info.CostUSD)
		}
	}
}

// requestState is what the middleware keeps for one request, in one
// allocation rather than one each: the access-log fields, the status
// writer, the contexts the handler and the access line see, and the
// X-Request-Id value.
type requestState struct {
	start  time.Time
	info   Info
	sw     statusWriter
	ctx    infoContext
	access accessContext
	id     [1]string
}

// infoContext carries a request's Info, as WithInfo does, without an
// allocation of its own.
type infoContext struct {
	context.Context
	info *Info
}

func (c *infoContext) Value(key any) any {
	if _, ok := key.(infoKey); ok {
		return c.info
	}
	return c.Context.Value(key)
}

// accessContext marks the context of an access-log record, as
// context.WithValue(ctx, accessKey{}, true) would.
type accessContext struct{ context.Context }

func (c *accessContext) Value(key any) any {
	if _, ok := key.(accessKey); ok {
		return true
	}
	return c.Context.Value(key)
}

// labelUnknown is the metric label of a client-sent value that is not a
// configured name.
const labelUnknown = "unknown"

// maxLoggedModel and maxLoggedPath bound the client-chosen model name and
// path in an access-log line.
const (
	maxLoggedModel = 256
	maxLoggedPath  = 1024
)

// dialectLabel passes the front doors' own dialect names and folds
// anything else into "unknown".
func dialectLabel(d string) string {
	switch d {
	case "openai", "anthropic", "bedrock", "gemini":
		return d
	}
	return labelUnknown
}

// statusLabel is a status code as a label; codes outside 100-599 are
// "unknown".
func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return labelUnknown
	}
	return itoa(code)
}

// truncate cuts s to at most n bytes, marking the cut with "...", without
// splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func itoa(n int) string {
	var b [8]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 && i > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// statusWriter records the status code; Unwrap lets
// http.ResponseController reach the real writer for Flush.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
