package app

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/auth/bearer"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/genai"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"switchyard/internal/admin"
	"switchyard/internal/fakecloud"
)

// otlpReceiver keeps the spans an OTLP exporter sends it, over HTTP
// (protobuf bodies on /v1/traces) or gRPC (the TraceService).
type otlpReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string
	headers  []string // the authorization header of each export
}

func (rc *otlpReceiver) add(req *coltracepb.ExportTraceServiceRequest, auth string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.headers = append(rc.headers, auth)
	for _, rs := range req.ResourceSpans {
		rc.services = append(rc.services, attrString(rs.GetResource().GetAttributes(), "service.name"))
		for _, ss := range rs.ScopeSpans {
			rc.spans = append(rc.spans, ss.Spans...)
		}
	}
}

func (rc *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "not an OTLP trace export", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.add(&req, r.Header.Get("Authorization"))
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (rc *otlpReceiver) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	rc.add(req, "")
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (rc *otlpReceiver) all() []*tracepb.Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*tracepb.Span(nil), rc.spans...)
}

func attrString(kvs []*commonpb.KeyValue, key string) string {
	if v := attrValue(kvs, key); v != nil {
		return v.GetStringValue()
	}
	return ""
}

func attrValue(kvs []*commonpb.KeyValue, key string) *commonpb.AnyValue {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

// tracedConfig is geminiConfig (a channel of every kind) with tracing on.
const tracedConfig = geminiConfig + `  - name: fallback-chat
    offerings:
      - {provider: openai-sim, upstream_model: gpt-4o-mini}
      - {provider: anthropic-sim, upstream_model: claude-sonnet-4-20250514}
telemetry:
  tracing: {enabled: true, protocol: PROTOCOL, endpoint: COLLECTOR, headers_env: SIM_OTLP_HEADERS}
`

// startTraced runs a gateway exporting its spans to rc over protocol.
func startTraced(t *testing.T, rc *otlpReceiver, protocol string) *testGateway {
	t.Helper()
	return startTracedYAML(t, rc, protocol, tracedConfig)
}

// startTracedYAML is startTraced with a configuration holding PROTOCOL
// and COLLECTOR in its telemetry.tracing block.
func startTracedYAML(t *testing.T, rc *otlpReceiver, protocol, yaml string) *testGateway {
	t.Helper()
	var endpoint string
	switch protocol {
	case "grpc":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		coltracepb.RegisterTraceServiceServer(srv, rc)
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(srv.Stop)
		endpoint = "http://" + ln.Addr().String()
	default:
		srv := httptest.NewServer(rc)
		t.Cleanup(srv.Close)
		endpoint = srv.URL
	}
	yaml = strings.NewReplacer("PROTOCOL", protocol, "COLLECTOR", endpoint).Replace(yaml)
	return startGatewayCloud(t, yaml, fakecloud.Options{Seed: 1})
}

// spanTree indexes exported spans.
type spanTree struct {
	spans []*tracepb.Span
}

func (st spanTree) children(parent *tracepb.Span) []*tracepb.Span {
	var out []*tracepb.Span
	for _, s := range st.spans {
		if bytes.Equal(s.ParentSpanId, parent.SpanId) && bytes.Equal(s.TraceId, parent.TraceId) {
			out = append(out, s)
		}
	}
	return out
}

// server returns the one server span named name of a request in dialect.
func (st spanTree) server(t *testing.T, name, dialect string) *tracepb.Span {
	t.Helper()
	var found []*tracepb.Span
	for _, s := range st.spans {
		if s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.Name == name && attrString(s.Attributes, "switchyard.dialect") == dialect {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		var names []string
		for _, s := range st.spans {
			names = append(names, s.Kind.String()+" "+s.Name)
		}
		t.Fatalf("%d server spans named %q; spans: %v", len(found), name, names)
	}
	return found[0]
}

// checkAttrs compares a span's attributes with want (strings, ints,
// floats above zero when want is ">0", or "set").
func checkAttrs(t *testing.T, s *tracepb.Span, want map[string]any) {
	t.Helper()
	for k, w := range want {
		v := attrValue(s.Attributes, k)
		if v == nil {
			t.Errorf("span %q: no attribute %s", s.Name, k)
			continue
		}
		switch w := w.(type) {
		case string:
			switch w {
			case "set":
			case ">0":
				if v.GetIntValue() <= 0 && v.GetDoubleValue() <= 0 {
					t.Errorf("span %q: %s = %v, want above zero", s.Name, k, v)
				}
			default:
				if v.GetStringValue() != w {
					t.Errorf("span %q: %s = %v, want %q", s.Name, k, v, w)
				}
			}
		case bool:
			if v.GetBoolValue() != w {
				t.Errorf("span %q: %s = %v, want %v", s.Name, k, v, w)
			}
		case int:
			if v.GetIntValue() != int64(w) {
				t.Errorf("span %q: %s = %v, want %d", s.Name, k, v, w)
			}
		case []string:
			var got []string
			for _, e := range v.GetArrayValue().GetValues() {
				got = append(got, e.GetStringValue())
			}
			if strings.Join(got, ",") != strings.Join(w, ",") {
				t.Errorf("span %q: %s = %v, want %v", s.Name, k, got, w)
			}
		}
	}
}

// attemptOf returns the one client span under server, and checks that
// the cloud received its trace context.
func attemptOf(t *testing.T, st spanTree, server *tracepb.Span, cloud *fakecloud.Server) *tracepb.Span {
	t.Helper()
	kids := st.children(server)
	if len(kids) != 1 || kids[0].Kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Fatalf("span %q has %d children, want one client span: %v", server.Name, len(kids), kids)
	}
	want := "00-" + hex.EncodeToString(kids[0].TraceId) + "-" + hex.EncodeToString(kids[0].SpanId) + "-01"
	for _, r := range cloud.Records() {
		if r.Traceparent == want {
			return kids[0]
		}
	}
	t.Errorf("no request reached the cloud with traceparent %s", want)
	return kids[0]
}

func TestTracing_SpansOverOTLPHTTP(t *testing.T) {
	rc := &otlpReceiver{}
	g := startTraced(t, rc, "http/protobuf")
	ctx := context.Background()

	// OpenAI, continuing the client's trace.
	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	oc := g.client(option.WithHeader("traceparent", "00-"+clientTrace+"-"+clientSpan+"-01"), option.WithHeader("tracestate", "vendor=x"))
	temp := 0.5
	if _, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", MaxTokens: openai.Int(64),
		Temperature: openai.Float(temp), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello trace")}}); err != nil {
		t.Fatal(err)
	}
	// The request log's record leads to the trace.
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := g.inst.ledger.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	page, err := g.inst.admin.Requests(ctx, admin.RequestQuery{Model: "gpt-4o-mini", Limit: "10"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(page); !strings.Contains(string(b), `"trace_id":"`+clientTrace+`"`) {
		t.Errorf("the request log does not carry the client's trace id %s: %s", clientTrace, b)
	}
	plain := g.client()
	stream := plain.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gemini-2.5-flash",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream a trace")}})
	for stream.Next() {
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("embed me")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-4o-mini",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("respond")}}); err != nil {
		t.Fatal(err)
	}
	ac := anthropic.NewClient(anthropicoption.WithBaseURL(g.base), anthropicoption.WithAPIKey(g.key), anthropicoption.WithMaxRetries(0))
	if _, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "claude-sonnet-4", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello claude"))}}); err != nil {
		t.Fatal(err)
	}
	// The gateway's key as a Bedrock API key (Bearer), which the SDK
	// sends over https only: the test's client speaks plain HTTP under it.
	plainHTTP := httpDoer(func(r *http.Request) (*http.Response, error) {
		r.URL.Scheme = "http"
		return http.DefaultTransport.RoundTrip(r)
	})
	bc := bedrockruntime.NewFromConfig(aws.Config{Region: "us-east-1", Retryer: func() aws.Retryer { return aws.NopRetryer{} }, HTTPClient: plainHTTP},
		func(o *bedrockruntime.Options) {
			o.BaseEndpoint = aws.String(strings.Replace(g.base, "http://", "https://", 1))
			o.BearerAuthTokenProvider = bearer.StaticTokenProvider{Token: bearer.Token{Value: g.key}}
			o.AuthSchemePreference = []string{"httpBearerAuth"}
		})
	if _, err := bc.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String("nova-pro"),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "hello nova"}}}}}); err != nil {
		t.Fatal(err)
	}
	gc := geminiClient(t, g, g.key)
	if _, err := gc.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("hello gemini"), nil); err != nil {
		t.Fatal(err)
	}

	// Shutdown flushes what the batcher holds.
	g.stop()
	st := spanTree{rc.all()}
	rc.mu.Lock()
	for i, h := range rc.headers {
		if h != "Bearer otlp-token" || rc.services[i] != "switchyard" {
			t.Errorf("export %d: authorization %q, service %q", i, h, rc.services[i])
		}
	}
	rc.mu.Unlock()

	var chat *tracepb.Span
	for _, s := range st.spans {
		if hex.EncodeToString(s.TraceId) == clientTrace && s.Kind == tracepb.Span_SPAN_KIND_SERVER {
			chat = s
		}
	}
	if chat == nil {
		t.Fatal("no server span continues the client's trace")
	}
	if chat.Name != "chat gpt-4o-mini" {
		t.Errorf("server span %q, want chat gpt-4o-mini", chat.Name)
	}
	if hex.EncodeToString(chat.TraceId) != clientTrace || hex.EncodeToString(chat.ParentSpanId) != clientSpan {
		t.Errorf("the client's trace was not continued: trace %x parent %x", chat.TraceId, chat.ParentSpanId)
	}
	if chat.TraceState != "vendor=x" {
		t.Errorf("tracestate %q, want the client's", chat.TraceState)
	}
	checkAttrs(t, chat, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
		"gen_ai.provider.name": "openai", "gen_ai.response.model": "set", "gen_ai.response.id": "set",
		"gen_ai.response.finish_reasons": []string{"stop"}, "gen_ai.usage.input_tokens": ">0", "gen_ai.usage.output_tokens": ">0",
		"gen_ai.request.max_tokens": 64, "gen_ai.request.temperature": ">0",
		"switchyard.tenant": "acme", "switchyard.key_id": "set", "switchyard.route.strategy": "set", "switchyard.cost_usd": ">0",
		"switchyard.channel": "openai-sim", "http.response.status_code": 200, "http.request.method": "POST"})
	att := attemptOf(t, st, chat, g.cloud)
	if att.Name != "chat gpt-4o-mini" {
		t.Errorf("attempt span %q", att.Name)
	}
	checkAttrs(t, att, map[string]any{"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
		"switchyard.channel": "openai-sim", "http.response.status_code": 200})
	for _, s := range st.spans {
		if attrValue(s.Attributes, "gen_ai.input.messages") != nil || attrValue(s.Attributes, "gen_ai.output.messages") != nil {
			t.Errorf("span %q carries message content", s.Name)
		}
	}

	streamed := st.server(t, "chat gemini-2.5-flash", "openai")
	checkAttrs(t, streamed, map[string]any{"gen_ai.request.stream": true, "switchyard.time_to_first_token": ">0",
		"gen_ai.provider.name": "gcp.gemini", "gen_ai.usage.output_tokens": ">0", "gen_ai.response.finish_reasons": []string{"stop"}})
	for _, want := range []struct {
		name, dialect, provider, op string
	}{
		{"embeddings text-embedding-3-small", "openai", "openai", "embeddings"},
		{"chat claude-sonnet-4", "anthropic", "anthropic", "chat"},
		{"chat nova-pro", "bedrock", "aws.bedrock", "chat"},
		{"chat gemini-2.5-flash", "gemini", "gcp.gemini", "chat"},
	} {
		s := st.server(t, want.name, want.dialect)
		checkAttrs(t, s, map[string]any{"gen_ai.operation.name": want.op, "gen_ai.provider.name": want.provider,
			"gen_ai.usage.input_tokens": ">0", "switchyard.tenant": "acme"})
		checkAttrs(t, attemptOf(t, st, s, g.cloud), map[string]any{"gen_ai.provider.name": want.provider})
	}
}

