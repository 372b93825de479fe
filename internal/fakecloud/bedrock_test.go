package fakecloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

const (
	haikuID   = "anthropic.claude-3-haiku-20240307-v1:0"
	profileID = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0"
)

// detachedBody sends a copy of each request body. smithy-go closes the
// request body as soon as the response headers arrive; when a loopback
// server answers that fast, net/http's writer may not have made its final
// read of the body yet, sees it end early, and closes the connection under
// the event stream being read. Real networks hide the race; fakecloud
// answers in microseconds and exposes it.
type detachedBody struct{ next http.RoundTripper }

func (d detachedBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return d.next.RoundTrip(r)
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(b))
	return d.next.RoundTrip(r2)
}

func newBedrockClient(ts, keyID, secret string) *bedrockruntime.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient:  &http.Client{Transport: detachedBody{next: http.DefaultTransport}},
	}
	return bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) {
		o.BaseEndpoint = aws.String(ts + "/bedrock")
	})
}

func userText(s string) types.Message {
	return types.Message{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: s}}}
}

func bedrockText(t *testing.T, out *bedrockruntime.ConverseOutput) string {
	t.Helper()
	msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
	if !ok {
		t.Fatalf("output = %#v", out.Output)
	}
	var texts []string
	for _, b := range msg.Value.Content {
		if tb, ok := b.(*types.ContentBlockMemberText); ok {
			texts = append(texts, tb.Value)
		}
	}
	return strings.Join(texts, "")
}

func bedrockWeatherTool() *types.ToolConfiguration {
	return &types.ToolConfiguration{Tools: []types.Tool{&types.ToolMemberToolSpec{Value: types.ToolSpecification{
		Name:        aws.String("get_weather"),
		Description: aws.String("Current weather in a city"),
		InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(mustJSON(weatherSchema))},
	}}}}
}

