package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	anthropic2 "github.com/anthropics/anthropic-sdk-go/v2"
	option2 "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/google/go-cmp/cmp"

	"switchyard/internal/admin"
	"switchyard/internal/fakecloud"
	"switchyard/internal/sse"
)

// The Anthropic front door proven with both live majors of the official
// Go SDK: v1 speaks API 2023-06-01 with x-api-key, v2 speaks 2026-10-21
// with Authorization: Bearer. Each version runs the same scenarios; the
// answers are compared through sdkAnswer, which both map onto.

// sdkAnswer is what the scenarios check in a Messages answer.
type sdkAnswer struct {
	text                string
	thinking, signature string
	calls               []sdkCall
	stop                string
	in, out             int64
	cacheRead, cacheNew int64
}

type sdkCall struct {
	id, name string
	input    json.RawMessage
}

func answerV1(m *anthropic.Message) sdkAnswer {
	a := sdkAnswer{stop: string(m.StopReason), in: m.Usage.InputTokens, out: m.Usage.OutputTokens,
		cacheRead: m.Usage.CacheReadInputTokens, cacheNew: m.Usage.CacheCreationInputTokens}
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			a.text += b.Text
		case "thinking":
			a.thinking, a.signature = a.thinking+b.Thinking, b.Signature
		case "tool_use":
			a.calls = append(a.calls, sdkCall{b.ID, b.Name, b.Input})
		}
	}
	return a
}

func answerV2(m *anthropic2.Message) sdkAnswer {
	a := sdkAnswer{stop: string(m.StopReason), in: m.Usage.InputTokens, out: m.Usage.OutputTokens,
		cacheRead: m.Usage.CacheReadInputTokens, cacheNew: m.Usage.CacheCreationInputTokens}
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			a.text += b.Text
		case "thinking":
			a.thinking, a.signature = a.thinking+b.Thinking, b.Signature
		case "tool_use":
			a.calls = append(a.calls, sdkCall{b.ID, b.Name, b.Input})
		}
	}
	return a
}

// checkEcho checks a plain answer to prompt.
func checkEcho(t *testing.T, a sdkAnswer, prompt string) {
	t.Helper()
	if !strings.HasPrefix(a.text, "Echo: "+prompt) {
		t.Errorf("text %q does not echo %q", a.text, prompt)
	}
	if a.stop != "end_turn" || a.in == 0 || a.out == 0 {
		t.Errorf("stop %q usage in=%d out=%d", a.stop, a.in, a.out)
	}
}

// checkWeatherCall checks an answer that must be one get_weather call.
func checkWeatherCall(t *testing.T, a sdkAnswer) sdkCall {
	t.Helper()
	if len(a.calls) != 1 || a.calls[0].name != "get_weather" || a.calls[0].id == "" || a.stop != "tool_use" {
		t.Fatalf("calls %+v stop %q", a.calls, a.stop)
	}
	var args map[string]any
	if err := json.Unmarshal(a.calls[0].input, &args); err != nil || args["city"] == nil || args["unit"] == nil {
		t.Errorf("input %s does not satisfy the schema (%v)", a.calls[0].input, err)
	}
	return a.calls[0]
}

var weatherProperties = map[string]any{
	"city": map[string]any{"type": "string"},
	"unit": map[string]any{"type": "string", "enum": []string{"c", "f"}},
}

func clientV1(h *harness, key string, opts ...option.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]option.RequestOption{option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(h.URL), option.WithAPIKey(key), option.WithMaxRetries(0)}, opts...)...)
}

func clientV2(h *harness, key string, opts ...option2.RequestOption) anthropic2.Client {
	return anthropic2.NewClient(append([]option2.RequestOption{option2.WithoutEnvironmentDefaults(),
		option2.WithBaseURL(h.URL), option2.WithAPIKey(key), option2.WithMaxRetries(0)}, opts...)...)
}