// TestTracing_FallbackOverGRPC exports over gRPC, and proves that a
// fallback shows as two attempt spans under the request's, the first
// failed with the reason the gateway moved on.
func TestTracing_FallbackOverGRPC(t *testing.T) {
	rc := &otlpReceiver{}
	g := startTraced(t, rc, "grpc")
	g.cloud.SetFaults("openai", fakecloud.Faults{FailRate: 1, FailStatus: 429})
	c := g.client()
	if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "fallback-chat",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err == nil {
		t.Fatal("served although its only channel fails")
	}
	g.stop()
	st := spanTree{rc.all()}

	s := st.server(t, "chat fallback-chat", "openai")
	checkAttrs(t, s, map[string]any{"http.response.status_code": 200, "switchyard.attempts": 2, "gen_ai.provider.name": "anthropic"})
	kids := st.children(s)
	slices.SortFunc(kids, func(a, b *tracepb.Span) int { return cmp.Compare(a.StartTimeUnixNano, b.StartTimeUnixNano) })
	if len(kids) != 2 {
		t.Fatalf("%d attempt spans, want 2", len(kids))
	}
	checkAttrs(t, kids[0], map[string]any{"gen_ai.provider.name": "openai", "http.response.status_code": 429,
		"error.type": "rate limited", "switchyard.fallback.reason": "rate_limited"})
	if kids[0].Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("failed attempt's status %v", kids[0].Status)
	}
	checkAttrs(t, kids[1], map[string]any{"gen_ai.provider.name": "anthropic", "http.response.status_code": 200})
	if attrValue(kids[1].Attributes, "switchyard.fallback.reason") != nil {
		t.Error("the attempt that served has a fallback reason")
	}

	failed := st.server(t, "chat gpt-4o-mini", "openai")
	checkAttrs(t, failed, map[string]any{"http.response.status_code": 429, "error.type": "rate limited"})
	if kids := st.children(failed); len(kids) != 1 || attrValue(kids[0].Attributes, "switchyard.fallback.reason") != nil {
		t.Errorf("the last channel's failure: %d attempts, or a fallback named", len(kids))
	}
}
