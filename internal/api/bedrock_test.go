package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	anthropicbedrock "github.com/anthropics/anthropic-sdk-go/bedrock"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"

	"switchyard/internal/admin"
	"switchyard/internal/fakecloud"
)

const sonnetARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0"

// recordingClient is the AWS SDK's HTTP client, keeping a copy of every
// request body it sends.
type recordingClient struct {
	hc     *http.Client
	mu     sync.Mutex
	bodies [][]byte
	protos []int
}

func (c *recordingClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(b))
		c.mu.Lock()
		c.bodies = append(c.bodies, b)
		c.mu.Unlock()
	}
	resp, err := c.hc.Do(r)
	if err == nil {
		c.mu.Lock()
		c.protos = append(c.protos, resp.ProtoMajor)
		c.mu.Unlock()
	}
	return resp, err
}

func (c *recordingClient) last() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bodies[len(c.bodies)-1]
}

// h2cClient speaks HTTP/2 with prior knowledge over plain TCP, as the
// Bedrock JavaScript SDK does.
func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}

// bedrockClient is aws-sdk-go-v2's Bedrock Runtime client pointed at the
// harness with static credentials and no retries.
func (h *harness) bedrockClient(akid, secret string, hc *http.Client) (*bedrockruntime.Client, *recordingClient) {
	if hc == nil {
		hc = &http.Client{}
	}
	rc := &recordingClient{hc: hc}
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient:  rc,
	}
	return bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(h.URL) }), rc
}

func (h *harness) defaultBedrockClient() *bedrockruntime.Client {
	c, _ := h.bedrockClient(h.key.AWSAccessKeyID, h.key.AWSSecretAccessKey, nil)
	return c
}

func userMessage(text string) types.Message {
	return types.Message{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: text}}}
}

// converseText joins the text blocks of a Converse answer.
func converseText(t *testing.T, out *bedrockruntime.ConverseOutput) string {
	t.Helper()
	msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
	if !ok {
		t.Fatalf("output %#v is not a message", out.Output)
	}
	var b strings.Builder
	for _, c := range msg.Value.Content {
		if tb, ok := c.(*types.ContentBlockMemberText); ok {
			b.WriteString(tb.Value)
		}
	}
	return b.String()
}

// apiErrorOf returns the AWS error code and HTTP status of err.
func apiErrorOf(t *testing.T, err error) (code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an AWS API error", err, err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

func TestBedrock_Converse(t *testing.T) {
	h := newHarness(t)
	c := h.defaultBedrockClient()
	for _, tc := range []struct {
		name, modelID   string
		cloud, upstream string
	}{
		{"catalog_name", sonnet, "anthropic", upAnthropic},
		{"alias_with_colon", sonnetAlias, "anthropic", upAnthropic},
		{"inference_profile_arn", sonnetARN, "anthropic", upAnthropic},
		{"bedrock_channel", "via-bedrock", "bedrock", upBedrock},
		{"openai_channel", "via-openai", "openai", upOpenAI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.Converse(context.Background(), &bedrockruntime.ConverseInput{
				ModelId:         aws.String(tc.modelID),
				System:          []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "Be brief."}},
				Messages:        []types.Message{userMessage("Hello Bedrock front door")},
				InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(200), Temperature: aws.Float32(0.2)},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := converseText(t, out); !strings.HasPrefix(got, "Echo: Hello Bedrock front door") {
				t.Errorf("text %q does not echo the prompt", got)
			}
			if out.StopReason != types.StopReasonEndTurn {
				t.Errorf("stop reason %q", out.StopReason)
			}
			if u := out.Usage; u == nil || aws.ToInt32(u.InputTokens) == 0 || aws.ToInt32(u.OutputTokens) == 0 ||
				aws.ToInt32(u.TotalTokens) != aws.ToInt32(u.InputTokens)+aws.ToInt32(u.OutputTokens) {
				t.Errorf("usage %+v", u)
			}
			if out.Metrics == nil || out.Metrics.LatencyMs == nil || *out.Metrics.LatencyMs < 0 {
				t.Errorf("metrics %+v", out.Metrics)
			}
			// AWS request ids are UUIDs; the gateway's carries the digits of
			// its own request id.
			if id, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); !awsRequestIDForm.MatchString(id) {
				t.Errorf("request id %q, want the UUID form", id)
			}
			recs := h.records(t, 1)
			if len(recs) == 1 && (recs[0].Cloud != tc.cloud || recs[0].Model != tc.upstream) {
				t.Errorf("upstream got %s %s, want %s %s", recs[0].Cloud, recs[0].Model, tc.cloud, tc.upstream)
			}
		})
	}
}