func TestBedrock_Converse(t *testing.T) {
	s, ts := newTestServer(t, Options{})
	client := newBedrockClient(ts.URL, DefaultAWSAccessKeyID, DefaultAWSSecretAccessKey)
	for _, model := range []string{haikuID, profileID, "amazon.nova-lite-v1:0"} {
		t.Run(model, func(t *testing.T) {
			out, err := client.Converse(context.Background(), &bedrockruntime.ConverseInput{
				ModelId:  aws.String(model),
				System:   []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "Be brief."}},
				Messages: []types.Message{userText("Hello Bedrock")},
				InferenceConfig: &types.InferenceConfiguration{
					MaxTokens:   aws.Int32(100),
					Temperature: aws.Float32(0.5),
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := bedrockText(t, out); !strings.HasPrefix(got, "Echo: Hello Bedrock [turns=1 history=") {
				t.Errorf("text = %q", got)
			}
			if out.StopReason != types.StopReasonEndTurn || *out.Usage.TotalTokens != *out.Usage.InputTokens+*out.Usage.OutputTokens {
				t.Errorf("stop %q usage %+v", out.StopReason, out.Usage)
			}
			recs := s.Records()
			if last := recs[len(recs)-1]; last.Model != model || last.Status != http.StatusOK || last.Cloud != "bedrock" {
				t.Errorf("record = %+v", last)
			}
		})
	}
}

func TestBedrock_ConverseStream(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newBedrockClient(ts.URL, DefaultAWSAccessKeyID, DefaultAWSSecretAccessKey)
	ctx := context.Background()
	input := &bedrockruntime.ConverseStreamInput{
		ModelId:                      aws.String(haikuID),
		Messages:                     []types.Message{userText("Stream this please")},
		AdditionalModelRequestFields: document.NewLazyDocument(map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": 1024}}),
	}
	out, err := client.ConverseStream(ctx, input)
	if err != nil {
		t.Fatal(err)
	}
	stream := out.GetStream()
	defer stream.Close()
	var events []string
	var text, thinking, signature string
	var usage *types.TokenUsage
	for ev := range stream.Events() {
		switch v := ev.(type) {
		case *types.ConverseStreamOutputMemberMessageStart:
			events = append(events, "messageStart")
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			events = append(events, "delta")
			switch d := v.Value.Delta.(type) {
			case *types.ContentBlockDeltaMemberText:
				text += d.Value
			case *types.ContentBlockDeltaMemberReasoningContent:
				switch r := d.Value.(type) {
				case *types.ReasoningContentBlockDeltaMemberText:
					thinking += r.Value
				case *types.ReasoningContentBlockDeltaMemberSignature:
					signature += r.Value
				}
			}
		case *types.ConverseStreamOutputMemberContentBlockStop:
			events = append(events, "stop")
		case *types.ConverseStreamOutputMemberMessageStop:
			events = append(events, "messageStop:"+string(v.Value.StopReason))
		case *types.ConverseStreamOutputMemberMetadata:
			events = append(events, "metadata")
			usage = v.Value.Usage
		default:
			t.Errorf("unexpected event %T", ev)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, "Echo: Stream this please [turns=1") || thinking == "" || signature != thinkingSignature(thinking) {
		t.Errorf("text %q thinking %q signature %q", text, thinking, signature)
	}
	want := []string{"messageStart"}
	for range words(thinking) {
		want = append(want, "delta")
	}
	want = append(want, "delta", "stop") // the signature delta
	for range words(text) {
		want = append(want, "delta")
	}
	want = append(want, "stop", "messageStop:end_turn", "metadata")
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if usage == nil || int(*usage.OutputTokens) != len(words(text))+len(words(thinking)) {
		t.Errorf("usage = %+v", usage)
	}
}

func TestBedrock_ToolUse(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newBedrockClient(ts.URL, DefaultAWSAccessKeyID, DefaultAWSSecretAccessKey)
	ctx := context.Background()
	msgs := []types.Message{userText("What's the weather?")}
	tools := bedrockWeatherTool()
	tools.ToolChoice = &types.ToolChoiceMemberAny{}
	out, err := client.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(profileID), Messages: msgs, ToolConfig: tools})
	if err != nil {
		t.Fatal(err)
	}
	msg := out.Output.(*types.ConverseOutputMemberMessage).Value
	use, ok := msg.Content[0].(*types.ContentBlockMemberToolUse)
	if !ok || out.StopReason != types.StopReasonToolUse {
		t.Fatalf("stop %q content %#v", out.StopReason, msg.Content)
	}
	var args map[string]any
	if err := use.Value.Input.UnmarshalSmithyDocument(&args); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mustJSON(weatherArgs), args); diff != "" || *use.Value.Name != "get_weather" || !strings.HasPrefix(*use.Value.ToolUseId, "tooluse_") {
		t.Fatalf("tool use %s %s (-want +got):\n%s", *use.Value.ToolUseId, *use.Value.Name, diff)
	}

	// The streamed call matches and carries its arguments in fragments.
	sout, err := client.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(profileID), Messages: msgs, ToolConfig: tools})
	if err != nil {
		t.Fatal(err)
	}
	var input string
	fragments := 0
	for ev := range sout.GetStream().Events() {
		if d, ok := ev.(*types.ConverseStreamOutputMemberContentBlockDelta); ok {
			if tu, ok := d.Value.Delta.(*types.ContentBlockDeltaMemberToolUse); ok {
				input += *tu.Value.Input
				fragments++
			}
		}
	}
	if err := sout.GetStream().Err(); err != nil {
		t.Fatal(err)
	}
	if input != weatherArgs || fragments < 2 {
		t.Errorf("streamed input %q in %d fragments", input, fragments)
	}

	result := types.Message{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{
		ToolUseId: use.Value.ToolUseId,
		Content:   []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberJson{Value: document.NewLazyDocument(map[string]any{"temp": 21})}},
	}}}}
	tools.ToolChoice = nil
	out, err = client.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(profileID), Messages: append(msgs, msg, result), ToolConfig: tools})
	if err != nil {
		t.Fatal(err)
	}
	if got := bedrockText(t, out); !strings.HasPrefix(got, `Tool get_weather returned: {"temp":21} [turns=2 history=`) {
		t.Errorf("after the tool result: %q", got)
	}

	// Bedrock refuses tool history without a toolConfig.
	_, err = client.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(profileID), Messages: append(msgs, msg, result)})
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Errorf("tool history without tools: %v", err)
	}
}

