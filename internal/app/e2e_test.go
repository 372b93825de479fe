package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"switchyard/internal/admin"
	"switchyard/internal/config"
	"switchyard/internal/fakecloud"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
	"switchyard/internal/syncbuf"
)

type testGateway struct {
	inst  *Instance
	key   string
	euKey string
	logs  *syncbuf.Buffer
	cloud *fakecloud.Server
	base  string // http://addr
	// stop shuts the gateway down (once; cleanup does it otherwise).
	stop func()
}

// startGateway runs a whole gateway in-process against a simulated cloud.
// The YAML may use FAKECLOUD for the cloud's address and DIR for a
// temporary directory.
func startGateway(t *testing.T, yaml string) *testGateway {
	t.Helper()
	return startGatewayCloud(t, yaml, fakecloud.Options{Seed: 1})
}

// startGatewayCloud is startGateway with the simulated cloud's options.
func startGatewayCloud(t *testing.T, yaml string, co fakecloud.Options) *testGateway {
	t.Helper()
	cloud, cloudLn, err := fakecloud.Listen("127.0.0.1:0", co)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cloudLn.Close() })
	dir := t.TempDir()
	yaml = strings.NewReplacer("FAKECLOUD", "http://"+cloudLn.Addr().String(), "DIR", dir).Replace(yaml)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	env := &Env{Getenv: func(k string) string {
		switch k {
		case "SIM_KEY":
			return fakecloud.DefaultKey
		case "SIM_AWS_ID":
			return fakecloud.DefaultAWSAccessKeyID
		case "SIM_AWS_SECRET":
			return fakecloud.DefaultAWSSecretAccessKey
		case "SIM_OTLP_HEADERS":
			return "Authorization=Bearer otlp-token"
		}
		return ""
	}, Stdout: io.Discard, Stderr: logs}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := Start(context.Background(), cfg, env, StartOptions{Listener: ln, AdminListener: adminLn})
	if err != nil {
		t.Fatal(err)
	}
	shut := sync.OnceFunc(func() {
		if err := inst.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	t.Cleanup(shut)
	iss, err := inst.admin.IssueKey(context.Background(), admin.KeySpec{Tenant: "acme", CreateTenant: true, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return &testGateway{inst: inst, key: iss.Secret, logs: logs, cloud: cloud, base: "http://" + inst.Addr(), stop: shut}
}

func (g *testGateway) client(opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(g.base + "/v1"), option.WithAPIKey(g.key), option.WithMaxRetries(0),
	}, opts...)...)
}

const twoCloudConfig = `
listen: 127.0.0.1:0
store: {driver: sqlite, dsn: DIR/test.db}
providers:
  - {name: azure-sim, type: azure, base_url: FAKECLOUD/azure, api_key_env: SIM_KEY, region: eastus}
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY}
models:
  - name: gpt-4o-mini
    aliases: [mini]
    offerings:
      - {provider: azure-sim, upstream_model: mini-deployment, price: {input_per_mtok: 1, output_per_mtok: 2}}
      - {provider: openai-sim, upstream_model: gpt-4o-mini, price: {input_per_mtok: 1, output_per_mtok: 2}}
  - name: text-embedding-3-small
    offerings:
      - {provider: openai-sim, price: {input_per_mtok: 0.02}}
`

func TestE2E_OpenAIChat(t *testing.T) {
	g := startGateway(t, twoCloudConfig)
	c := g.client()
	var raw *http.Response
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("Hello gateway")},
	}, option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Choices[0].Message.Content, "Hello gateway") {
		t.Errorf("content %q does not echo the prompt", resp.Choices[0].Message.Content)
	}
	if resp.Model != "gpt-4o-mini" || resp.Usage.PromptTokens == 0 || resp.Usage.CompletionTokens == 0 {
		t.Errorf("model %q usage %+v", resp.Model, resp.Usage)
	}
	for h, want := range map[string]string{"X-Switchyard-Provider": "azure-sim", "X-Switchyard-Model": "gpt-4o-mini"} {
		if got := raw.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if raw.Header.Get("X-Request-Id") == "" || !strings.Contains(raw.Header.Get("X-Switchyard-Route"), "strategy=priority") {
		t.Errorf("headers %v", raw.Header)
	}
	recs := g.cloud.Records()
	if len(recs) != 1 || recs[0].Cloud != "azure" || recs[0].Model != "mini-deployment" {
		t.Errorf("upstream records %+v", recs)
	}
}

func TestE2E_OpenAIStream(t *testing.T) {
	g := startGateway(t, twoCloudConfig)
	c := g.client()
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "mini",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream this please")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if chunks < 3 || !strings.Contains(acc.Choices[0].Message.Content, "stream this please") {
		t.Errorf("%d chunks, content %q", chunks, acc.Choices[0].Message.Content)
	}
	if acc.Usage.TotalTokens == 0 || acc.Choices[0].FinishReason != "stop" {
		t.Errorf("usage %+v finish %q", acc.Usage, acc.Choices[0].FinishReason)
	}
}

