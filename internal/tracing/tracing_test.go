package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// newTestTracer records spans in memory instead of exporting them.
func newTestTracer(t *testing.T) (*Tracer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return &Tracer{provider: tp, tracer: tp.Tracer("test"), prop: propagation.TraceContext{}}, exp
}

func TestParseHeaders(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
		bad  bool
	}{
		{in: "", want: map[string]string{}},
		{in: "Authorization=Bearer x", want: map[string]string{"Authorization": "Bearer x"}},
		{in: " a = 1 , b=2=3,", want: map[string]string{"a": "1", "b": "2=3"}},
		{in: "Authorization=Basic%20dXNlcg%3D%3D", want: map[string]string{"Authorization": "Basic dXNlcg=="}},
		{in: "a=%zz", bad: true},
		{in: "novalue", bad: true},
		{in: "=v", bad: true},
	} {
		got, err := ParseHeaders(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: accepted as %v", tc.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
		} else if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.in, diff)
		}
	}
}

// FuzzParseHeaders: any value parses or is refused, and an error never
// repeats the value (it may be a secret).
func FuzzParseHeaders(f *testing.F) {
	for _, s := range []string{"", "a=b", "Authorization=Bearer secret-token", "x", "a=b,,c=d", "=", "k=v=w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHeaders(s)
		if err != nil {
			if len(s) > 3 && strings.Contains(err.Error(), s) {
				t.Fatalf("error %q repeats the value", err)
			}
			return
		}
		for k := range h {
			if k == "" || strings.ContainsAny(k, ",=") {
				t.Fatalf("key %q from %q", k, s)
			}
		}
	})
}

func TestNew_RefusesUnknownProtocol(t *testing.T) {
	if _, err := New(context.Background(), Options{Protocol: "zipkin"}); err == nil || !strings.Contains(err.Error(), "http/protobuf or grpc") {
		t.Errorf("err = %v", err)
	}
	env := map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
	if _, err := New(context.Background(), Options{Getenv: func(k string) string { return env[k] }}); err == nil {
		t.Error("OTEL_EXPORTER_OTLP_PROTOCOL=http/json accepted")
	}
}

func TestMiddleware_ContinuesOrStartsTrace(t *testing.T) {
	tr, exp := newTestTracer(t)
	var seen trace.SpanContext
	h := tr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = trace.SpanContextFromContext(r.Context())
		w.WriteHeader(http.StatusBadGateway)
	}))
	for _, tc := range []struct {
		name, parent string
		continued    bool
	}{
		{"valid", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"malformed", "00-not-a-trace-01", false},
		{"zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"absent", "", false},
	} {
		exp.Reset()
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
		if tc.parent != "" {
			req.Header.Set("Traceparent", tc.parent)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
		spans := exp.GetSpans()
		if len(spans) != 1 {
			t.Fatalf("%s: %d spans", tc.name, len(spans))
		}
		s := spans[0]
		if !seen.IsValid() || seen.SpanID() != s.SpanContext.SpanID() {
			t.Errorf("%s: the handler did not get the server span", tc.name)
		}
		continued := s.Parent.IsValid() && s.Parent.TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736"
		if continued != tc.continued {
			t.Errorf("%s: continued = %v", tc.name, continued)
		}
		if s.SpanKind != trace.SpanKindServer || s.Status.Code.String() != "Error" {
			t.Errorf("%s: kind %v status %v", tc.name, s.SpanKind, s.Status)
		}
	}
}

func TestTransport_SendsTraceWithoutChangingTheRequest(t *testing.T) {
	tr, _ := newTestTracer(t)
	var got []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Traceparent"))
	}))
	defer up.Close()
	c := &http.Client{Transport: tr.Transport(http.DefaultTransport)}
	ctx, span := tr.tracer.Start(context.Background(), "attempt")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	span.End()
	req2, _ := http.NewRequest(http.MethodGet, up.URL, nil)
	if resp, err = c.Do(req2); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	if diff := cmp.Diff([]string{want, ""}, got); diff != "" {
		t.Errorf("traceparent sent (-want +got):\n%s", diff)
	}
	if req.Header.Get("Traceparent") != "" {
		t.Error("the caller's request was changed")
	}
}
