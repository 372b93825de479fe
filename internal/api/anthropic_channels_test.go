package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/google/go-cmp/cmp"
)

// tinyPNG is a 1×1 PNG.
const tinyPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

// translatedChannel is a channel whose dialect is not Anthropic's: what
// the Anthropic SDK sends must be translated, and the upstream's request
// tells whether it was.
type translatedChannel struct {
	model, cloud string
	// reasons says whether the channel's answers show their reasoning
	// (OpenAI's Chat Completions keep it hidden).
	reasons bool
	// signs says whether that reasoning is signed, so that it goes back
	// upstream with the next turn.
	signs bool
}

var translatedChannels = []translatedChannel{
	{model: "via-openai", cloud: "openai"},
	{model: "via-gemini", cloud: "gemini", reasons: true},
	{model: "via-bedrock", cloud: "bedrock", reasons: true, signs: true},
}

// upstreamBody decodes the one request the clouds received since the last
// call.
func upstreamBody(t *testing.T, h *harness, cloud string) map[string]any {
	t.Helper()
	recs := h.records(t, 1)
	if len(recs) != 1 {
		t.FailNow()
	}
	if recs[0].Cloud != cloud {
		t.Fatalf("request went to %s, want %s", recs[0].Cloud, cloud)
	}
	var body map[string]any
	if err := json.Unmarshal(recs[0].Body, &body); err != nil {
		t.Fatalf("%s body: %v\n%s", cloud, err, recs[0].Body)
	}
	return body
}

// at walks a decoded JSON document along keys and indexes; nil when the
// path does not exist.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k < 0 || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