func TestAnthropicSDK_V1(t *testing.T) {
	h := newHarness(t)
	c := clientV1(h, h.key.Secret)
	ctx := context.Background()
	user := func(s string) []anthropic.MessageParam {
		return []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(s))}
	}
	weather := []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather", Description: anthropic.String("Current weather"),
		InputSchema: anthropic.ToolInputSchemaParam{Properties: weatherProperties, Required: []string{"city", "unit"}}}}}

	t.Run("plain", func(t *testing.T) {
		var raw *http.Response
		m, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: sonnet, MaxTokens: 200, Messages: user("Hello Claude"),
			Temperature: anthropic.Float(0.3)}, option.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		checkEcho(t, answerV1(m), "Hello Claude")
		if m.Model != sonnet || m.Type != "message" || m.Role != "assistant" || !strings.HasPrefix(m.ID, "msg_") {
			t.Errorf("message %+v", m)
		}
		if raw.Header.Get("Request-Id") == "" && raw.Header.Get("X-Request-Id") == "" {
			t.Errorf("no request id in %v", raw.Header)
		}
		h.records(t, 1)
	})
	t.Run("stream", func(t *testing.T) {
		s := c.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: sonnet, MaxTokens: 200, Messages: user("Stream to Claude")})
		var m anthropic.Message
		var startIn int64 = -1
		events := 0
		for s.Next() {
			if ev := s.Current(); ev.Type == "message_start" {
				startIn = ev.AsMessageStart().Message.Usage.InputTokens
			}
			if err := m.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
			events++
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		checkEcho(t, answerV1(&m), "Stream to Claude")
		// message_start already tells the input count, as the API does.
		if startIn != m.Usage.InputTokens {
			t.Errorf("message_start input_tokens %d, final %d", startIn, m.Usage.InputTokens)
		}
		if events < 6 {
			t.Errorf("%d events", events)
		}
		h.records(t, 1)
	})
	t.Run("tools", func(t *testing.T) {
		params := anthropic.MessageNewParams{Model: sonnet, MaxTokens: 300, Messages: user("What's the weather in Paris? Call get_weather."),
			Tools: weather, ToolChoice: anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}}}
		m, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		call := checkWeatherCall(t, answerV1(m))

		s := c.Messages.NewStreaming(ctx, params)
		var sm anthropic.Message
		for s.Next() {
			if err := sm.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		checkWeatherCall(t, answerV1(&sm))

		params.Messages = append(params.Messages, m.ToParam(),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(call.id, `{"temperature":21}`, false)))
		params.ToolChoice = anthropic.ToolChoiceUnionParam{OfAuto: &anthropic.ToolChoiceAutoParam{}}
		final, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if a := answerV1(final); !strings.Contains(a.text, "get_weather returned") || !strings.Contains(a.text, "21") || a.stop != "end_turn" {
			t.Errorf("final %+v", a)
		}
		h.records(t, 3)
	})
	t.Run("system_blocks_and_cache", func(t *testing.T) {
		long := strings.Repeat("You answer questions about the weather. ", 40)
		params := anthropic.MessageNewParams{Model: sonnet, MaxTokens: 200, Messages: user("cache me"),
			System: []anthropic.TextBlockParam{{Text: "Be brief."}, {Text: long, CacheControl: anthropic.NewCacheControlEphemeralParam()}}}
		first, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		second, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		a1, a2 := answerV1(first), answerV1(second)
		checkEcho(t, a2, "cache me")
		if a1.cacheNew == 0 || a2.cacheRead == 0 || a2.cacheRead != a1.cacheNew {
			t.Errorf("cache writes %d then reads %d", a1.cacheNew, a2.cacheRead)
		}
		h.records(t, 2)
	})
	t.Run("thinking", func(t *testing.T) {
		params := anthropic.MessageNewParams{Model: sonnet, MaxTokens: 2000, Messages: user("Think first"),
			Thinking: anthropic.ThinkingConfigParamOfEnabled(1024)}
		m, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		a := answerV1(m)
		if a.thinking == "" || a.signature == "" || !strings.HasPrefix(a.text, "Echo: Think first") {
			t.Fatalf("answer %+v", a)
		}
		// The signed thinking block goes back with the next turn and the
		// upstream accepts its signature.
		params.Messages = append(params.Messages, m.ToParam(), anthropic.NewUserMessage(anthropic.NewTextBlock("And again")))
		s := c.Messages.NewStreaming(ctx, params)
		var sm anthropic.Message
		for s.Next() {
			if err := sm.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if sa := answerV1(&sm); sa.thinking == "" || sa.signature == "" || !strings.HasPrefix(sa.text, "Echo: And again") {
			t.Errorf("streamed answer %+v", sa)
		}
		h.records(t, 2)
	})
	t.Run("count_tokens", func(t *testing.T) {
		short, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: sonnet, Messages: user("hi")})
		if err != nil {
			t.Fatal(err)
		}
		long, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: sonnet, Messages: user(strings.Repeat("many words ", 100)),
			Tools: []anthropic.MessageCountTokensToolUnionParam{{OfTool: weather[0].OfTool}}})
		if err != nil {
			t.Fatal(err)
		}
		if short.InputTokens <= 0 || long.InputTokens <= short.InputTokens {
			t.Errorf("short %d long %d", short.InputTokens, long.InputTokens)
		}
		// sonnet's first channel counts.
		for _, rec := range h.records(t, 2) {
			if rec.Cloud != "anthropic" || !strings.HasSuffix(rec.Path, "/count_tokens") {
				t.Errorf("count went to %s %s", rec.Cloud, rec.Path)
			}
		}
	})
	t.Run("models", func(t *testing.T) {
		page, err := c.Models.List(ctx, anthropic.ModelListParams{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			if m.Type != "model" || m.DisplayName == "" || m.CreatedAt.IsZero() {
				t.Errorf("model %+v", m)
			}
			ids = append(ids, m.ID)
		}
		if len(ids) != len(harnessModels()) || page.HasMore || page.FirstID != ids[0] || page.LastID != ids[len(ids)-1] {
			t.Errorf("models %v has_more %v first %q last %q", ids, page.HasMore, page.FirstID, page.LastID)
		}
		m, err := c.Models.Get(ctx, sonnet, anthropic.ModelGetParams{})
		if err != nil || m.ID != sonnet || m.Type != "model" {
			t.Errorf("get %+v %v", m, err)
		}
	})
}