// The same dialect on both sides: the client's bytes reach Bedrock as sent.
func TestBedrock_ConverseFastPath(t *testing.T) {
	h := newHarness(t)
	c, rc := h.bedrockClient(h.key.AWSAccessKeyID, h.key.AWSSecretAccessKey, nil)
	_, err := c.Converse(context.Background(), &bedrockruntime.ConverseInput{
		ModelId:  aws.String("via-bedrock"),
		Messages: []types.Message{userMessage("forward me untouched")},
		// Fields the canonical model does not carry ride along.
		AdditionalModelResponseFieldPaths: []string{"/stop_sequence"},
		RequestMetadata:                   map[string]string{"team": "search"},
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := h.records(t, 1)
	if len(recs) == 1 && !bytes.Equal(recs[0].Body, rc.last()) {
		t.Errorf("upstream body\n%s\ndiffers from the client's\n%s", recs[0].Body, rc.last())
	}
}

// converseStream runs ConverseStream and reassembles the answer from the
// events, checking their order.
type streamedAnswer struct {
	role       types.ConversationRole
	text       string
	tools      map[int32]*types.ToolUseBlockStart
	toolInput  map[int32]string
	stop       types.StopReason
	usage      *types.TokenUsage
	latency    *int64
	eventOrder []string
	// emptyTexts counts text deltas without text, which Bedrock never sends.
	emptyTexts int
}

func collectConverseStream(t *testing.T, out *bedrockruntime.ConverseStreamOutput) (*streamedAnswer, error) {
	t.Helper()
	stream := out.GetStream()
	defer stream.Close()
	a := &streamedAnswer{tools: map[int32]*types.ToolUseBlockStart{}, toolInput: map[int32]string{}}
	for ev := range stream.Events() {
		switch v := ev.(type) {
		case *types.ConverseStreamOutputMemberMessageStart:
			a.role = v.Value.Role
			a.eventOrder = append(a.eventOrder, "messageStart")
		case *types.ConverseStreamOutputMemberContentBlockStart:
			if tu, ok := v.Value.Start.(*types.ContentBlockStartMemberToolUse); ok {
				a.tools[aws.ToInt32(v.Value.ContentBlockIndex)] = &tu.Value
			}
			a.eventOrder = append(a.eventOrder, "contentBlockStart")
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			switch d := v.Value.Delta.(type) {
			case *types.ContentBlockDeltaMemberText:
				a.text += d.Value
				if d.Value == "" {
					a.emptyTexts++
				}
			case *types.ContentBlockDeltaMemberToolUse:
				a.toolInput[aws.ToInt32(v.Value.ContentBlockIndex)] += aws.ToString(d.Value.Input)
			}
			a.eventOrder = append(a.eventOrder, "contentBlockDelta")
		case *types.ConverseStreamOutputMemberContentBlockStop:
			a.eventOrder = append(a.eventOrder, "contentBlockStop")
		case *types.ConverseStreamOutputMemberMessageStop:
			a.stop = v.Value.StopReason
			a.eventOrder = append(a.eventOrder, "messageStop")
		case *types.ConverseStreamOutputMemberMetadata:
			a.usage = v.Value.Usage
			if v.Value.Metrics != nil {
				a.latency = v.Value.Metrics.LatencyMs
			}
			a.eventOrder = append(a.eventOrder, "metadata")
		default:
			t.Errorf("unexpected event %T", ev)
		}
	}
	return a, stream.Err()
}

// compactOrder collapses runs of one event name, so the order can be
// compared whatever the number of deltas.
func compactOrder(names []string) []string {
	var out []string
	for _, n := range names {
		if len(out) == 0 || out[len(out)-1] != n {
			out = append(out, n)
		}
	}
	return out
}

func TestBedrock_ConverseStream(t *testing.T) {
	h := newHarness(t)
	c := h.defaultBedrockClient()
	for _, model := range []string{sonnetAlias, "via-bedrock", "via-gemini", "via-anthropic", "via-openai"} {
		t.Run(model, func(t *testing.T) {
			out, err := c.ConverseStream(context.Background(), &bedrockruntime.ConverseStreamInput{
				ModelId:  aws.String(model),
				Messages: []types.Message{userMessage("stream this answer please")},
			})
			if err != nil {
				t.Fatal(err)
			}
			a, err := collectConverseStream(t, out)
			if err != nil {
				t.Fatal(err)
			}
			if a.role != types.ConversationRoleAssistant || !strings.HasPrefix(a.text, "Echo: stream this answer please") {
				t.Errorf("role %q text %q", a.role, a.text)
			}
			want := []string{"messageStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"}
			if diff := cmp.Diff(want, compactOrder(a.eventOrder)); diff != "" {
				t.Errorf("event order (-want +got):\n%s", diff)
			}
			if a.stop != types.StopReasonEndTurn || a.usage == nil || aws.ToInt32(a.usage.InputTokens) == 0 || aws.ToInt32(a.usage.OutputTokens) == 0 {
				t.Errorf("stop %q usage %+v", a.stop, a.usage)
			}
			if a.latency == nil {
				t.Error("metadata has no latencyMs")
			}
			if a.emptyTexts > 0 {
				t.Errorf("%d empty text deltas", a.emptyTexts)
			}
			h.records(t, 1)
		})
	}
}

func weatherToolConfig() *types.ToolConfiguration {
	schema := map[string]any{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}, "unit": map[string]any{"type": "string", "enum": []string{"c", "f"}}},
		"required":   []string{"city", "unit"},
	}
	return &types.ToolConfiguration{Tools: []types.Tool{&types.ToolMemberToolSpec{Value: types.ToolSpecification{
		Name:        aws.String("get_weather"),
		Description: aws.String("Current weather in a city"),
		InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(schema)},
	}}}}
}

