package openai

// These tests put the front-door codecs between the official openai-go SDK
// and a canned answer: the SDK's requests must decode, and what the
// encoders write must be what the SDK accepts and accumulates.

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider/providertest"
	"switchyard/internal/sse"
)

// sdkClient returns an SDK client whose requests h answers.
func sdkClient(t *testing.T, h http.HandlerFunc) sdk.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return sdk.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0),
		option.WithHTTPClient(srv.Client()))
}

// decodeSDKRequest decodes what the SDK sent with the front-door codec.
func decodeSDKRequest(t *testing.T, r *http.Request) (*ChatRequest, *llm.Request) {
	t.Helper()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	cr, err := DecodeChatRequest(body)
	if err != nil {
		t.Errorf("DecodeChatRequest(%s): %v", body, err)
		return nil, nil
	}
	req, err := RequestToLLM(cr)
	if err != nil {
		t.Errorf("RequestToLLM(%s): %v", body, err)
	}
	return cr, req
}

func sdkParams() sdk.ChatCompletionNewParams {
	return sdk.ChatCompletionNewParams{
		Model: "gpt-test",
		Messages: []sdk.ChatCompletionMessageParamUnion{
			sdk.SystemMessage("Be brief."),
			sdk.UserMessage("Weather in Paris?"),
		},
		Tools: []sdk.ChatCompletionToolUnionParam{sdk.ChatCompletionFunctionTool(sdk.FunctionDefinitionParam{
			Name:       "get_weather",
			Parameters: sdk.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})},
		Temperature: sdk.Float(0.5),
	}
}

func TestStreamEncoder_SDK(t *testing.T) {
	events := []llm.Event{
		{Kind: llm.EventStart, ID: "chatcmpl-sdk", Model: "upstream"},
		{Kind: llm.EventReasoningDelta, Index: 0, Text: "hmm"},
		{Kind: llm.EventTextDelta, Index: 1, Text: "Let me "},
		{Kind: llm.EventTextDelta, Index: 1, Text: "check."},
		{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{ID: "call_1", Name: "get_weather", Arguments: `{"city"`}},
		{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{Arguments: `:"Paris"}`}},
		{Kind: llm.EventToolCallDelta, Index: 3, ToolCall: &llm.ToolCallDelta{ID: "call_2", Name: "get_time"}},
		{Kind: llm.EventStop, FinishReason: llm.FinishToolCalls, Usage: &llm.Usage{InputTokens: 30, OutputTokens: 12, CachedInputTokens: 8, ReasoningTokens: 3}},
	}
	for _, includeUsage := range []bool{false, true} {
		name := "without_usage"
		if includeUsage {
			name = "with_usage"
		}
		t.Run(name, func(t *testing.T) {
			client := sdkClient(t, func(w http.ResponseWriter, r *http.Request) {
				cr, req := decodeSDKRequest(t, r)
				if req == nil || !req.Stream || (cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage) != includeUsage {
					t.Errorf("streamed request decoded as %+v", cr)
				}
				payloads, err := encodeAll(NewStreamEncoder("chatcmpl-sdk", "gpt-test", testCreated, includeUsage), events)
				if err != nil {
					t.Error(err)
					return
				}
				sw := sse.NewWriter(w)
				for _, p := range payloads {
					if err := sw.Event("", p); err != nil {
						t.Error(err)
					}
				}
			})
			params := sdkParams()
			if includeUsage {
				params.StreamOptions = sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)}
			}
			stream := client.Chat.Completions.NewStreaming(context.Background(), params)
			var acc sdk.ChatCompletionAccumulator
			chunks := 0
			for stream.Next() {
				chunks++
				if !acc.AddChunk(stream.Current()) {
					t.Fatalf("the SDK accumulator refused chunk %d: %s", chunks, stream.Current().RawJSON())
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream error: %v", err)
			}
			got := acc.ChatCompletion
			if got.ID != "chatcmpl-sdk" || got.Model != "gpt-test" || got.Created != testCreated.Unix() || len(got.Choices) != 1 {
				t.Fatalf("accumulated %s", got.RawJSON())
			}
			msg := got.Choices[0].Message
			type call struct{ ID, Name, Args string }
			var calls []call
			for _, tc := range msg.ToolCalls {
				calls = append(calls, call{tc.ID, tc.Function.Name, tc.Function.Arguments})
			}
			wantCalls := []call{{"call_1", "get_weather", `{"city":"Paris"}`}, {"call_2", "get_time", "{}"}}
			if msg.Content != "Let me check." || msg.Role != "assistant" || got.Choices[0].FinishReason != "tool_calls" {
				t.Errorf("message %q role %q finish %q", msg.Content, msg.Role, got.Choices[0].FinishReason)
			}
			if diff := cmp.Diff(wantCalls, calls); diff != "" {
				t.Errorf("tool calls (-want +got):\n%s", diff)
			}
			wantUsage := [4]int64{}
			if includeUsage {
				wantUsage = [4]int64{30, 12, 8, 3}
			}
			u := got.Usage
			if gotUsage := [4]int64{u.PromptTokens, u.CompletionTokens, u.PromptTokensDetails.CachedTokens, u.CompletionTokensDetails.ReasoningTokens}; gotUsage != wantUsage {
				t.Errorf("usage = %v, want %v", gotUsage, wantUsage)
			}
		})
	}
}