func TestAnthropicSDK_V2(t *testing.T) {
	h := newHarness(t)
	c := clientV2(h, h.key.Secret)
	ctx := context.Background()
	user := func(s string) []anthropic2.MessageParam {
		return []anthropic2.MessageParam{anthropic2.NewUserMessage(anthropic2.NewTextBlock(s))}
	}
	weather := []anthropic2.ToolUnionParam{{OfTool: &anthropic2.ToolParam{Name: "get_weather", Description: anthropic2.String("Current weather"),
		InputSchema: anthropic2.ToolInputSchemaParam{Properties: weatherProperties, Required: []string{"city", "unit"}}}}}

	t.Run("plain", func(t *testing.T) {
		m, err := c.Messages.New(ctx, anthropic2.MessageNewParams{Model: sonnet, MaxTokens: 200, Messages: user("Hello Claude")})
		if err != nil {
			t.Fatal(err)
		}
		checkEcho(t, answerV2(m), "Hello Claude")
		if m.Model != sonnet || m.Type != "message" || m.Role != "assistant" {
			t.Errorf("message %+v", m)
		}
		h.records(t, 1)
	})
	t.Run("stream", func(t *testing.T) {
		s := c.Messages.NewStreaming(ctx, anthropic2.MessageNewParams{Model: sonnet, MaxTokens: 200, Messages: user("Stream to Claude")})
		var m anthropic2.Message
		for s.Next() {
			if err := m.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		checkEcho(t, answerV2(&m), "Stream to Claude")
		h.records(t, 1)
	})
	t.Run("tools", func(t *testing.T) {
		params := anthropic2.MessageNewParams{Model: sonnet, MaxTokens: 300, Messages: user("What's the weather in Paris? Call get_weather."),
			Tools: weather, ToolChoice: anthropic2.ToolChoiceUnionParam{OfAny: &anthropic2.ToolChoiceAnyParam{}}}
		m, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		call := checkWeatherCall(t, answerV2(m))

		s := c.Messages.NewStreaming(ctx, params)
		var sm anthropic2.Message
		for s.Next() {
			if err := sm.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		checkWeatherCall(t, answerV2(&sm))

		params.Messages = append(params.Messages, m.ToParam(),
			anthropic2.NewUserMessage(anthropic2.NewToolResultBlock(call.id, `{"temperature":21}`, false)))
		params.ToolChoice = anthropic2.ToolChoiceUnionParam{OfAuto: &anthropic2.ToolChoiceAutoParam{}}
		final, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if a := answerV2(final); !strings.Contains(a.text, "get_weather returned") || !strings.Contains(a.text, "21") {
			t.Errorf("final %+v", a)
		}
		h.records(t, 3)
	})
	t.Run("system_blocks_and_cache", func(t *testing.T) {
		long := strings.Repeat("You answer questions about the weather. ", 40)
		params := anthropic2.MessageNewParams{Model: sonnet, MaxTokens: 200, Messages: user("cache me"),
			System: []anthropic2.TextBlockParam{{Text: "Be brief."}, {Text: long, CacheControl: anthropic2.NewCacheControlEphemeralParam()}}}
		first, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		second, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		a1, a2 := answerV2(first), answerV2(second)
		checkEcho(t, a2, "cache me")
		if a1.cacheNew == 0 || a2.cacheRead != a1.cacheNew {
			t.Errorf("cache writes %d then reads %d", a1.cacheNew, a2.cacheRead)
		}
		h.records(t, 2)
	})
	t.Run("thinking", func(t *testing.T) {
		params := anthropic2.MessageNewParams{Model: sonnet, MaxTokens: 2000, Messages: user("Think first"),
			Thinking: anthropic2.ThinkingConfigParamOfEnabled(1024)}
		m, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if a := answerV2(m); a.thinking == "" || a.signature == "" {
			t.Fatalf("answer %+v", a)
		}
		params.Messages = append(params.Messages, m.ToParam(), anthropic2.NewUserMessage(anthropic2.NewTextBlock("And again")))
		next, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if a := answerV2(next); a.thinking == "" || !strings.HasPrefix(a.text, "Echo: And again") {
			t.Errorf("answer %+v", a)
		}
		h.records(t, 2)
	})
	t.Run("count_tokens", func(t *testing.T) {
		n, err := c.Messages.CountTokens(ctx, anthropic2.MessageCountTokensParams{Model: sonnet, Messages: user("hello there")})
		if err != nil || n.InputTokens <= 0 {
			t.Errorf("count %+v %v", n, err)
		}
	})
	t.Run("models", func(t *testing.T) {
		page, err := c.Models.List(ctx, anthropic2.ModelListParams{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != len(harnessModels()) || page.Data[0].Type != "model" {
			t.Errorf("models %+v", page.Data)
		}
	})
}

// anthropicSDK drives one SDK major in the error table.
type anthropicSDK struct {
	name string
	// send posts a one-message request with JSON edits applied.
	send func(h *harness, key, model, text string, set map[string]any, del []string) error
	// apiError reads the status and error type of an SDK error.
	apiError func(err error) (status int, typ string, ok bool)
}

var anthropicSDKs = []anthropicSDK{
	{
		name: "v1",
		send: func(h *harness, key, model, text string, set map[string]any, del []string) error {
			var opts []option.RequestOption
			for k, v := range set {
				opts = append(opts, option.WithJSONSet(k, v))
			}
			for _, k := range del {
				opts = append(opts, option.WithJSONDel(k))
			}
			c := clientV1(h, key)
			_, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 100,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))}}, opts...)
			return err
		},
		apiError: func(err error) (int, string, bool) {
			var e *anthropic.Error
			if !errors.As(err, &e) {
				return 0, "", false
			}
			return e.StatusCode, string(e.Type()), true
		},
	},
	{
		name: "v2",
		send: func(h *harness, key, model, text string, set map[string]any, del []string) error {
			var opts []option2.RequestOption
			for k, v := range set {
				opts = append(opts, option2.WithJSONSet(k, v))
			}
			for _, k := range del {
				opts = append(opts, option2.WithJSONDel(k))
			}
			c := clientV2(h, key)
			_, err := c.Messages.New(context.Background(), anthropic2.MessageNewParams{Model: anthropic2.Model(model), MaxTokens: 100,
				Messages: []anthropic2.MessageParam{anthropic2.NewUserMessage(anthropic2.NewTextBlock(text))}}, opts...)
			return err
		},
		apiError: func(err error) (int, string, bool) {
			var e *anthropic2.Error
			if !errors.As(err, &e) {
				return 0, "", false
			}
			return e.StatusCode, string(e.Type()), true
		},
	},
}

