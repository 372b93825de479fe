package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	openaisdk "github.com/openai/openai-go/v3"
	openaioption "github.com/openai/openai-go/v3/option"

	"switchyard/internal/admin"
	"switchyard/internal/fakecloud"
	"switchyard/internal/syncbuf"
	"switchyard/internal/telemetry"
)

// accessLog returns the access log entries ("msg":"request") in logs.
func accessLog(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if e["msg"] == "request" {
			out = append(out, e)
		}
	}
	return out
}

// A stream that fails before its first byte is still logged as a stream:
// the access log records what the client asked for.
func TestAccessLog_StreamFailedBeforeFirstByte(t *testing.T) {
	var logs syncbuf.Buffer
	h := newHarness(t, func(c *harnessConfig) { c.log = telemetry.NewLogger(&logs, 0) })
	h.cloud.SetFaults("openai", fakecloud.Faults{FailRate: 1, FailStatus: 500})
	c := openaisdk.NewClient(openaioption.WithBaseURL(h.URL+"/v1"), openaioption.WithAPIKey(h.key.Secret), openaioption.WithMaxRetries(0))
	s := c.Chat.Completions.NewStreaming(context.Background(), openaisdk.ChatCompletionNewParams{
		Model: "via-openai", Messages: []openaisdk.ChatCompletionMessageParamUnion{openaisdk.UserMessage("hi")}})
	for s.Next() {
	}
	var apiErr *openaisdk.Error
	if err := s.Err(); !errors.As(err, &apiErr) || apiErr.StatusCode < 500 {
		t.Fatalf("stream error = %v, want a 5xx before the first byte", err)
	}
	entries := accessLog(t, logs.String())
	if len(entries) != 1 || entries[0]["stream"] != true || entries[0]["model"] != "via-openai" {
		t.Errorf("access log %v, want one entry with model via-openai and stream true", entries)
	}
}

// OpenAI names what ran out in a rate limit's type: "tokens" for a
// tokens-per-minute limit (an RPM limit's "requests" is checked by
// TestLimits_RateLimit), with the code rate_limit_exceeded.
func TestOpenAIRateLimit_TokensType(t *testing.T) {
	h := newHarness(t)
	key := h.issue(t, admin.KeySpec{Tenant: "acme", Name: "tpm", Limits: admin.Limits{TPM: 5}})
	c := openaisdk.NewClient(openaioption.WithBaseURL(h.URL+"/v1"), openaioption.WithAPIKey(key.Secret), openaioption.WithMaxRetries(0))
	_, err := c.Chat.Completions.New(context.Background(), openaisdk.ChatCompletionNewParams{Model: "via-openai",
		Messages: []openaisdk.ChatCompletionMessageParamUnion{openaisdk.UserMessage(strings.Repeat("many words ", 50))}})
	var e *openaisdk.Error
	if !errors.As(err, &e) || e.StatusCode != 429 || e.Type != "tokens" || e.Code != "rate_limit_exceeded" {
		t.Fatalf("error %v, want 429 with type tokens and code rate_limit_exceeded", err)
	}
}

// Every Anthropic answer, whichever channel served it, has a msg_ id and
// a request-id header, as the API's do: the SDKs read the request id of
// successful answers too.
func TestAnthropicAnswers_IDs(t *testing.T) {
	h := newHarness(t)
	c := clientV1(h, h.key.Secret)
	params := anthropic.MessageNewParams{Model: "via-openai", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))}}
	for _, model := range []string{"via-anthropic", "via-openai", "via-bedrock", "via-gemini", "via-azure"} {
		params.Model = anthropic.Model(model)
		t.Run(model, func(t *testing.T) {
			var raw *http.Response
			m, err := c.Messages.New(context.Background(), params, option.WithResponseInto(&raw))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(m.ID, "msg_") || len(m.ID) < 10 || strings.ContainsAny(m.ID, "-:") {
				t.Errorf("message id %q, want msg_ and letters, digits or _", m.ID)
			}
			if raw.Header.Get("Request-Id") == "" {
				t.Error("no request-id header on a successful answer")
			}

			s := c.Messages.NewStreaming(context.Background(), params, option.WithResponseInto(&raw))
			var acc anthropic.Message
			for s.Next() {
				if err := acc.Accumulate(s.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(acc.ID, "msg_") || len(acc.ID) < 10 || strings.ContainsAny(acc.ID, "-:") {
				t.Errorf("streamed message id %q, want msg_ and letters, digits or _", acc.ID)
			}
			if raw.Header.Get("Request-Id") == "" {
				t.Error("no request-id header on a successful stream")
			}
		})
	}
}

// message_start reports the prompt's token count: the channel's own when
// it tells it before the first event (Anthropic, Gemini, Claude's invoke
// stream on Bedrock), the gateway's estimate
// when the channel reports usage only at the end (then message_delta
// carries the exact count, which the accumulator keeps).
func TestAnthropicStream_MessageStartInputTokens(t *testing.T) {
	h := newHarness(t)
	c := clientV1(h, h.key.Secret)
	prompt := strings.Repeat("Tell me about the weather in Paris. ", 20)
	for _, model := range []string{"via-anthropic", "via-bedrock", "via-openai", "via-gemini"} {
		t.Run(model, func(t *testing.T) {
			s := c.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 100,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}})
			var start int64 = -1
			var acc anthropic.Message
			for s.Next() {
				ev := s.Current()
				if ev.Type == "message_start" {
					start = ev.Message.Usage.InputTokens
				}
				if err := acc.Accumulate(ev); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			final := acc.Usage.InputTokens
			if final <= 0 {
				t.Fatalf("final input tokens %d", final)
			}
			if model != "via-openai" && start != final {
				t.Errorf("message_start input_tokens %d, want the channel's own count %d", start, final)
			}
			// An estimate: well above zero, within a factor of two.
			if start <= final/2 || start >= final*2 {
				t.Errorf("message_start input_tokens %d, want near the exact %d", start, final)
			}
		})
	}
}