// Tool use both ways: the model calls a tool, the client sends the result
// back, and the model answers with it; plain and streamed, on a Bedrock
// channel and on an OpenAI one.
func TestBedrock_ConverseTools(t *testing.T) {
	h := newHarness(t)
	c := h.defaultBedrockClient()
	for _, model := range []string{"via-bedrock", "via-openai", "via-anthropic"} {
		t.Run(model, func(t *testing.T) {
			ctx := context.Background()
			msgs := []types.Message{userMessage("What's the weather in Paris? Call get_weather.")}
			out, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: msgs, ToolConfig: weatherToolConfig()})
			if err != nil {
				t.Fatal(err)
			}
			if out.StopReason != types.StopReasonToolUse {
				t.Errorf("stop reason %q", out.StopReason)
			}
			msg := out.Output.(*types.ConverseOutputMemberMessage).Value
			var call *types.ToolUseBlock
			for _, b := range msg.Content {
				if tu, ok := b.(*types.ContentBlockMemberToolUse); ok {
					call = &tu.Value
				}
			}
			if call == nil || aws.ToString(call.Name) != "get_weather" || aws.ToString(call.ToolUseId) == "" {
				t.Fatalf("no get_weather call in %#v", msg.Content)
			}
			var args map[string]any
			if err := call.Input.UnmarshalSmithyDocument(&args); err != nil || args["city"] == nil || args["unit"] == nil {
				t.Errorf("arguments %v do not satisfy the schema (%v)", args, err)
			}

			// Streamed, the call arrives as a started block and input fragments.
			sout, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(model), Messages: msgs, ToolConfig: weatherToolConfig()})
			if err != nil {
				t.Fatal(err)
			}
			a, err := collectConverseStream(t, sout)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.tools) != 1 || a.stop != types.StopReasonToolUse {
				t.Fatalf("streamed tools %v stop %q", a.tools, a.stop)
			}
			for i, start := range a.tools {
				if aws.ToString(start.Name) != "get_weather" || !json.Valid([]byte(a.toolInput[i])) {
					t.Errorf("streamed call %s input %q", aws.ToString(start.Name), a.toolInput[i])
				}
			}

			msgs = append(msgs, msg, types.Message{Role: types.ConversationRoleUser, Content: []types.ContentBlock{
				&types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{
					ToolUseId: call.ToolUseId,
					Content:   []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberJson{Value: document.NewLazyDocument(map[string]any{"temperature": 21})}},
					Status:    types.ToolResultStatusSuccess,
				}},
			}})
			final, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: msgs, ToolConfig: weatherToolConfig()})
			if err != nil {
				t.Fatal(err)
			}
			if got := converseText(t, final); !strings.Contains(got, "get_weather") || !strings.Contains(got, "21") {
				t.Errorf("final answer %q does not reflect the tool result", got)
			}
			h.records(t, 3)
		})
	}
}