func TestBedrock_Auth(t *testing.T) {
	now := time.Now()
	_, ts := newTestServer(t, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	input := &bedrockruntime.ConverseInput{ModelId: aws.String(haikuID), Messages: []types.Message{userText("hi")}}
	for _, tc := range []struct {
		name, keyID, secret, code string
	}{
		{"bad_signature", DefaultAWSAccessKeyID, "wrong-secret", "InvalidSignatureException"},
		{"unknown_key", "AKIDUNKNOWN", DefaultAWSSecretAccessKey, "UnrecognizedClientException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newBedrockClient(ts.URL, tc.keyID, tc.secret).Converse(ctx, input)
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
			var re interface{ HTTPStatusCode() int }
			if errors.As(err, &re) && re.HTTPStatusCode() != http.StatusForbidden {
				t.Errorf("status %d, want 403", re.HTTPStatusCode())
			}
		})
	}

	_, skewed := newTestServer(t, Options{Now: func() time.Time { return now.Add(time.Hour) }})
	_, err := newBedrockClient(skewed.URL, DefaultAWSAccessKeyID, DefaultAWSSecretAccessKey).Converse(ctx, input)
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidSignatureException" || !strings.Contains(apiErr.ErrorMessage(), "expired") {
		t.Errorf("clock skew: %v", err)
	}

	body := `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`
	status, _, b := do(t, "POST", ts.URL+"/bedrock/model/"+haikuID+"/converse", map[string]string{"Authorization": "Bearer " + testKey}, body)
	if status != http.StatusOK {
		t.Errorf("bearer API key: %d %s", status, b)
	}
	status, h, b := do(t, "POST", ts.URL+"/bedrock/model/"+haikuID+"/converse", nil, body)
	if status != http.StatusForbidden || !strings.HasPrefix(h.Get("X-Amzn-Errortype"), "MissingAuthenticationTokenException:") {
		t.Errorf("no auth: %d %v %s", status, h, b)
	}
}

func TestBedrock_Invoke(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newBedrockClient(ts.URL, DefaultAWSAccessKeyID, DefaultAWSSecretAccessKey)
	ctx := context.Background()
	body := []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[{"role":"user","content":"Invoke me"}]}`)
	out, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(haikuID), Body: body, ContentType: aws.String("application/json")})
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Type    string `json:"type"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		StopReason string `json:"stop_reason"`
	}
	if err := json.Unmarshal(out.Body, &msg); err != nil || msg.Type != "message" || !strings.HasPrefix(msg.Content[0].Text, "Echo: Invoke me [turns=1") {
		t.Fatalf("invoke body %s: %v", out.Body, err)
	}

	sout, err := client.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(haikuID), Body: body, ContentType: aws.String("application/json")})
	if err != nil {
		t.Fatal(err)
	}
	var text string
	var types_ []string
	for ev := range sout.GetStream().Events() {
		chunk, ok := ev.(*types.ResponseStreamMemberChunk)
		if !ok {
			t.Fatalf("event %T", ev)
		}
		var e struct {
			Type  string `json:"type"`
			Delta struct {
				Text string `json:"text"`
			} `json:"delta"`
			Metrics map[string]any `json:"amazon-bedrock-invocationMetrics"`
		}
		if err := json.Unmarshal(chunk.Value.Bytes, &e); err != nil {
			t.Fatal(err)
		}
		types_ = append(types_, e.Type)
		text += e.Delta.Text
		if e.Type == "message_stop" && e.Metrics["outputTokenCount"] == nil {
			t.Errorf("message_stop without invocation metrics: %s", chunk.Value.Bytes)
		}
	}
	if err := sout.GetStream().Err(); err != nil {
		t.Fatal(err)
	}
	if text != msg.Content[0].Text || types_[0] != "message_start" || types_[len(types_)-1] != "message_stop" {
		t.Errorf("streamed %q (%v), invoked %q", text, types_, msg.Content[0].Text)
	}

	_, err = client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String("amazon.nova-lite-v1:0"), Body: body, ContentType: aws.String("application/json")})
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Errorf("invoke on a non-Anthropic model: %v", err)
	}
}