func TestAnthropicSDK_Errors(t *testing.T) {
	for _, sdk := range anthropicSDKs {
		t.Run(sdk.name, func(t *testing.T) {
			h := newHarness(t, func(c *harnessConfig) { c.maxBody = 64 << 10 })
			limited := h.issue(t, admin.KeySpec{Tenant: "acme", Name: "limited", Limits: admin.Limits{RPM: 1}})
			for _, tc := range []struct {
				name     string
				key      string
				model    string
				text     string
				set      map[string]any
				del      []string
				before   func()
				status   int
				typ      string
				upstream int // requests the clouds receive
			}{
				{name: "bad_key", key: "sk-sy-not-a-key", status: 401, typ: "authentication_error"},
				{name: "unknown_model", model: "claude-nonexistent", status: 404, typ: "not_found_error"},
				{name: "missing_max_tokens", del: []string{"max_tokens"}, status: 400, typ: "invalid_request_error"},
				{name: "too_large", text: strings.Repeat("x", 70<<10), status: 413, typ: "request_too_large"},
				{name: "rate_limit", key: limited.Secret, before: func() {
					if err := sdk.send(h, limited.Secret, sonnet, "first", nil, nil); err != nil {
						t.Fatal(err)
					}
				}, status: 429, typ: "rate_limit_error", upstream: 1},
				{name: "all_channels_overloaded", before: func() {
					h.cloud.SetFaults("anthropic", fakecloud.Faults{FailRate: 1, FailStatus: 529})
					h.cloud.SetFaults("bedrock", fakecloud.Faults{FailRate: 1, FailStatus: 503})
				}, status: 529, typ: "overloaded_error", upstream: 2},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if tc.before != nil {
						tc.before()
					}
					key, model, text := tc.key, tc.model, tc.text
					if key == "" {
						key = h.key.Secret
					}
					if model == "" {
						model = sonnet
					}
					if text == "" {
						text = "hi"
					}
					err := sdk.send(h, key, model, text, tc.set, tc.del)
					status, typ, ok := sdk.apiError(err)
					if !ok || status != tc.status || typ != tc.typ {
						t.Errorf("got %d %q (%v), want %d %q", status, typ, err, tc.status, tc.typ)
					}
					h.records(t, tc.upstream)
				})
			}
		})
	}

	// Sampling parameters are refused by API 2026-10-21 only.
	h := newHarness(t)
	for _, sdk := range anthropicSDKs {
		err := sdk.send(h, h.key.Secret, sonnet, "hi", map[string]any{"temperature": 0.5}, nil)
		switch status, typ, _ := sdk.apiError(err); sdk.name {
		case "v1":
			if err != nil {
				t.Errorf("v1 with temperature: %v", err)
			}
		case "v2":
			if status != 400 || typ != "invalid_request_error" || !strings.Contains(err.Error(), "temperature") {
				t.Errorf("v2 with temperature: %d %q %v", status, typ, err)
			}
		}
	}
	h.records(t, 1)
}

