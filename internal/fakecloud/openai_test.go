package fakecloud

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

func newOpenAIClient(ts string, opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(ts + "/openai/v1"),
		option.WithAPIKey(testKey),
		option.WithMaxRetries(0),
	}, opts...)...)
}

func weatherTool() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("Current weather in a city"),
		Parameters:  shared.FunctionParameters(mustJSON(weatherSchema)),
	})
}

func timeTool() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:       "get_time",
		Parameters: shared.FunctionParameters(mustJSON(timeSchema)),
	})
}

func TestOpenAI_ChatPlain(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newOpenAIClient(ts.URL)
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Be brief."),
			openai.UserMessage("Hello there"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Choices[0].Message.Content
	if !strings.HasPrefix(got, "Echo: Hello there [turns=1 history=") {
		t.Errorf("content = %q", got)
	}
	if resp.Choices[0].FinishReason != "stop" || resp.Model != "gpt-4o-mini" || !strings.HasPrefix(resp.ID, "chatcmpl-") {
		t.Errorf("finish %q model %q id %q", resp.Choices[0].FinishReason, resp.Model, resp.ID)
	}
	if resp.Usage.PromptTokens <= 0 || resp.Usage.CompletionTokens != int64(len(words(got))) ||
		resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
		t.Errorf("usage = %+v for %d words", resp.Usage, len(words(got)))
	}
}

func TestOpenAI_ChatStream(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newOpenAIClient(ts.URL)
	params := openai.ChatCompletionNewParams{
		Model:         "gpt-4o-mini",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Stream me a few words")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
	stream := client.Chat.Completions.NewStreaming(context.Background(), params)
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		if !acc.AddChunk(stream.Current()) {
			t.Fatalf("accumulator refused chunk %d: %s", chunks, stream.Current().RawJSON())
		}
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{}
	plain, err := client.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	got := acc.Choices[0].Message.Content
	if !strings.HasPrefix(got, "Echo: Stream me a few words [turns=1") || got != plain.Choices[0].Message.Content {
		t.Errorf("streamed %q, plain %q", got, plain.Choices[0].Message.Content)
	}
	if want := len(words(got)) + 3; chunks != want {
		t.Errorf("got %d chunks, want %d (role, one per word, finish, usage)", chunks, want)
	}
	if acc.Usage.CompletionTokens != int64(len(words(got))) || acc.Usage.PromptTokens == 0 {
		t.Errorf("usage = %+v", acc.Usage)
	}
	if acc.Choices[0].FinishReason != "stop" {
		t.Errorf("finish = %q", acc.Choices[0].FinishReason)
	}
}

func TestOpenAI_StreamWithoutUsage(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	status, _, body := do(t, "POST", ts.URL+"/openai/v1/chat/completions", map[string]string{"Authorization": "Bearer " + testKey},
		`{"model":"m","stream":true,"messages":[{"role":"user","content":"a b"}]}`)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	text := string(body)
	if strings.Contains(text, `"usage"`) || !strings.HasSuffix(text, "data: [DONE]\n\n") || strings.Contains(text, `"error"`) {
		t.Errorf("stream without include_usage:\n%s", text)
	}
}

func TestOpenAI_ToolCallRoundTrip(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newOpenAIClient(ts.URL)
	ctx := context.Background()
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What's the weather? Please call get_weather.")}
	params := openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: msgs, Tools: []openai.ChatCompletionToolUnionParam{weatherTool(), timeTool()}}
	resp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	msg := resp.Choices[0].Message
	if resp.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 1 {
		t.Fatalf("finish %q, tool calls %+v", resp.Choices[0].FinishReason, msg.ToolCalls)
	}
	call := msg.ToolCalls[0]
	if call.Function.Name != "get_weather" || call.Function.Arguments != weatherArgs || !strings.HasPrefix(call.ID, "call_") {
		t.Fatalf("tool call = %+v", call)
	}

	params.Messages = append(msgs, msg.ToParam(), openai.ToolMessage(`{"temp":21}`, call.ID))
	resp, err = client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Choices[0].Message.Content
	if !strings.HasPrefix(got, `Tool get_weather returned: {"temp":21} [turns=2 history=`) || resp.Choices[0].FinishReason != "stop" {
		t.Errorf("after the tool result: %q (%s)", got, resp.Choices[0].FinishReason)
	}
}