func TestBedrock_PromptCache(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newBedrockClient(ts.URL, DefaultAWSAccessKeyID, DefaultAWSSecretAccessKey)
	long := strings.Repeat("Context that is worth caching. ", 30)
	converse := func(q string) *types.TokenUsage {
		out, err := client.Converse(context.Background(), &bedrockruntime.ConverseInput{
			ModelId: aws.String(haikuID),
			System: []types.SystemContentBlock{
				&types.SystemContentBlockMemberText{Value: long},
				&types.SystemContentBlockMemberCachePoint{Value: types.CachePointBlock{Type: types.CachePointTypeDefault}},
			},
			Messages: []types.Message{userText(q)},
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.Usage
	}
	first, second := converse("one"), converse("two")
	n := int32(countTokens(long))
	if *first.CacheWriteInputTokens != n || *first.CacheReadInputTokens != 0 || *second.CacheReadInputTokens != n || *second.CacheWriteInputTokens != 0 {
		t.Errorf("first %+v second %+v, want %d written then read", first, second, n)
	}
	if *second.InputTokens != 1 || *second.TotalTokens != *second.InputTokens+*second.OutputTokens+n {
		t.Errorf("second usage %+v", second)
	}
}

func TestBedrock_Errors(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	auth := map[string]string{"Authorization": "Bearer " + testKey}
	for _, tc := range []struct {
		name, body, code string
	}{
		{"malformed", `{"messages":`, "ValidationException"},
		{"unknown_field", `{"messages":[{"role":"user","content":[{"text":"x"}]}],"bogus":1}`, "ValidationException"},
		{"two_members", `{"messages":[{"role":"user","content":[{"text":"x","image":{}}]}]}`, "ValidationException"},
		{"assistant_first", `{"messages":[{"role":"assistant","content":[{"text":"x"}]}]}`, "ValidationException"},
		{"not_alternating", `{"messages":[{"role":"user","content":[{"text":"x"}]},{"role":"user","content":[{"text":"y"}]}]}`, "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, b := do(t, "POST", ts.URL+"/bedrock/model/m/converse", auth, tc.body)
			if status != http.StatusBadRequest || h.Get("X-Amzn-Errortype") != tc.code+":http://internal.amazon.com/coral/com.amazon.bedrock/" {
				t.Fatalf("%d %s %s", status, h.Get("X-Amzn-Errortype"), b)
			}
			if decode(t, b)["message"] == "" {
				t.Errorf("no message: %s", b)
			}
		})
	}
	status, h, _ := do(t, "POST", ts.URL+"/bedrock/model/m/nothing", auth, "{}")
	if status != http.StatusNotFound || h.Get("X-Amzn-Errortype") == "" {
		t.Errorf("unknown path: %d %v", status, h)
	}
}

// TestBedrock_DuplicateToolUseIDs checks that Converse refuses a history
// repeating a toolUseId, within one message or across messages, with a
// ValidationException.
func TestBedrock_DuplicateToolUseIDs(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	auth := map[string]string{"Authorization": "Bearer " + testKey}
	tools := `"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":` + weatherSchema + `}}}]}`
	use := func(id string) string {
		return `{"toolUse":{"toolUseId":"` + id + `","name":"get_weather","input":` + weatherArgs + `}}`
	}
	result := func(id string) string {
		return `{"toolResult":{"toolUseId":"` + id + `","content":[{"text":"sunny"}]}}`
	}
	question := `{"role":"user","content":[{"text":"weather?"}]}`
	for _, tc := range []struct {
		name     string
		messages []string
		msg      string
	}{
		{"distinct", []string{question,
			`{"role":"assistant","content":[` + use("t1") + `]}`, `{"role":"user","content":[` + result("t1") + `]}`,
			`{"role":"assistant","content":[` + use("t2") + `]}`, `{"role":"user","content":[` + result("t2") + `]}`}, ""},
		{"across_messages", []string{question,
			`{"role":"assistant","content":[` + use("t1") + `]}`, `{"role":"user","content":[` + result("t1") + `]}`,
			`{"role":"assistant","content":[` + use("t1") + `]}`, `{"role":"user","content":[` + result("t1") + `]}`},
			"The model returned the following errors: messages.3.content.0: `tool_use` ids must be unique"},
		{"within_message", []string{question,
			`{"role":"assistant","content":[` + use("t1") + `,` + use("t1") + `]}`, `{"role":"user","content":[` + result("t1") + `]}`},
			"The toolUse blocks at messages.1.content contain duplicate Ids: t1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{` + tools + `,"messages":[` + strings.Join(tc.messages, ",") + `]}`
			status, h, b := do(t, "POST", ts.URL+"/bedrock/model/m/converse", auth, body)
			if tc.msg == "" {
				if status != http.StatusOK {
					t.Fatalf("status %d: %s", status, b)
				}
				return
			}
			if status != http.StatusBadRequest || h.Get("X-Amzn-Errortype") != "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/" {
				t.Fatalf("%d %s %s", status, h.Get("X-Amzn-Errortype"), b)
			}
			if got := decode(t, b)["message"]; got != tc.msg {
				t.Errorf("message %q, want %q", got, tc.msg)
			}
		})
	}
}