// anthropicRawStream posts a streamed Messages request and returns the
// SSE events the client received, names and data.
func anthropicRawStream(t *testing.T, h *harness, model, prompt string) []sse.Event {
	t.Helper()
	body := `{"model":` + strconv.Quote(model) + `,"max_tokens":300,"stream":true,"messages":[{"role":"user","content":` + strconv.Quote(prompt) + `}]}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, h.URL+"/v1/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", h.key.Secret)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var evs []sse.Event
	rd := sse.NewReader(resp.Body)
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		ev.Data = bytes.Clone(ev.Data)
		evs = append(evs, ev)
	}
}

func eventNames(evs []sse.Event) []string {
	var names []string
	for _, ev := range evs {
		names = append(names, ev.Type)
	}
	return names
}

// TestAnthropicStream_PingAndStartUsage checks the stream's frames as the
// API sends them: message_start with the real input count, a ping after
// the first content_block_start, then the deltas; on every kind of
// channel, with the count from the start where the upstream reports it
// there (Anthropic, Gemini, Claude's invoke stream on Bedrock) and the
// gateway's estimate where it does not (OpenAI).
func TestAnthropicStream_PingAndStartUsage(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		model      string
		startUsage bool
	}{
		{"via-anthropic", true}, {"via-gemini", true}, {"via-openai", false}, {"via-bedrock", true},
	} {
		t.Run(tc.model, func(t *testing.T) {
			evs := anthropicRawStream(t, h, tc.model, "Count my tokens")
			names := eventNames(evs)
			if diff := cmp.Diff([]string{"message_start", "content_block_start", "ping", "content_block_delta"}, names[:min(4, len(names))]); diff != "" {
				t.Errorf("first events (-want +got):\n%s", diff)
			}
			if n := strings.Count(strings.Join(names, " "), "ping"); n != 1 {
				t.Errorf("%d pings in a quick stream: %v", n, names)
			}
			var start struct {
				Message struct {
					Usage struct {
						InputTokens  int64 `json:"input_tokens"`
						OutputTokens int64 `json:"output_tokens"`
					} `json:"usage"`
				} `json:"message"`
			}
			var final struct {
				Usage struct {
					InputTokens int64 `json:"input_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal(evs[0].Data, &start); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(evs[len(evs)-2].Data, &final); err != nil || names[len(names)-2] != "message_delta" {
				t.Fatalf("next to last event %s %s (%v)", names[len(names)-2], evs[len(evs)-2].Data, err)
			}
			switch {
			case final.Usage.InputTokens == 0 || start.Message.Usage.OutputTokens != 1:
				t.Errorf("message_start usage %+v, final input %d", start.Message.Usage, final.Usage.InputTokens)
			case tc.startUsage && start.Message.Usage.InputTokens != final.Usage.InputTokens:
				t.Errorf("message_start input %d, want the channel's count %d", start.Message.Usage.InputTokens, final.Usage.InputTokens)
			case !tc.startUsage && start.Message.Usage.InputTokens <= 0:
				t.Errorf("message_start input %d, want the gateway's estimate", start.Message.Usage.InputTokens)
			}
			h.records(t, 1)
		})
	}
}