func TestErrorChunk_SDK(t *testing.T) {
	client := sdkClient(t, func(w http.ResponseWriter, r *http.Request) {
		sw := sse.NewWriter(w)
		enc := NewStreamEncoder("chatcmpl-e", "gpt-test", testCreated, true)
		payloads, _ := enc.Encode(llm.Event{Kind: llm.EventTextDelta, Text: "partial"})
		for _, p := range payloads {
			_ = sw.Event("", p)
		}
		_ = sw.Event("", ErrorChunk("The upstream channel failed to answer.", "server_error", ""))
	})
	stream := client.Chat.Completions.NewStreaming(context.Background(), sdkParams())
	chunks := 0
	for stream.Next() {
		chunks++
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "The upstream channel failed to answer.") {
		t.Errorf("stream error = %v, want the error chunk's message", err)
	}
	if chunks != 2 {
		t.Errorf("%d chunks before the error, want 2", chunks)
	}
}

func TestResponseFromLLM_SDK(t *testing.T) {
	for _, name := range providertest.Cases(t, "testdata/response", ".upstream.json") {
		t.Run(name, func(t *testing.T) {
			var resp llm.Response
			if err := json.Unmarshal(readFile(t, "testdata/response/"+name+".llm.json"), &resp); err != nil {
				t.Fatal(err)
			}
			client := sdkClient(t, func(w http.ResponseWriter, r *http.Request) {
				if _, req := decodeSDKRequest(t, r); req == nil || req.Stream {
					t.Error("non-streamed request decoded wrong")
				}
				w.Header().Set("Content-Type", "application/json")
				if err := json.NewEncoder(w).Encode(ResponseFromLLM(&resp, "gpt-test", testCreated)); err != nil {
					t.Error(err)
				}
			})
			got, err := client.Chat.Completions.New(context.Background(), sdkParams())
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Choices) != 1 || got.Object != "chat.completion" || got.Model != "gpt-test" || !strings.HasPrefix(got.ID, "chatcmpl-") {
				t.Fatalf("SDK read %s", got.RawJSON())
			}
			// What the SDK read must be what the canonical response says.
			var text string
			for _, p := range resp.Message.Parts {
				if p.Kind == llm.PartText {
					text += p.Text
				}
			}
			m := got.Choices[0].Message
			if m.Content != text || m.JSON.Refusal.Raw() != "null" || m.JSON.Annotations.Raw() != "[]" {
				t.Errorf("message = %s", m.RawJSON())
			}
			if want := finishFromLLM(resp.FinishReason); got.Choices[0].FinishReason != want {
				t.Errorf("finish_reason = %q, want %q", got.Choices[0].FinishReason, want)
			}
			if got.Usage.PromptTokens != resp.Usage.InputTokens || got.Usage.TotalTokens != resp.Usage.Total() ||
				got.Usage.PromptTokensDetails.CachedTokens != resp.Usage.CachedInputTokens {
				t.Errorf("usage = %s", got.Usage.RawJSON())
			}
			var calls int
			for _, p := range resp.Message.Parts {
				if p.Kind != llm.PartToolCall {
					continue
				}
				tc := m.ToolCalls[calls]
				if tc.ID != p.ToolCall.ID || tc.Function.Name != p.ToolCall.Name || !json.Valid([]byte(tc.Function.Arguments)) {
					t.Errorf("tool call %d = %s", calls, tc.RawJSON())
				}
				calls++
			}
			if calls != len(m.ToolCalls) {
				t.Errorf("%d tool calls, want %d", len(m.ToolCalls), calls)
			}
		})
	}
}

func TestEmbeddingResponseFromLLM_SDK(t *testing.T) {
	vectors := [][]float32{{0.25, -1.5, 3e-7}, {1, 0, -0.125}}
	for _, format := range []sdk.EmbeddingNewParamsEncodingFormat{sdk.EmbeddingNewParamsEncodingFormatFloat, sdk.EmbeddingNewParamsEncodingFormatBase64} {
		t.Run(string(format), func(t *testing.T) {
			client := sdkClient(t, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				er, err := DecodeEmbeddingRequest(body)
				if err != nil {
					t.Error(err)
					return
				}
				req, err := EmbeddingRequestToLLM(er)
				if err != nil || len(req.Inputs) != 2 || er.EncodingFormat != string(format) {
					t.Errorf("decoded %+v, %v", req, err)
				}
				resp := &llm.EmbedResponse{Model: "upstream", Vectors: vectors, Usage: llm.Usage{InputTokens: 6}}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(EmbeddingResponseFromLLM(resp, "emb-test", er.EncodingFormat))
			})
			got, err := client.Embeddings.New(context.Background(), sdk.EmbeddingNewParams{
				Model:          "emb-test",
				Input:          sdk.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
				EncodingFormat: format,
			})
			if err != nil {
				t.Fatal(err)
			}
			var back [][]float32
			for _, e := range got.Data {
				v := make([]float32, len(e.Embedding))
				for i, f := range e.Embedding {
					v[i] = float32(f)
				}
				back = append(back, v)
			}
			if diff := cmp.Diff(vectors, back); diff != "" || got.Model != "emb-test" || got.Usage.PromptTokens != 6 {
				t.Errorf("SDK read %s; vectors (-want +got):\n%s", got.RawJSON(), diff)
			}
		})
	}
}