func weatherTool() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("Current weather for a city"),
		Parameters: shared.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"city": map[string]any{"type": "string"}, "unit": map[string]any{"type": "string", "enum": []string{"c", "f"}}},
			"required":   []string{"city", "unit"},
		},
	})
}

func TestE2E_OpenAITools(t *testing.T) {
	g := startGateway(t, twoCloudConfig)
	c := g.client()
	params := openai.ChatCompletionNewParams{
		Model:      "gpt-4o-mini",
		Messages:   []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What's the weather in Paris? Call get_weather.")},
		Tools:      []openai.ChatCompletionToolUnionParam{weatherTool()},
		ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")},
	}
	resp, err := c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].Function.Name != "get_weather" {
		t.Fatalf("tool calls %+v", calls)
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(calls[0].Function.Arguments), &args); err != nil || args["city"] == nil || args["unit"] == nil {
		t.Errorf("arguments %q do not satisfy the schema (%v)", calls[0].Function.Arguments, err)
	}
	if resp.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("finish %q", resp.Choices[0].FinishReason)
	}

	// Streamed, the same call arrives in fragments that accumulate.
	stream := c.Chat.Completions.NewStreaming(context.Background(), params)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	scalls := acc.Choices[0].Message.ToolCalls
	if len(scalls) != 1 || scalls[0].Function.Name != "get_weather" || !json.Valid([]byte(scalls[0].Function.Arguments)) {
		t.Fatalf("streamed tool calls %+v", scalls)
	}

	// The result goes back and the model answers in text that saw it.
	params.Messages = append(params.Messages, resp.Choices[0].Message.ToParam(),
		openai.ToolMessage(`{"temperature":21}`, calls[0].ID))
	params.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("auto")}
	final, err := c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(final.Choices[0].Message.Content, "21") {
		t.Errorf("final answer %q does not reflect the tool result", final.Choices[0].Message.Content)
	}
}

func TestE2E_Embeddings(t *testing.T) {
	g := startGateway(t, twoCloudConfig)
	c := g.client()
	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
		t.Run(string(format), func(t *testing.T) {
			resp, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
				Model:          "text-embedding-3-small",
				Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha", "beta"}},
				EncodingFormat: format,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Data) != 2 || len(resp.Data[0].Embedding) == 0 || resp.Usage.PromptTokens == 0 {
				t.Fatalf("response %+v", resp)
			}
		})
	}
}

func TestE2E_Models(t *testing.T) {
	g := startGateway(t, twoCloudConfig)
	c := g.client()
	page, err := c.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "gpt-4o-mini,text-embedding-3-small" {
		t.Errorf("models %v", ids)
	}
	m, err := c.Models.Get(context.Background(), "mini")
	if err != nil || m.ID != "mini" {
		t.Errorf("get alias: %+v %v", m, err)
	}
	_, err = c.Models.Get(context.Background(), "nope")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("unknown model: %v", err)
	}
}

func TestE2E_Errors(t *testing.T) {
	g := startGateway(t, twoCloudConfig)
	ctx := context.Background()
	chat := func(c openai.Client, model string) error {
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		return err
	}
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"bad_key", chat(g.client(option.WithAPIKey("sk-sy-wrong")), "gpt-4o-mini"), 401, "invalid_api_key"},
		{"unknown_model", chat(g.client(), "gpt-7"), 404, "model_not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var apiErr *openai.Error
			if !errors.As(tc.err, &apiErr) {
				t.Fatalf("err = %v", tc.err)
			}
			if apiErr.StatusCode != tc.status || apiErr.Code != tc.code {
				t.Errorf("status %d code %q, want %d %q (%s)", apiErr.StatusCode, apiErr.Code, tc.status, tc.code, apiErr.Message)
			}
		})
	}

	raw := func(body string, extra ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, g.base+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+g.key)
		if len(extra) == 2 {
			req.Header.Set(extra[0], extra[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, body string
		status     int
		msg        string
	}{
		{"malformed_json", `{"model":`, 400, "invalid_request_error"},
		{"wrong_type", `{"model":"gpt-4o-mini","messages":"hi"}`, 400, "messages"},
		{"missing_model", `{"messages":[{"role":"user","content":"hi"}]}`, 400, "model"},
		{"bad_role", `{"model":"gpt-4o-mini","messages":[{"role":"wizard","content":"hi"}]}`, 400, "role"},
		{"oversized", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("x", 11<<20) + `"}]}`, 413, "larger than the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := raw(tc.body)
			if status != tc.status || !strings.Contains(body, tc.msg) {
				t.Errorf("status %d body %s, want %d containing %q", status, body, tc.status, tc.msg)
			}
			var shape struct {
				Error struct {
					Message, Type string
				} `json:"error"`
			}
			if json.Unmarshal([]byte(body), &shape) != nil || shape.Error.Message == "" || shape.Error.Type == "" {
				t.Errorf("not an OpenAI error shape: %s", body)
			}
		})
	}
}