// TestAnthropicStream_KeepAlive checks that a stream whose upstream is
// slow gets pings while it waits, that the SDK still reads the answer,
// and that no ping follows message_stop.
func TestAnthropicStream_KeepAlive(t *testing.T) {
	h := newHarness(t, func(c *harnessConfig) { c.keepAlive = 15 * time.Millisecond })
	h.cloud.SetFaults("", fakecloud.Faults{TokensPerSecond: 20})
	evs := anthropicRawStream(t, h, "via-anthropic", "Hello slow stream")
	names := eventNames(evs)
	if names[len(names)-1] != "message_stop" {
		t.Errorf("last event %q", names[len(names)-1])
	}
	// Past the ping after the first content_block_start, the others come
	// from the quiet gaps between tokens.
	if n := strings.Count(strings.Join(names, " "), "ping"); n < 3 {
		t.Errorf("%d pings in a stream of %d events paced at 50 ms a token: %v", n, len(evs), names)
	}
	h.records(t, 1)

	c := clientV1(h, h.key.Secret)
	s := c.Messages.NewStreaming(t.Context(), anthropic.MessageNewParams{Model: "via-anthropic", MaxTokens: 300,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello slow stream"))}})
	var m anthropic.Message
	for s.Next() {
		if err := m.Accumulate(s.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	checkEcho(t, answerV1(&m), "Hello slow stream")
	h.records(t, 1)
}
