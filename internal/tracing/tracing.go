// Package tracing owns distributed tracing: the OpenTelemetry SDK and its
// OTLP exporters (HTTP and gRPC), the server span of every client request
// (continuing the client's W3C traceparent), the client span of every
// attempt on a channel (whose traceparent travels on to the channel), and
// the attributes of both per the OpenTelemetry GenAI semantic
// conventions. It is the only importer of the OpenTelemetry SDK.
//
// Tracing is off unless configured. Off, nothing here is built: the front
// door is not wrapped, the channels' transport is not wrapped, and the
// gateway has no tracer, so a request costs what it cost without tracing.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Options configure tracing. Each field left empty is taken from the
// standard OTEL_* environment variables, as the OpenTelemetry SDKs read
// them; a field that is set wins over its variable.
type Options struct {
	// Protocol is "http/protobuf" or "grpc". Empty:
	// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, then OTEL_EXPORTER_OTLP_PROTOCOL,
	// then http/protobuf.
	Protocol string
	// Endpoint is the collector's base URL (http://host:4318 for
	// http/protobuf, to which /v1/traces is added; http://host:4317 for
	// grpc; https for TLS). Empty: the exporter reads
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) or
	// OTEL_EXPORTER_OTLP_ENDPOINT, then its default (localhost).
	Endpoint string
	// SampleRatio, when above zero, samples that fraction of new traces
	// (a client's sampled flag is followed: parent-based). Zero: the SDK
	// reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, by default
	// parentbased_always_on.
	SampleRatio float64
	// Headers are sent with every export (an authorization token, say),
	// replacing OTEL_EXPORTER_OTLP_(TRACES_)HEADERS when not empty.
	Headers map[string]string
	// ServiceVersion is the resource's service.version.
	ServiceVersion string
	// ShutdownTimeout bounds the flush of spans still buffered at
	// shutdown. Default 5s.
	ShutdownTimeout time.Duration
	// Getenv reads the environment (os.Getenv in production).
	Getenv func(string) string
}

// Protocols the exporter speaks.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// ParseHeaders reads "key=value,key2=value2" (the OTEL_EXPORTER_OTLP_HEADERS
// form, values URL-encoded) into a map.
func ParseHeaders(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, errors.New("headers must be key=value pairs separated by commas")
		}
		v, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			// The value may be a secret: only its key is named.
			return nil, fmt.Errorf("header %q: the value is not URL-encoded correctly", k)
		}
		out[k] = v
	}
	return out, nil
}

// Tracer is a running tracing pipeline: a tracer provider exporting over
// OTLP in batches.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	timeout  time.Duration
}

// New starts tracing with o. The exporter connects lazily: a collector
// that is down loses spans, never requests.
func New(ctx context.Context, o Options) (*Tracer, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	protocol := o.Protocol
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if protocol == "" {
			protocol = getenv(v)
		}
	}
	if protocol == "" {
		protocol = ProtocolHTTP
	}
	var exp sdktrace.SpanExporter
	var err error
	switch protocol {
	case ProtocolHTTP:
		var opts []otlptracehttp.Option
		if o.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(strings.TrimSuffix(o.Endpoint, "/")+"/v1/traces"))
		}
		if len(o.Headers) > 0 {
			opts = append(opts, otlptracehttp.WithHeaders(o.Headers))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	case ProtocolGRPC:
		var opts []otlptracegrpc.Option
		if o.Endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(o.Endpoint))
		}
		if len(o.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(o.Headers))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("tracing: protocol must be %s or %s, got %q", ProtocolHTTP, ProtocolGRPC, protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: starting the OTLP exporter: %w", err)
	}
	// Defaults first, then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME,
	// which win.
	attrs := []attribute.KeyValue{semconv.ServiceName("switchyard")}
	if o.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(o.ServiceVersion))
	}
	res, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	popts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}
	if o.SampleRatio > 0 {
		popts = append(popts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SampleRatio))))
	}
	tp := sdktrace.NewTracerProvider(popts...)
	t := &Tracer{provider: tp, tracer: tp.Tracer("switchyard"), prop: propagation.TraceContext{}, timeout: o.ShutdownTimeout}
	if t.timeout <= 0 {
		t.timeout = 5 * time.Second
	}
	return t, nil
}

// Shutdown exports the spans still buffered, within the shutdown timeout,
// and stops the exporter.
func (t *Tracer) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
	defer cancel()
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: flushing spans: %w", err)
	}
	return nil
}

// TraceID returns the id of the sampled trace ctx belongs to, for a
// metric's exemplar; false when there is none.
func TraceID(ctx context.Context) (string, bool) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() {
		return "", false
	}
	return sc.TraceID().String(), true
}

// Middleware starts the server span of every request to next, continuing
// the trace of the client's traceparent and tracestate headers when they
// are valid. The gateway names it and adds the GenAI attributes (see
// gateway.Tracer); the middleware sets the HTTP ones and ends it.
func (t *Tracer) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLPath(truncate(r.URL.Path, maxPath))))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 {
			span.SetStatus(codesError, strconv.Itoa(status))
		}
	})
}

// Transport returns base wrapped to send the trace of each request's
// context on, as traceparent and tracestate headers: every call to a
// channel carries the attempt's span.
func (t *Tracer) Transport(base http.RoundTripper) http.RoundTripper {
	return &transport{base: base, prop: t.prop}
}

type transport struct {
	base http.RoundTripper
	prop propagation.TextMapPropagator
}

func (tr *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(r.Context()).IsValid() {
		return tr.base.RoundTrip(r)
	}
	// A RoundTripper must not change the request it is given.
	r2 := r.Clone(r.Context())
	tr.prop.Inject(r.Context(), propagation.HeaderCarrier(r2.Header))
	return tr.base.RoundTrip(r2)
}

// CloseIdleConnections passes on to the wrapped transport, so that
// http.Client.CloseIdleConnections still reaches it.
func (tr *transport) CloseIdleConnections() {
	if c, ok := tr.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
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

// maxPath bounds the client-chosen path on a span; maxValue any other
// client-chosen value (a model name).
const (
	maxPath  = 1024
	maxValue = 256
)

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