// CountTokens, sent by the SDK, counts a Converse input as Converse bills
// it, and an InvokeModel body of a Claude model as InvokeModel does.
func TestBedrock_CountTokens(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newBedrockClient(ts.URL, DefaultAWSAccessKeyID, DefaultAWSSecretAccessKey)
	ctx := context.Background()
	system := []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "Be brief."}}
	msgs := []types.Message{userText("What is the weather in Paris today?")}
	conv, err := client.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(haikuID), System: system,
		Messages: msgs, ToolConfig: bedrockWeatherTool()})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.CountTokens(ctx, &bedrockruntime.CountTokensInput{ModelId: aws.String(haikuID),
		Input: &types.CountTokensInputMemberConverse{Value: types.ConverseTokensRequest{System: system, Messages: msgs, ToolConfig: bedrockWeatherTool()}}})
	if err != nil {
		t.Fatal(err)
	}
	if *out.InputTokens != *conv.Usage.InputTokens {
		t.Errorf("CountTokens = %d, Converse's input usage %d", *out.InputTokens, *conv.Usage.InputTokens)
	}

	body := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"What is the weather in Paris today?"}]}`
	inv, err := client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(haikuID), Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	var invoked struct {
		Usage struct {
			InputTokens int32 `json:"input_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(inv.Body, &invoked); err != nil {
		t.Fatal(err)
	}
	out, err = client.CountTokens(ctx, &bedrockruntime.CountTokensInput{ModelId: aws.String(haikuID),
		Input: &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: []byte(body)}}})
	if err != nil {
		t.Fatal(err)
	}
	if *out.InputTokens != invoked.Usage.InputTokens {
		t.Errorf("CountTokens(invokeModel) = %d, InvokeModel's input usage %d", *out.InputTokens, invoked.Usage.InputTokens)
	}

	_, err = newBedrockClient(ts.URL, DefaultAWSAccessKeyID, "wrong-secret").CountTokens(ctx, &bedrockruntime.CountTokensInput{ModelId: aws.String(haikuID),
		Input: &types.CountTokensInputMemberConverse{Value: types.ConverseTokensRequest{Messages: msgs}}})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidSignatureException" {
		t.Errorf("a wrong signature: %v, want InvalidSignatureException", err)
	}

	for name, bad := range map[string]string{
		"no input":      `{}`,
		"both":          `{"input":{"converse":{"messages":[{"role":"user","content":[{"text":"x"}]}]},"invokeModel":{"body":"e30="}}}`,
		"unknown field": `{"input":{"converse":{"messages":[{"role":"user","content":[{"text":"x"}]}],"inferenceConfig":{"maxTokens":3}}}}`,
		"not a claude":  `{"input":{"invokeModel":{"body":"e30="}}}`,
	} {
		model := haikuID
		if name == "not a claude" {
			model = "amazon.nova-lite-v1:0"
		}
		status, h, b := do(t, "POST", ts.URL+"/bedrock/model/"+model+"/count-tokens", map[string]string{"Authorization": "Bearer " + testKey}, bad)
		if status != http.StatusBadRequest || !strings.HasPrefix(h.Get("X-Amzn-Errortype"), "ValidationException") {
			t.Errorf("%s: %d %s %s, want a ValidationException", name, status, h.Get("X-Amzn-Errortype"), b)
		}
	}
}