func TestOpenAI_ToolCallsStreamed(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newOpenAIClient(ts.URL)
	for _, tc := range []struct {
		name     string
		text     string
		choice   openai.ChatCompletionToolChoiceOptionUnionParam
		parallel bool
		want     []string
	}{
		{name: "asked_for_two", text: "call get_weather and get_time", parallel: true, want: []string{"get_weather", "get_time"}},
		{name: "order_as_mentioned", text: "use get_time, then get_weather", parallel: true, want: []string{"get_time", "get_weather"}},
		{name: "serial", text: "call get_weather and get_time", want: []string{"get_weather"}},
		{name: "required", text: "hello", choice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")}, parallel: true, want: []string{"get_weather"}},
		{name: "named", text: "hello", choice: openai.ToolChoiceOptionFunctionToolChoice(openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_time"}), parallel: true, want: []string{"get_time"}},
		{name: "none_wins", text: "call get_weather", choice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("none")}, parallel: true},
		{name: "a_tool", text: "please use a tool", parallel: true, want: []string{"get_weather"}},
		{name: "no_trigger", text: "what is get_weather?", parallel: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := openai.ChatCompletionNewParams{
				Model:             "gpt-4o",
				Messages:          []openai.ChatCompletionMessageParamUnion{openai.UserMessage(tc.text)},
				Tools:             []openai.ChatCompletionToolUnionParam{weatherTool(), timeTool()},
				ToolChoice:        tc.choice,
				ParallelToolCalls: openai.Bool(tc.parallel),
			}
			stream := client.Chat.Completions.NewStreaming(context.Background(), params)
			var acc openai.ChatCompletionAccumulator
			fragments := 0
			for stream.Next() {
				ch := stream.Current()
				if len(ch.Choices) > 0 && len(ch.Choices[0].Delta.ToolCalls) > 0 && ch.Choices[0].Delta.ToolCalls[0].Function.Arguments != "" {
					fragments++
				}
				acc.AddChunk(ch)
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, call := range acc.Choices[0].Message.ToolCalls {
				names = append(names, call.Function.Name)
				var args map[string]any
				if err := json.Unmarshal([]byte(call.Function.Arguments), &args); err != nil {
					t.Errorf("arguments %q: %v", call.Function.Arguments, err)
				}
			}
			if diff := cmp.Diff(tc.want, names); diff != "" {
				t.Errorf("tool calls (-want +got):\n%s", diff)
			}
			if len(tc.want) > 0 {
				if fragments <= len(tc.want) {
					t.Errorf("arguments came in %d fragments, want several per call", fragments)
				}
				if acc.Choices[0].FinishReason != "tool_calls" {
					t.Errorf("finish = %q", acc.Choices[0].FinishReason)
				}
			} else if !strings.HasPrefix(acc.Choices[0].Message.Content, "Echo: ") {
				t.Errorf("content = %q", acc.Choices[0].Message.Content)
			}
		})
	}
}

func TestOpenAI_JSONAndLimits(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newOpenAIClient(ts.URL)
	ctx := context.Background()
	schema := map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}, "rank": map[string]any{"type": "integer", "minimum": 5}}, "required": []any{"city", "rank"}}
	resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("rank a city")},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "ranking", Schema: schema},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != `{"city":"Paris","rank":5}` {
		t.Errorf("JSON answer = %s", got)
	}

	resp, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:           "o4-mini",
		Messages:        []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three four five six")},
		MaxTokens:       openai.Int(3),
		ReasoningEffort: shared.ReasoningEffortLow,
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].FinishReason != "length" || resp.Usage.CompletionTokens != 3 || resp.Usage.CompletionTokensDetails.ReasoningTokens != 3 || resp.Choices[0].Message.Content != "" {
		t.Errorf("reasoning within 3 tokens: finish %q content %q usage %+v", resp.Choices[0].FinishReason, resp.Choices[0].Message.Content, resp.Usage)
	}

	resp, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("alpha beta STOP gamma")},
		Stop:     openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"STOP", "beta"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "Echo: alpha " || resp.Choices[0].FinishReason != "stop" {
		t.Errorf("stop sequence: %q (%s)", got, resp.Choices[0].FinishReason)
	}
}