// partsWith returns the upstream's messages (OpenAI, Bedrock) or
// contents (Gemini) whose parts hold a member called key.
func partsWith(body map[string]any, cloud, key string) []map[string]any {
	list, field := "messages", "content"
	if cloud == "gemini" {
		list, field = "contents", "parts"
	}
	var out []map[string]any
	for _, m := range asSlice(body[list]) {
		for _, p := range asSlice(at(m, field)) {
			if pm, ok := p.(map[string]any); ok && pm[key] != nil {
				out = append(out, pm)
			}
		}
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// TestAnthropicSDK_TranslatedChannels runs the Anthropic SDK's tools,
// thinking and image scenarios against channels of the other dialects and
// checks both the answer and what the upstream was sent.
func TestAnthropicSDK_TranslatedChannels(t *testing.T) {
	h := newHarness(t)
	c := clientV1(h, h.key.Secret)
	ctx := context.Background()
	weather := []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather", Description: anthropic.String("Current weather"),
		InputSchema: anthropic.ToolInputSchemaParam{Properties: weatherProperties, Required: []string{"city", "unit"}}}}}
	streamed := func(t *testing.T, params anthropic.MessageNewParams) anthropic.Message {
		t.Helper()
		s := c.Messages.NewStreaming(ctx, params)
		defer s.Close()
		var m anthropic.Message
		for s.Next() {
			if err := m.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		return m
	}

	for _, ch := range translatedChannels {
		t.Run(ch.cloud+"/tools", func(t *testing.T) {
			h.cloud.Reset()
			params := anthropic.MessageNewParams{Model: anthropic.Model(ch.model), MaxTokens: 300,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What's the weather in Paris? Call get_weather."))},
				Tools:    weather, ToolChoice: anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}}}
			m, err := c.Messages.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			call := checkWeatherCall(t, answerV1(m))
			body := upstreamBody(t, h, ch.cloud)
			// The tool and the forced choice in the upstream's own terms.
			var name, choice any
			switch ch.cloud {
			case "openai":
				name, choice = at(body, "tools", 0, "function", "name"), body["tool_choice"]
				choice = choice == "required"
			case "gemini":
				name = at(body, "tools", 0, "functionDeclarations", 0, "name")
				choice = at(body, "toolConfig", "functionCallingConfig", "mode") == "ANY"
			case "bedrock":
				name = at(body, "toolConfig", "tools", 0, "toolSpec", "name")
				choice = at(body, "toolConfig", "toolChoice", "any") != nil
			}
			if name != "get_weather" || choice != true {
				t.Errorf("upstream tool %v, forced choice %v: %v", name, choice, body)
			}

			sm := streamed(t, params)
			if sc := checkWeatherCall(t, answerV1(&sm)); sc.id == call.id {
				t.Errorf("two answers share the call id %q", sc.id)
			}
			h.records(t, 1)

			// The result goes back and answers the call it names.
			params.Messages = append(params.Messages, m.ToParam(),
				anthropic.NewUserMessage(anthropic.NewToolResultBlock(call.id, `{"temperature":21}`, false)))
			params.ToolChoice = anthropic.ToolChoiceUnionParam{OfAuto: &anthropic.ToolChoiceAutoParam{}}
			final, err := c.Messages.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if a := answerV1(final); !strings.HasPrefix(a.text, `Tool get_weather returned: {"temperature":21}`) || a.stop != "end_turn" {
				t.Errorf("final answer %+v", a)
			}
			body = upstreamBody(t, h, ch.cloud)
			type pair struct{ Call, Result, Name, Output string }
			var got pair
			switch ch.cloud {
			case "openai":
				for _, m := range asSlice(body["messages"]) {
					if id, ok := at(m, "tool_calls", 0, "id").(string); ok {
						got.Call, got.Name = id, at(m, "tool_calls", 0, "function", "name").(string)
					}
					if at(m, "role") == "tool" {
						got.Result, _ = at(m, "tool_call_id").(string)
						got.Output, _ = at(m, "content").(string)
					}
				}
			case "gemini":
				if fc := partsWith(body, "gemini", "functionCall"); len(fc) == 1 {
					got.Call, _ = at(fc[0], "functionCall", "id").(string)
					got.Name, _ = at(fc[0], "functionCall", "name").(string)
				}
				if fr := partsWith(body, "gemini", "functionResponse"); len(fr) == 1 {
					got.Result, _ = at(fr[0], "functionResponse", "id").(string)
					got.Output, _ = at(fr[0], "functionResponse", "response", "result").(string)
					if n := at(fr[0], "functionResponse", "name"); n != "get_weather" {
						t.Errorf("functionResponse names %v", n)
					}
				}
			case "bedrock":
				if tu := partsWith(body, "bedrock", "toolUse"); len(tu) == 1 {
					got.Call, _ = at(tu[0], "toolUse", "toolUseId").(string)
					got.Name, _ = at(tu[0], "toolUse", "name").(string)
				}
				if tr := partsWith(body, "bedrock", "toolResult"); len(tr) == 1 {
					got.Result, _ = at(tr[0], "toolResult", "toolUseId").(string)
					got.Output, _ = at(tr[0], "toolResult", "content", 0, "text").(string)
				}
			}
			want := pair{Call: call.id, Result: call.id, Name: "get_weather", Output: `{"temperature":21}`}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("upstream tool round trip (-want +got):\n%s\n%v", diff, body)
			}
		})

		t.Run(ch.cloud+"/thinking", func(t *testing.T) {
			h.cloud.Reset()
			params := anthropic.MessageNewParams{Model: anthropic.Model(ch.model), MaxTokens: 2000,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Think first"))},
				Thinking: anthropic.ThinkingConfigParamOfEnabled(1024)}
			m, err := c.Messages.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			a := answerV1(m)
			if !strings.HasPrefix(a.text, "Echo: Think first") || a.stop != "end_turn" {
				t.Fatalf("answer %+v", a)
			}
			if (a.thinking != "") != ch.reasons || (a.signature != "") != ch.signs {
				t.Errorf("thinking %q signature %q; want shown %v, signed %v", a.thinking, a.signature, ch.reasons, ch.signs)
			}
			// The budget in the upstream's own terms.
			body := upstreamBody(t, h, ch.cloud)
			var budget, want any = nil, 1024.0
			switch ch.cloud {
			case "openai":
				// 1024 tokens is the smallest budget Anthropic allows: low effort.
				budget, want = body["reasoning_effort"], "low"
			case "gemini":
				budget = at(body, "generationConfig", "thinkingConfig", "thinkingBudget")
			case "bedrock":
				budget = at(body, "additionalModelRequestFields", "thinking", "budget_tokens")
			}
			if budget != want {
				t.Errorf("upstream thinking budget %v, want %v: %v", budget, want, body)
			}

			// The answer goes back as history, thinking block included; a
			// signed one reaches the upstream with its signature.
			params.Messages = append(params.Messages, m.ToParam(), anthropic.NewUserMessage(anthropic.NewTextBlock("And again")))
			sm := streamed(t, params)
			if sa := answerV1(&sm); !strings.HasPrefix(sa.text, "Echo: And again") || !strings.Contains(sa.text, "turns=2") ||
				(sa.thinking != "") != ch.reasons {
				t.Errorf("streamed answer %+v", sa)
			}
			body = upstreamBody(t, h, ch.cloud)
			switch ch.cloud {
			case "bedrock":
				// Streamed, Claude on Bedrock is invoked with Anthropic's own
				// body (its stream tells the prompt's count first).
				th := partsWith(body, "bedrock", "thinking")
				if body["anthropic_version"] != "bedrock-2023-05-31" || len(th) != 1 ||
					th[0]["signature"] != a.signature || th[0]["thinking"] != a.thinking {
					t.Errorf("upstream reasoning %v, want the signed block back in an InvokeModel body: %v", th, body)
				}
			case "gemini":
				// Unsigned thoughts are not sent back.
				if th := partsWith(body, "gemini", "thought"); len(th) != 0 {
					t.Errorf("upstream got thoughts back: %v", th)
				}
			}
		})

		t.Run(ch.cloud+"/image", func(t *testing.T) {
			h.cloud.Reset()
			m, err := c.Messages.New(ctx, anthropic.MessageNewParams{Model: anthropic.Model(ch.model), MaxTokens: 300,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
					anthropic.NewTextBlock("What is in this picture?"),
					anthropic.NewImageBlockBase64("image/png", tinyPNG))}})
			if err != nil {
				t.Fatal(err)
			}
			if a := answerV1(m); !strings.HasPrefix(a.text, "Echo: What is in this picture?") || !strings.Contains(a.text, "images=1") {
				t.Errorf("answer %q does not show the image arrived", a.text)
			}
			body := upstreamBody(t, h, ch.cloud)
			switch ch.cloud {
			case "openai":
				var got string
				for _, p := range asSlice(at(body, "messages", 0, "content")) {
					if u, ok := at(p, "image_url", "url").(string); ok {
						got = u
					}
				}
				if got != "data:image/png;base64,"+tinyPNG {
					t.Errorf("upstream image url %.60q", got)
				}
			case "gemini":
				img := partsWith(body, "gemini", "inlineData")
				if len(img) != 1 || at(img[0], "inlineData", "mimeType") != "image/png" || at(img[0], "inlineData", "data") != tinyPNG {
					t.Errorf("upstream image %v", img)
				}
			case "bedrock":
				png, _ := base64.StdEncoding.DecodeString(tinyPNG)
				img := partsWith(body, "bedrock", "image")
				if len(img) != 1 {
					t.Fatalf("upstream images %v", img)
				}
				data, _ := at(img[0], "image", "source", "bytes").(string)
				raw, _ := base64.StdEncoding.DecodeString(data)
				if at(img[0], "image", "format") != "png" || string(raw) != string(png) {
					t.Errorf("upstream image %v", img)
				}
			}
		})
	}
}