func TestE2E_FallbackAcrossClouds(t *testing.T) {
	g := startGateway(t, twoCloudConfig)
	g.cloud.SetFaults("azure", fakecloud.Faults{FailRate: 1, FailStatus: 503})
	c := g.client()
	var raw *http.Response
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.Header.Get("X-Switchyard-Provider"); got != "openai-sim" || resp.Choices[0].Message.Content == "" {
		t.Errorf("served by %q", got)
	}
	if !strings.Contains(raw.Header.Get("X-Switchyard-Route"), "attempts=azure-sim,openai-sim") {
		t.Errorf("route %q", raw.Header.Get("X-Switchyard-Route"))
	}
	// Streams fall back too, before the first byte.
	g.cloud.SetFaults("azure", fakecloud.Faults{FailRate: 1, FailStatus: 429})
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	n := 0
	for stream.Next() {
		n++
	}
	if stream.Err() != nil || n == 0 {
		t.Errorf("stream after fallback: %d chunks, %v", n, stream.Err())
	}
	// When every channel fails, the client gets the error in its dialect.
	g.cloud.SetFaults("", fakecloud.Faults{FailRate: 1, FailStatus: 500})
	_, err = c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 {
		t.Errorf("all channels failing: %v", err)
	}
}

// TestE2E_LedgerAndShutdown proves that every request, streamed ones
// included, lands in the ledger, that shutdown drains a stream in flight,
// and that no secret reaches the logs.
func TestE2E_LedgerAndShutdown(t *testing.T) {
	g := startGateway(t, twoCloudConfig)
	g.cloud.SetFaults("", fakecloud.Faults{TokensPerSecond: 40})
	c := g.client()
	const n = 6
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(fmt.Sprintf("request %d", i))}})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// A stream still running when shutdown starts completes.
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a slow stream that outlives shutdown's start")}})
	if !stream.Next() {
		t.Fatalf("stream: %v", stream.Err())
	}
	done := make(chan error, 1)
	go func() { done <- g.inst.Shutdown() }()
	var acc openai.ChatCompletionAccumulator
	acc.AddChunk(stream.Current())
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream cut by shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(acc.Choices[0].Message.Content, "outlives") {
		t.Errorf("stream content %q", acc.Choices[0].Message.Content)
	}
	// The ledger was flushed by shutdown: reopen the store and count.
	st := reopenStore(t, g)
	sums, err := st.SumUsage(context.Background(), usageFilterAll(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].Requests != n+1 || sums[0].CostUSD <= 0 {
		t.Errorf("ledger summary %+v, want %d requests with cost", sums, n+1)
	}
	logs := g.logs.String()
	for _, secret := range []string{g.key, fakecloud.DefaultKey} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret %q", secret)
		}
	}
	if !strings.Contains(logs, `"tenant":"acme"`) || !strings.Contains(logs, `"provider":"azure-sim"`) {
		t.Errorf("access log lacks tenant/provider:\n%s", logs)
	}
}

func TestE2E_DemoCommand(t *testing.T) {
	d := startDemo(t, "-key", "sk-sy-demo-fixed-key-for-tests")
	info := d.info
	if info.APIKey != "sk-sy-demo-fixed-key-for-tests" || len(info.Models) == 0 || info.AWSAccessKeyID == "" || info.AWSSecretAccessKey == "" {
		t.Errorf("demo.json %+v", info)
	}
	if !strings.Contains(d.out.String(), "curl -s http://"+info.Listen+"/v1/chat/completions") {
		t.Errorf("no curl line in:\n%s", d.out.String())
	}
	// The printed curl line, as a request.
	status, _, body := d.do(t, http.MethodPost, "http://"+info.Listen+"/v1/chat/completions", info.APIKey,
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello from the demo"}]}`)
	if status != 200 || !strings.Contains(body, "Hello from the demo") {
		t.Errorf("demo request: %d %s", status, body)
	}
	metrics, err := http.Get("http://" + info.AdminListen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	if !strings.Contains(string(mb), `switchyard_requests_total{dialect="openai",model="gpt-4o-mini",provider="azure-eastus",status="200"} 1`) {
		t.Errorf("metrics lack the request:\n%s", mb)
	}
	// The demo's own webhook receiver prints the alert its expiring key
	// raises, its signature checked.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(d.out.String(), "alert  key_expiring") {
		if time.Now().After(deadline) {
			t.Fatalf("no alert printed:\n%s", d.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := d.out.String(); !strings.Contains(out, "key rotate-me (") || !strings.Contains(out, "signature ok") {
		t.Errorf("alert line:\n%s", out)
	}
}

func reopenStore(t *testing.T, g *testGateway) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), g.inst.cfg.Store.Driver, g.inst.cfg.Store.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func usageFilterAll() store.UsageFilter {
	return store.UsageFilter{Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour)}
}