func TestOpenAI_Embeddings(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newOpenAIClient(ts.URL)
	ctx := context.Background()
	var vectors [2][][]float64
	for i, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
		resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model:          "text-embedding-3-small",
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"hello", "world"}},
			EncodingFormat: format,
			Dimensions:     openai.Int(5),
		})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if len(resp.Data) != 2 || resp.Usage.PromptTokens != 2 {
			t.Fatalf("%s: %d vectors, usage %+v", format, len(resp.Data), resp.Usage)
		}
		for _, d := range resp.Data {
			if len(d.Embedding) != 5 {
				t.Errorf("%s: %d dimensions, want 5", format, len(d.Embedding))
			}
			norm := 0.0
			for _, x := range d.Embedding {
				norm += x * x
			}
			if math.Abs(norm-1) > 1e-5 {
				t.Errorf("%s: |v|² = %v, want 1", format, norm)
			}
			vectors[i] = append(vectors[i], d.Embedding)
		}
	}
	if diff := cmp.Diff(vectors[0], vectors[1]); diff != "" {
		t.Errorf("float and base64 encodings differ (-float +base64):\n%s", diff)
	}
	if cmp.Equal(vectors[0][0], vectors[0][1]) {
		t.Error("different inputs gave the same vector")
	}
	resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data[0].Embedding) != 8 {
		t.Errorf("default dimensions = %d, want 8", len(resp.Data[0].Embedding))
	}
	// The 5-dimension vector is the 8-dimension one cut and renormalized.
	ratio := resp.Data[0].Embedding[0] / vectors[0][0][0]
	for k := range 5 {
		if r := resp.Data[0].Embedding[k] / vectors[0][0][k]; math.Abs(r-ratio) > 1e-4 {
			t.Errorf("dimension %d: ratio %v, want %v", k, r, ratio)
		}
	}
}

func TestOpenAI_Models(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newOpenAIClient(ts.URL)
	page, err := client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) == 0 || page.Data[0].Object != "model" {
		t.Errorf("models = %+v", page.Data)
	}
	m, err := client.Models.Get(context.Background(), "my-fine-tune")
	if err != nil || m.ID != "my-fine-tune" {
		t.Errorf("model = %+v, %v", m, err)
	}
}

func TestOpenAI_Errors(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newOpenAIClient(ts.URL, option.WithAPIKey("wrong-key-123456"))
	_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Code != "invalid_api_key" || apiErr.Type != "invalid_request_error" {
		t.Fatalf("wrong key: %v", err)
	}
	for _, tc := range []struct {
		name, body string
		status     int
		param      string
	}{
		{"malformed", `{"model":`, http.StatusBadRequest, ""},
		{"unknown_field", `{"model":"m","messages":[{"role":"user","content":"x"}],"bogus":1}`, http.StatusBadRequest, "bogus"},
		{"no_messages", `{"model":"m","messages":[]}`, http.StatusBadRequest, "messages"},
		{"orphan_tool_result", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"call_1","content":"r"}]}`, http.StatusBadRequest, ""},
		{"unanswered_call", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"user","content":"y"}]}`, http.StatusBadRequest, ""},
		{"n_choices", `{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}`, http.StatusBadRequest, "n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, "POST", ts.URL+"/openai/v1/chat/completions", map[string]string{"Authorization": "Bearer " + testKey}, tc.body)
			if status != tc.status {
				t.Fatalf("status %d: %s", status, body)
			}
			e, _ := decode(t, body)["error"].(map[string]any)
			if e == nil || e["type"] != "invalid_request_error" || e["message"] == "" {
				t.Fatalf("error body %s", body)
			}
			if tc.param != "" && e["param"] != tc.param {
				t.Errorf("param = %v, want %s", e["param"], tc.param)
			}
		})
	}
	status, _, body := do(t, "GET", ts.URL+"/openai/v1/nothing-here", map[string]string{"Authorization": "Bearer " + testKey}, "")
	if status != http.StatusNotFound || decode(t, body)["error"] == nil {
		t.Errorf("unknown path: %d %s", status, body)
	}
}