// anthropicInvokeBody is an InvokeModel body for an Anthropic model.
func anthropicInvokeBody(t *testing.T, text string, extra map[string]any) []byte {
	t.Helper()
	m := map[string]any{
		"anthropic_version": "bedrock-2023-05-31",
		"max_tokens":        200,
		"system":            "Be brief.",
		"messages":          []any{map[string]any{"role": "user", "content": text}},
	}
	for k, v := range extra {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBedrock_InvokeModel(t *testing.T) {
	h := newHarness(t)
	c := h.defaultBedrockClient()
	for _, tc := range []struct{ model, cloud string }{{sonnetAlias, "anthropic"}, {"via-bedrock", "bedrock"}, {"via-azure", "azure"}} {
		t.Run(tc.model, func(t *testing.T) {
			out, err := c.InvokeModel(context.Background(), &bedrockruntime.InvokeModelInput{
				ModelId:     aws.String(tc.model),
				ContentType: aws.String("application/json"),
				Accept:      aws.String("application/json"),
				Body:        anthropicInvokeBody(t, "Hello through invoke", nil),
			})
			if err != nil {
				t.Fatal(err)
			}
			var msg anthropicsdk.Message
			if err := json.Unmarshal(out.Body, &msg); err != nil {
				t.Fatalf("body %s: %v", out.Body, err)
			}
			if len(msg.Content) == 0 || !strings.HasPrefix(msg.Content[0].Text, "Echo: Hello through invoke") {
				t.Errorf("content %+v", msg.Content)
			}
			if msg.Type != "message" || msg.Role != "assistant" || msg.StopReason != anthropicsdk.StopReasonEndTurn ||
				msg.Usage.InputTokens == 0 || msg.Usage.OutputTokens == 0 {
				t.Errorf("message %s", out.Body)
			}
			raw := awsmiddleware.GetRawResponse(out.ResultMetadata)
			if hr, ok := raw.(*smithyhttp.Response); ok {
				for _, name := range []string{"X-Amzn-Bedrock-Input-Token-Count", "X-Amzn-Bedrock-Output-Token-Count", "X-Amzn-Bedrock-Invocation-Latency"} {
					if hr.Header.Get(name) == "" {
						t.Errorf("no %s header", name)
					}
				}
			} else {
				t.Errorf("raw response %T", raw)
			}
			recs := h.records(t, 1)
			if len(recs) == 1 && recs[0].Cloud != tc.cloud {
				t.Errorf("served by %s, want %s", recs[0].Cloud, tc.cloud)
			}
		})
	}
}

// Through an Anthropic channel, the Messages body goes up as the client
// wrote it, minus anthropic_version, with the upstream model set.
func TestBedrock_InvokeModelFastPath(t *testing.T) {
	h := newHarness(t)
	c := h.defaultBedrockClient()
	_, err := c.InvokeModel(context.Background(), &bedrockruntime.InvokeModelInput{
		ModelId: aws.String("via-anthropic"),
		Body:    anthropicInvokeBody(t, "fast", map[string]any{"service_tier": "auto"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := h.records(t, 1)
	if len(recs) != 1 {
		return
	}
	var got map[string]any
	if err := json.Unmarshal(recs[0].Body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"model": upAnthropic, "max_tokens": 200.0, "system": "Be brief.", "service_tier": "auto",
		"messages": []any{map[string]any{"role": "user", "content": "fast"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("upstream body (-want +got):\n%s", diff)
	}
}

func TestBedrock_InvokeModelWithResponseStream(t *testing.T) {
	h := newHarness(t)
	c := h.defaultBedrockClient()
	for _, model := range []string{sonnetAlias, "via-gemini"} {
		t.Run(model, func(t *testing.T) {
			out, err := c.InvokeModelWithResponseStream(context.Background(), &bedrockruntime.InvokeModelWithResponseStreamInput{
				ModelId: aws.String(model),
				Body:    anthropicInvokeBody(t, "Stream through invoke", nil),
			})
			if err != nil {
				t.Fatal(err)
			}
			stream := out.GetStream()
			defer stream.Close()
			var msg anthropicsdk.Message
			var events []string
			var metrics map[string]any
			for ev := range stream.Events() {
				chunk, ok := ev.(*types.ResponseStreamMemberChunk)
				if !ok {
					t.Fatalf("event %T", ev)
				}
				var se anthropicsdk.MessageStreamEventUnion
				if err := json.Unmarshal(chunk.Value.Bytes, &se); err != nil {
					t.Fatalf("chunk %s: %v", chunk.Value.Bytes, err)
				}
				if err := msg.Accumulate(se); err != nil {
					t.Fatalf("accumulating %s: %v", chunk.Value.Bytes, err)
				}
				events = append(events, se.Type)
				if se.Type == "message_stop" {
					var stop struct {
						Metrics map[string]any `json:"amazon-bedrock-invocationMetrics"`
					}
					_ = json.Unmarshal(chunk.Value.Bytes, &stop)
					metrics = stop.Metrics
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			want := []string{"message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
			if diff := cmp.Diff(want, compactOrder(events)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if len(msg.Content) != 1 || !strings.HasPrefix(msg.Content[0].Text, "Echo: Stream through invoke") || msg.StopReason != anthropicsdk.StopReasonEndTurn {
				t.Errorf("accumulated %+v", msg)
			}
			if msg.Usage.OutputTokens == 0 {
				t.Errorf("usage %+v", msg.Usage)
			}
			for _, k := range []string{"inputTokenCount", "outputTokenCount", "invocationLatency", "firstByteLatency"} {
				if _, ok := metrics[k]; !ok {
					t.Errorf("invocation metrics %v lack %s", metrics, k)
				}
			}
			if n, _ := metrics["outputTokenCount"].(float64); int64(n) != msg.Usage.OutputTokens {
				t.Errorf("metrics output %v, usage %d", metrics["outputTokenCount"], msg.Usage.OutputTokens)
			}
			h.records(t, 1)
		})
	}
}

func TestBedrock_CountTokens(t *testing.T) {
	h := newHarness(t)
	c := h.defaultBedrockClient()
	short, err := c.CountTokens(context.Background(), &bedrockruntime.CountTokensInput{
		ModelId: aws.String(sonnetAlias),
		Input:   &types.CountTokensInputMemberConverse{Value: types.ConverseTokensRequest{Messages: []types.Message{userMessage("hi")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	long, err := c.CountTokens(context.Background(), &bedrockruntime.CountTokensInput{
		ModelId: aws.String(sonnetAlias),
		Input:   &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: anthropicInvokeBody(t, strings.Repeat("many words here ", 50), nil)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if s, l := aws.ToInt32(short.InputTokens), aws.ToInt32(long.InputTokens); s <= 0 || l <= s {
		t.Errorf("short %d long %d", s, l)
	}
	// sonnet's first channel, Anthropic's, counts both inputs.
	for _, rec := range h.records(t, 2) {
		if rec.Cloud != "anthropic" || !strings.HasSuffix(rec.Path, "/count_tokens") {
			t.Errorf("count went to %s %s", rec.Cloud, rec.Path)
		}
	}
}

func TestBedrock_Auth(t *testing.T) {
	h := newHarness(t)
	revoked := h.issue(t, admin.KeySpec{Tenant: "acme", Name: "revoked"})
	if _, err := h.admin.RevokeKey(context.Background(), revoked.Key.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		akid, secret string
		code         string
	}{
		{"wrong_secret", h.key.AWSAccessKeyID, h.key.AWSSecretAccessKey + "x", "InvalidSignatureException"},
		{"unknown_key", "AKIAUNKNOWNUNKNOWN00", "whatever", "UnrecognizedClientException"},
		{"revoked_key", revoked.AWSAccessKeyID, revoked.AWSSecretAccessKey, "UnrecognizedClientException"},
		{"gateway_secret_as_aws_secret", h.key.AWSAccessKeyID, h.key.Secret, "InvalidSignatureException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := h.bedrockClient(tc.akid, tc.secret, nil)
			_, err := c.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet), Messages: []types.Message{userMessage("hi")}})
			if err == nil {
				t.Fatal("accepted")
			}
			if code, status := apiErrorOf(t, err); code != tc.code || status != http.StatusForbidden {
				t.Errorf("got %s %d, want %s 403 (%v)", code, status, tc.code, err)
			}
		})
	}
	h.records(t, 0)
}

// bedrockHTTP sends a raw request to the front door.
func (h *harness) bedrockHTTP(t *testing.T, hc *http.Client, path string, header http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	maps := header.Clone()
	if maps == nil {
		maps = http.Header{}
	}
	req.Header = maps
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func bearerHeader(key string) http.Header {
	return http.Header{"Authorization": {"Bearer " + key}}
}

// A Bedrock API key is the gateway key as a bearer token. The Go SDK
// refuses bearer auth over plain HTTP; the JavaScript SDK does not.
func TestBedrock_BearerAPIKey(t *testing.T) {
	h := newHarness(t)
	body := []byte(`{"messages":[{"role":"user","content":[{"text":"bearer hello"}]}]}`)
	resp, b := h.bedrockHTTP(t, nil, "/model/"+url.PathEscape(sonnetAlias)+"/converse", bearerHeader(h.key.Secret), body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "Echo: bearer hello") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if resp.Header.Get("X-Amzn-Requestid") == "" || resp.Header.Get("X-Switchyard-Provider") != chanAnthropic {
		t.Errorf("headers %v", resp.Header)
	}

	revoked := h.issue(t, admin.KeySpec{Tenant: "acme", Name: "revoked"})
	if _, err := h.admin.RevokeKey(context.Background(), revoked.Key.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, key, code string }{
		{"unknown", "sk-sy-unknown", "UnrecognizedClientException"},
		{"revoked", revoked.Secret, "AccessDeniedException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := h.bedrockHTTP(t, nil, "/model/"+sonnet+"/converse", bearerHeader(tc.key), body)
			if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("X-Amzn-Errortype"), tc.code+":") {
				t.Errorf("%d %s %s", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), b)
			}
		})
	}
	h.records(t, 1)
}

// signV4 signs r the way the Bedrock JavaScript SDK does over HTTP/2:
// the :authority pseudo-header instead of host, and x-amz-content-sha256.
// It is written from the SigV4 specification, independently of the
// verifier under test.
func signV4(r *http.Request, body []byte, akid, secret, region string, now time.Time) {
	amzDate := now.UTC().Format("20060102T150405Z")
	day := amzDate[:8]
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	r.Header.Set("X-Amz-Date", amzDate)
	r.Header.Set("X-Amz-Content-Sha256", payload)
	r.Header.Set("Amz-Sdk-Invocation-Id", "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE")
	values := map[string]string{
		":authority":            r.URL.Host,
		"amz-sdk-invocation-id": r.Header.Get("Amz-Sdk-Invocation-Id"),
		"content-length":        fmt.Sprint(len(body)),
		"content-type":          r.Header.Get("Content-Type"),
		"x-amz-content-sha256":  payload,
		"x-amz-date":            amzDate,
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	var canon strings.Builder
	canon.WriteString(r.Method + "\n")
	// The path as sent, each byte outside the unreserved set escaped again.
	for _, c := range []byte(r.URL.EscapedPath()) {
		if c == '/' || c == '-' || c == '.' || c == '_' || c == '~' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			canon.WriteByte(c)
		} else {
			fmt.Fprintf(&canon, "%%%02X", c)
		}
	}
	canon.WriteString("\n\n")
	for _, n := range names {
		canon.WriteString(n + ":" + values[n] + "\n")
	}
	signed := strings.Join(names, ";")
	canon.WriteString("\n" + signed + "\n" + payload)
	crSum := sha256.Sum256([]byte(canon.String()))
	scope := day + "/" + region + "/bedrock/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(crSum[:])
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	key := mac(mac(mac(mac([]byte("AWS4"+secret), day), region), "bedrock"), "aws4_request")
	r.Header.Set("Authorization", fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		akid, scope, signed, hex.EncodeToString(mac(key, toSign))))
}

// h2c with prior knowledge, as the Bedrock JavaScript SDK connects: the Go
// SDK works over it, and a signature over :authority verifies.
func TestBedrock_H2C(t *testing.T) {
	h := newHarness(t)
	hc := h2cClient()
	c, rc := h.bedrockClient(h.key.AWSAccessKeyID, h.key.AWSSecretAccessKey, hc)
	out, err := c.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String(sonnetARN), Messages: []types.Message{userMessage("over h2c")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := converseText(t, out); !strings.HasPrefix(got, "Echo: over h2c") {
		t.Errorf("text %q", got)
	}
	if len(rc.protos) != 1 || rc.protos[0] != 2 {
		t.Errorf("protocols %v, want HTTP/2", rc.protos)
	}

	body := []byte(`{"messages":[{"role":"user","content":[{"text":"signed over authority"}]}]}`)
	for _, tc := range []struct {
		name, secret string
		status       int
	}{
		{"valid", h.key.AWSSecretAccessKey, http.StatusOK},
		{"wrong_secret", "not-the-secret", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, h.URL+"/model/"+url.PathEscape(sonnetARN)+"/converse-stream", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			signV4(req, body, h.key.AWSAccessKeyID, tc.secret, "us-west-2", time.Now())
			if !strings.Contains(req.Header.Get("Authorization"), "SignedHeaders=:authority;") {
				t.Fatalf("authorization %q", req.Header.Get("Authorization"))
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.ProtoMajor != 2 || resp.StatusCode != tc.status {
				t.Fatalf("HTTP/%d %d %s", resp.ProtoMajor, resp.StatusCode, b)
			}
			if tc.status == http.StatusOK {
				if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.amazon.eventstream" || !bytes.Contains(b, []byte(`"authority "`)) {
					t.Errorf("content type %q body %q", ct, b)
				}
			} else if !strings.HasPrefix(resp.Header.Get("X-Amzn-Errortype"), "InvalidSignatureException:") {
				t.Errorf("error type %q", resp.Header.Get("X-Amzn-Errortype"))
			}
		})
	}
	h.records(t, 2)
}

func TestBedrock_Throttling(t *testing.T) {
	h := newHarness(t)
	limited := h.issue(t, admin.KeySpec{Tenant: "acme", Name: "limited", Limits: admin.Limits{RPM: 1}})
	c, _ := h.bedrockClient(limited.AWSAccessKeyID, limited.AWSSecretAccessKey, nil)
	in := &bedrockruntime.ConverseInput{ModelId: aws.String(sonnet), Messages: []types.Message{userMessage("one")}}
	if _, err := c.Converse(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	_, err := c.Converse(context.Background(), in)
	var te *types.ThrottlingException
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T), want *types.ThrottlingException", err, err)
	}
	if _, status := apiErrorOf(t, err); status != http.StatusTooManyRequests {
		t.Errorf("status %d", status)
	}

	// A spent budget is a quota, which AWS SDKs do not retry.
	budget := h.issue(t, admin.KeySpec{Tenant: "acme", Name: "budget", Limits: admin.Limits{BudgetUSD: 1e-9, BudgetPeriod: "month"}})
	c, _ = h.bedrockClient(budget.AWSAccessKeyID, budget.AWSSecretAccessKey, nil)
	if _, err := c.Converse(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	_, err = c.Converse(context.Background(), in)
	var qe *types.ServiceQuotaExceededException
	if !errors.As(err, &qe) {
		t.Fatalf("over budget: error %v (%T), want *types.ServiceQuotaExceededException", err, err)
	}
	if _, status := apiErrorOf(t, err); status != http.StatusTooManyRequests {
		t.Errorf("over budget: status %d", status)
	}
	h.records(t, 2)
}

func TestBedrock_UpstreamErrors(t *testing.T) {
	h := newHarness(t)
	c := h.defaultBedrockClient()
	ctx := context.Background()

	// Every channel of the model overloaded before the first byte: a
	// JSON error with its status, even for a stream.
	h.cloud.SetFaults("anthropic", fakecloud.Faults{FailRate: 1, FailStatus: 529})
	h.cloud.SetFaults("bedrock", fakecloud.Faults{FailRate: 1, FailStatus: 503})
	_, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(sonnet), Messages: []types.Message{userMessage("x")}})
	var sue *types.ServiceUnavailableException
	if !errors.As(err, &sue) {
		t.Errorf("error %v (%T), want *types.ServiceUnavailableException", err, err)
	}
	h.records(t, 2)

	// A throttled upstream after the first event: an exception frame.
	h.cloud.SetFaults("anthropic", fakecloud.Faults{})
	h.cloud.SetFaults("bedrock", fakecloud.Faults{CutStreamAfter: 2, FailStatus: 429})
	out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String("via-bedrock"), Messages: []types.Message{userMessage("a long enough answer to be cut")}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := collectConverseStream(t, out)
	var te *types.ThrottlingException
	if !errors.As(err, &te) {
		t.Errorf("stream error %v (%T), want *types.ThrottlingException", err, err)
	}
	if a.text == "" {
		t.Error("no text before the exception")
	}

	// A stream cut without a word (Anthropic's channel just closes): a
	// model stream error.
	h.cloud.SetFaults("anthropic", fakecloud.Faults{CutStreamAfter: 2})
	out, err = c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String("via-anthropic"), Messages: []types.Message{userMessage("a long enough answer to be cut")}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = collectConverseStream(t, out)
	var mse *types.ModelStreamErrorException
	if !errors.As(err, &mse) {
		t.Errorf("stream error %v (%T), want *types.ModelStreamErrorException", err, err)
	}

	// The same for InvokeModelWithResponseStream, which has its own union.
	h.cloud.SetFaults("bedrock", fakecloud.Faults{CutStreamAfter: 2, FailStatus: 503})
	iout, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId: aws.String("via-bedrock"), Body: anthropicInvokeBody(t, "a long enough answer to be cut", nil)})
	if err != nil {
		t.Fatal(err)
	}
	stream := iout.GetStream()
	for range stream.Events() {
	}
	stream.Close()
	if !errors.As(stream.Err(), &sue) {
		t.Errorf("invoke stream error %v (%T), want *types.ServiceUnavailableException", stream.Err(), stream.Err())
	}
	h.records(t, 3)
}

// Requests the front door refuses, with AWS's codes and statuses.
func TestBedrock_Refusals(t *testing.T) {
	h := newHarness(t, func(c *harnessConfig) { c.maxBody = 64 << 10 })
	msg := `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`
	invoke := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	for _, tc := range []struct {
		name, path, body string
		header           http.Header
		status           int
		code, message    string
	}{
		{"missing_auth", "/model/" + sonnet + "/converse", msg, nil, 403, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		{"malformed_signature", "/model/" + sonnet + "/converse", msg, http.Header{"Authorization": {"AWS4-HMAC-SHA256 Credential=x"}}, 403, "IncompleteSignatureException", ""},
		{"unknown_model", "/model/anthropic.claude-v9/converse", msg, nil, 400, "ValidationException", msgInvalidModelID},
		{"unknown_arn", "/model/" + url.PathEscape("arn:aws:bedrock:us-east-1:1:inference-profile/us.nope") + "/converse", msg, nil, 400, "ValidationException", msgInvalidModelID},
		{"not_json", "/model/" + sonnet + "/converse", `{"messages":`, nil, 400, "ValidationException", ""},
		{"wrong_type", "/model/" + sonnet + "/converse", `{"messages":"hi"}`, nil, 400, "ValidationException", "messages"},
		{"unsupported_block", "/model/" + sonnet + "/converse", `{"messages":[{"role":"user","content":[{"video":{"format":"mp4","source":{"bytes":"AAAA"}}}]}]}`, nil, 400, "ValidationException", "unsupported"},
		{"too_large", "/model/" + sonnet + "/converse", `{"messages":[{"role":"user","content":[{"text":"` + strings.Repeat("x", 70<<10) + `"}]}]}`, nil, 413, "ValidationException", "larger than the limit"},
		{"invoke_not_anthropic", "/model/" + sonnet + "/invoke", `{"inputText":"hi"}`, nil, 400, "ValidationException", "anthropic_version"},
		{"invoke_wrong_version", "/model/" + sonnet + "/invoke", strings.Replace(invoke, "bedrock-2023-05-31", "2023-06-01", 1), nil, 400, "ValidationException", "anthropic_version"},
		{"invoke_model_in_body", "/model/" + sonnet + "/invoke", strings.Replace(invoke, "{", `{"model":"x",`, 1), nil, 400, "ValidationException", "extraneous key [model]"},
		{"invoke_beta", "/model/" + sonnet + "/invoke", strings.Replace(invoke, "{", `{"anthropic_beta":["x-2025"],`, 1), nil, 400, "ValidationException", "anthropic_beta"},
		{"invoke_guardrail", "/model/" + sonnet + "/invoke", invoke, http.Header{"X-Amzn-Bedrock-Guardrailidentifier": {"gr-1"}}, 400, "ValidationException", "guardrails"},
		{"invoke_no_max_tokens", "/model/" + sonnet + "/invoke", strings.Replace(invoke, `"max_tokens":10,`, "", 1), nil, 400, "ValidationException", "max_tokens"},
		{"count_tokens_both", "/model/" + sonnet + "/count-tokens", `{"input":{"converse":{},"invokeModel":{}}}`, nil, 400, "ValidationException", "exactly one"},
		{"unknown_operation", "/model/" + sonnet + "/frobnicate", msg, nil, 404, "ResourceNotFoundException", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header := tc.header
			if header.Get("Authorization") == "" && tc.name != "missing_auth" {
				header = header.Clone()
				if header == nil {
					header = http.Header{}
				}
				header.Set("Authorization", "Bearer "+h.key.Secret)
			}
			resp, b := h.bedrockHTTP(t, nil, tc.path, header, []byte(tc.body))
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			et := resp.Header.Get("X-Amzn-Errortype")
			if code, ns, _ := strings.Cut(et, ":"); code != tc.code || !strings.HasPrefix(ns, "http://internal.amazon.com/coral/") {
				t.Errorf("X-Amzn-ErrorType %q, want code %s", et, tc.code)
			}
			var eb struct {
				Message string `json:"message"`
			}
			if err := json.Unmarshal(b, &eb); err != nil || eb.Message == "" || !strings.Contains(eb.Message, tc.message) {
				t.Errorf("body %s, want a message containing %q", b, tc.message)
			}
			if resp.Header.Get("X-Amzn-Requestid") == "" {
				t.Error("no x-amzn-RequestId")
			}
		})
	}
	h.records(t, 0)
}

func TestModelIDCandidates(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want []string
	}{
		{"", nil},
		{"claude-sonnet-4", []string{"claude-sonnet-4"}},
		{"anthropic.claude-3-haiku-20240307-v1:0", []string{"anthropic.claude-3-haiku-20240307-v1:0"}},
		{"us.anthropic.claude-3-haiku-20240307-v1:0", []string{"us.anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"}},
		{"global.amazon.nova-lite-v1:0", []string{"global.amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0"}},
		{sonnetARN, []string{sonnetARN, "us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0"}},
		{"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2", []string{"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2", "anthropic.claude-v2"}},
		{"arn:aws:bedrock:us-east-1:1:application-inference-profile/", []string{"arn:aws:bedrock:us-east-1:1:application-inference-profile/"}},
		{"us.", []string{"us."}},
	} {
		if diff := cmp.Diff(tc.want, modelIDCandidates(tc.id)); diff != "" {
			t.Errorf("modelIDCandidates(%q) (-want +got):\n%s", tc.id, diff)
		}
	}
}

// serve sends one in-process request to the harness's handler.
func (h *harness) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, r)
	return rec
}

// FuzzBedrockConverse feeds arbitrary bodies to Converse and
// ConverseStream: a bad body is a 4xx in AWS's shape, never a 500.
func FuzzBedrockConverse(f *testing.F) {
	h := newHarness(f)
	for _, seed := range []string{
		`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`,
		`{"system":[{"text":"s"},{"cachePoint":{"type":"default"}}],"messages":[{"role":"user","content":[{"text":"hi"},{"cachePoint":{"type":"default"}}]}],"inferenceConfig":{"maxTokens":5,"stopSequences":["x"]}}`,
		`{"messages":[{"role":"user","content":[{"text":"call get_weather"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object"}}}}],"toolChoice":{"any":{}}}}`,
		`{"messages":[{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"n","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[{"json":{"a":1}}],"status":"error"}}]}]}`,
		`{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"bytes":"iVBORw0KGgo="}}}]}],"additionalModelRequestFields":{"top_k":3}}`,
		`{"messages":[],"outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{"schema":"{}"}}}}}`,
		`{"messages":null}`, `[]`, `null`, `{"messages":[{"role":"system"}]}`, "",
	} {
		f.Add(false, []byte(seed))
		f.Add(true, []byte(seed))
	}
	f.Fuzz(func(t *testing.T, stream bool, body []byte) {
		op := "converse"
		if stream {
			op = "converse-stream"
		}
		req := httptest.NewRequest(http.MethodPost, "/model/"+url.PathEscape(sonnetAlias)+"/"+op, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+h.key.Secret)
		rec := h.serve(req)
		checkBedrockAnswer(t, rec)
	})
}

// FuzzBedrockInvoke does the same for InvokeModel bodies.
func FuzzBedrockInvoke(f *testing.F) {
	h := newHarness(f)
	for _, seed := range []string{
		`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
		`{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"text","text":"call t"}]}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"thinking":{"type":"enabled","budget_tokens":1024}}`,
		`{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":[],"max_tokens":1,"messages":[]}`,
		`{"inputText":"titan"}`, `{}`, `"x"`, "",
	} {
		f.Add(false, []byte(seed))
		f.Add(true, []byte(seed))
	}
	f.Fuzz(func(t *testing.T, stream bool, body []byte) {
		op := "invoke"
		if stream {
			op = "invoke-with-response-stream"
		}
		req := httptest.NewRequest(http.MethodPost, "/model/"+sonnet+"/"+op, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+h.key.Secret)
		checkBedrockAnswer(t, h.serve(req))
	})
}

// FuzzBedrockCountTokens does the same for CountTokens bodies, which
// wrap a Converse input or a base64 InvokeModel body.
func FuzzBedrockCountTokens(f *testing.F) {
	h := newHarness(f)
	for _, seed := range []string{
		`{"input":{"converse":{"messages":[{"role":"user","content":[{"text":"hi"}]}]}}}`,
		`{"input":{"converse":{"system":[{"text":"s"}],"messages":[{"role":"user","content":[{"text":"call t"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"t","inputSchema":{"json":{"type":"object"}}}}]}}}}`,
		`{"input":{"invokeModel":{"body":"eyJhbnRocm9waWNfdmVyc2lvbiI6ImJlZHJvY2stMjAyMy0wNS0zMSIsIm1heF90b2tlbnMiOjUsIm1lc3NhZ2VzIjpbeyJyb2xlIjoidXNlciIsImNvbnRlbnQiOiJiIn1dfQ=="}}}`,
		`{"input":{"invokeModel":{"body":"e30="}}}`, `{"input":{"converse":{},"invokeModel":{}}}`,
		`{"input":{}}`, `{"input":null}`, `{}`, `[]`, "",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/model/"+url.PathEscape(sonnetAlias)+"/count-tokens", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+h.key.Secret)
		checkBedrockAnswer(t, h.serve(req))
	})
}

// checkBedrockAnswer fails on a 500 and on an error without AWS's shape.
func checkBedrockAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	switch {
	case rec.Code >= 500:
		t.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
	case rec.Code == http.StatusOK:
	case rec.Header().Get("X-Amzn-Errortype") == "" || !json.Valid(rec.Body.Bytes()):
		t.Fatalf("status %d without an AWS error: %v %s", rec.Code, rec.Header(), rec.Body.Bytes())
	}
}

// FuzzBedrockAuth fuzzes the SigV4 headers and the model id around a
// valid signed request: the verifier never panics and a bad signature is
// never a 500.
func FuzzBedrockAuth(f *testing.F) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	h := newHarness(f, func(c *harnessConfig) { c.now = func() time.Time { return now } })
	body := []byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`)
	valid, err := http.NewRequest(http.MethodPost, "http://gateway.test/model/"+url.PathEscape(sonnetAlias)+"/converse", bytes.NewReader(body))
	if err != nil {
		f.Fatal(err)
	}
	valid.Header.Set("Content-Type", "application/json")
	signV4(valid, body, h.key.AWSAccessKeyID, h.key.AWSSecretAccessKey, "us-east-1", now)
	f.Add(valid.Header.Get("Authorization"), valid.Header.Get("X-Amz-Date"), valid.Header.Get("X-Amz-Content-Sha256"), url.PathEscape(sonnetAlias))
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20250601/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "20250601T120000Z", "", sonnet)
	f.Add("AWS4-HMAC-SHA256 Credential=//////, SignedHeaders=;;, Signature=", "2025", "zz", "%2F")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,Credential=x", "", "", "a%3Ab")
	f.Add("Bearer ", "", "", sonnet)
	f.Fuzz(func(t *testing.T, authorization, amzDate, contentSHA, modelID string) {
		req, err := http.NewRequest(http.MethodPost, "http://gateway.test/model/"+modelID+"/converse", bytes.NewReader(body))
		if err != nil {
			return // not a URL a client could send
		}
		req.RequestURI = req.URL.RequestURI()
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Amz-Sdk-Invocation-Id", valid.Header.Get("Amz-Sdk-Invocation-Id"))
		for k, v := range map[string]string{"Authorization": authorization, "X-Amz-Date": amzDate, "X-Amz-Content-Sha256": contentSHA} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		rec := h.serve(req)
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
		}
		// A path that is not clean ("/model//converse") is redirected by
		// the mux before any handler runs.
		if rec.Code >= 400 && rec.Header().Get("X-Amzn-Errortype") == "" {
			t.Fatalf("status %d without an AWS error type", rec.Code)
		}
	})
}

// Anthropic's own SDK in its Bedrock mode calls InvokeModel and
// InvokeModelWithResponseStream with SigV4, and reads the event stream back
// as Messages events: a second official client for the invoke operations.
func TestBedrock_AnthropicSDKOverBedrock(t *testing.T) {
	h := newHarness(t)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(h.key.AWSAccessKeyID, h.key.AWSSecretAccessKey, "")}
	c := anthropicsdk.NewClient(anthropicbedrock.WithConfig(cfg), anthropicoption.WithBaseURL(h.URL), anthropicoption.WithMaxRetries(0))
	ctx := context.Background()
	params := anthropicsdk.MessageNewParams{Model: sonnetAlias, MaxTokens: 200,
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("Hello via Bedrock"))}}
	m, err := c.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	checkEcho(t, answerV1(m), "Hello via Bedrock")

	s := c.Messages.NewStreaming(ctx, params)
	var sm anthropicsdk.Message
	for s.Next() {
		if err := sm.Accumulate(s.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	checkEcho(t, answerV1(&sm), "Hello via Bedrock")

	// A throttled upstream after the first event reaches this client as a
	// typed API error.
	h.records(t, 2)
	h.cloud.SetFaults("bedrock", fakecloud.Faults{CutStreamAfter: 2, FailStatus: 429})
	s = c.Messages.NewStreaming(ctx, anthropicsdk.MessageNewParams{Model: "via-bedrock", MaxTokens: 200,
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("a long enough answer to be cut"))}})
	for s.Next() {
	}
	var ae *anthropicsdk.Error
	if err := s.Err(); !errors.As(err, &ae) || !strings.Contains(err.Error(), "throttlingException") {
		t.Errorf("stream error %v (%T)", err, err)
	}
	h.records(t, 1)
}

var awsRequestIDForm = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestAWSRequestID(t *testing.T) {
	for id, want := range map[string]string{
		"req_7e7b1d207eace1260d744a45":         "00000000-7e7b-1d20-7eac-e1260d744a45",
		"req_0123456789ABCDEF0123456789abcdef": "01234567-89ab-cdef-0123-456789abcdef",
	} {
		if got := awsRequestID(id); got != want {
			t.Errorf("awsRequestID(%q) = %q, want %q", id, got, want)
		}
	}
	for _, id := range []string{"", "req_", "req_xyz", "other"} {
		if got := awsRequestID(id); !awsRequestIDForm.MatchString(got) {
			t.Errorf("awsRequestID(%q) = %q, not a UUID", id, got)
		}
	}
}