func newAzureClient(ts string) openai.Client {
	return openai.NewClient(
		azure.WithEndpoint(ts+"/azure", "2024-10-21"),
		azure.WithAPIKey(testKey),
		azure.WithUnsafeAllowHTTP(),
		option.WithMaxRetries(0),
	)
}

func TestAzure_ChatAndStream(t *testing.T) {
	s, ts := newTestServer(t, Options{})
	client := newAzureClient(ts.URL)
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:    "my-gpt4o-deployment",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hi Azure")},
	}
	resp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; !strings.HasPrefix(got, "Echo: Hi Azure [turns=1") {
		t.Errorf("content = %q", got)
	}
	if _, ok := resp.JSON.ExtraFields["prompt_filter_results"]; !ok {
		t.Errorf("no prompt_filter_results in %s", resp.RawJSON())
	}

	stream := client.Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	first := true
	for stream.Next() {
		ch := stream.Current()
		if first {
			if len(ch.Choices) != 0 || !strings.Contains(ch.RawJSON(), "prompt_filter_results") {
				t.Errorf("first chunk = %s, want Azure's prompt filter chunk", ch.RawJSON())
			}
			first = false
			continue
		}
		if !strings.Contains(ch.RawJSON(), "content_filter_results") {
			t.Errorf("chunk without content_filter_results: %s", ch.RawJSON())
		}
		acc.AddChunk(ch)
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.Choices[0].Message.Content != resp.Choices[0].Message.Content {
		t.Errorf("stream %q vs plain %q", acc.Choices[0].Message.Content, resp.Choices[0].Message.Content)
	}
	for _, r := range s.Records() {
		if r.Cloud != "azure" || r.Model != "my-gpt4o-deployment" || !strings.HasPrefix(r.Path, "/azure/openai/deployments/my-gpt4o-deployment/chat/completions") {
			t.Errorf("record = %+v", r)
		}
	}
}

func TestAzure_EmbeddingsAndRoutes(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	client := newAzureClient(ts.URL)
	resp, err := client.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "embed-deployment",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{1, 2, 3}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 1 || len(resp.Data[0].Embedding) != 8 || resp.Usage.PromptTokens != 3 || resp.Model != "embed-deployment" {
		t.Errorf("embeddings = %+v", resp)
	}

	body := `{"messages":[{"role":"user","content":"hi"}]}`
	status, _, b := do(t, "POST", ts.URL+"/azure/openai/deployments/d1/chat/completions", map[string]string{"api-key": testKey}, body)
	if status != http.StatusNotFound || string(b) != `{"error":{"code":"404","message":"Resource not found"}}` && !strings.Contains(string(b), `"Resource not found"`) {
		t.Errorf("missing api-version: %d %s", status, b)
	}
	status, _, b = do(t, "POST", ts.URL+"/azure/openai/deployments/d1/chat/completions?api-version=2024-10-21", map[string]string{"api-key": "nope"}, body)
	if e, _ := decode(t, b)["error"].(map[string]any); status != http.StatusUnauthorized || e["code"] != "401" {
		t.Errorf("wrong key: %d %s", status, b)
	}
	status, _, b = do(t, "POST", ts.URL+"/azure/openai/deployments/d1/chat/completions?api-version=2024-10-21", map[string]string{"Authorization": "Bearer " + testKey}, body)
	if status != http.StatusOK || decode(t, b)["model"] != "d1" {
		t.Errorf("deployment without model in body: %d %s", status, b)
	}
	status, _, b = do(t, "POST", ts.URL+"/azure/openai/v1/chat/completions", map[string]string{"api-key": testKey}, `{"model":"d2","messages":[{"role":"user","content":"hi"}]}`)
	if status != http.StatusOK || decode(t, b)["model"] != "d2" {
		t.Errorf("v1 route: %d %s", status, b)
	}
}
