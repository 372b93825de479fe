package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"google.golang.org/genai"

	"switchyard/internal/admin"
	"switchyard/internal/route"
)

// countParams is a count_tokens request with a system prompt, a turn and
// a tool, so that a count that drops any of them is seen.
func countParams(model string) anthropic.MessageCountTokensParams {
	return anthropic.MessageCountTokensParams{
		Model:    anthropic.Model(model),
		System:   anthropic.MessageCountTokensParamsSystemUnion{OfTextBlockArray: []anthropic.TextBlockParam{{Text: "You are a terse assistant for lighthouse keepers."}}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is the weather in Paris today, in celsius?"))},
		Tools: []anthropic.MessageCountTokensToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather", Description: anthropic.String("Current weather"),
			InputSchema: anthropic.ToolInputSchemaParam{Properties: weatherProperties, Required: []string{"city", "unit"}}}}},
	}
}

// billedInput is the input usage the channel reports for the same request
// answered, which fakecloud computes with the tokenizer it counts with.
func billedInput(t *testing.T, c anthropic.Client, p anthropic.MessageCountTokensParams) int64 {
	t.Helper()
	m, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{Model: p.Model, MaxTokens: 50, System: p.System.OfTextBlockArray,
		Messages: p.Messages, Tools: []anthropic.ToolUnionParam{{OfTool: p.Tools[0].OfTool}}})
	if err != nil {
		t.Fatal(err)
	}
	return m.Usage.InputTokens
}

// The Anthropic SDK's count_tokens is counted by the channel that would
// serve the model when it can count (Anthropic, Bedrock, Gemini), and is
// the gateway's estimate otherwise; X-Switchyard-Token-Count says which.
func TestCountTokens_AnthropicSDK(t *testing.T) {
	h := newHarness(t)
	c := clientV1(h, h.key.Secret)
	counted := map[string]int64{}
	for _, tc := range []struct {
		model, cloud, path, source string
	}{
		{"via-anthropic", "anthropic", "/anthropic/v1/messages/count_tokens", "upstream"},
		{"via-bedrock", "bedrock", "/bedrock/model/" + strings.ReplaceAll(upBedrock, ":", "%3A") + "/count-tokens", "upstream"},
		{"via-gemini", "gemini", "/gemini/v1beta/models/" + upGemini + ":countTokens", "upstream"},
		{"via-openai", "", "", "estimate"},
		{"via-azure", "", "", "estimate"},
	} {
		t.Run(tc.model, func(t *testing.T) {
			h.cloud.Reset()
			var raw *http.Response
			n, err := c.Messages.CountTokens(context.Background(), countParams(tc.model), option.WithResponseInto(&raw))
			if err != nil {
				t.Fatal(err)
			}
			if got := raw.Header.Get("X-Switchyard-Token-Count"); got != tc.source {
				t.Errorf("X-Switchyard-Token-Count = %q, want %q", got, tc.source)
			}
			counted[tc.model] = n.InputTokens
			if tc.source == "estimate" {
				h.records(t, 0)
				return
			}
			recs := h.records(t, 1)
			if len(recs) == 1 && (recs[0].Cloud != tc.cloud || recs[0].Path != tc.path) {
				t.Errorf("count sent to %s %s, want %s %s", recs[0].Cloud, recs[0].Path, tc.cloud, tc.path)
			}
			if want := billedInput(t, c, countParams(tc.model)); n.InputTokens != want {
				t.Errorf("count %d, want %d (the channel's input usage for the same request)", n.InputTokens, want)
			}
			h.records(t, 1)
		})
	}
	// The test tells the two apart only if they differ.
	if counted["via-anthropic"] == counted["via-openai"] || counted["via-openai"] != counted["via-azure"] {
		t.Errorf("counts %v: the channel's and the estimate should differ, and every estimate agree", counted)
	}
}

// A contract that keeps a tenant's traffic off a channel keeps its counts
// off it too: the next allowed channel counts, and with none the estimate
// answers without a call.
func TestCountTokens_Contract(t *testing.T) {
	noAnthropic := route.Contract{Name: "acme-off-anthropic", Match: route.Match{Tenants: []string{"acme"}},
		Allow: &route.Allow{ProviderTypes: []string{"bedrock", "openai", "azure", "gemini"}}}
	h := newHarness(t, func(c *harnessConfig) { c.contracts = []route.Contract{noAnthropic} })
	c := clientV1(h, h.key.Secret)

	var raw *http.Response
	n, err := c.Messages.CountTokens(context.Background(), countParams(sonnet), option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	recs := h.records(t, 1)
	if len(recs) == 1 && (recs[0].Cloud != "bedrock" || !strings.HasSuffix(recs[0].Path, "/count-tokens")) {
		t.Errorf("sonnet counted by %s %s, want Bedrock's CountTokens (Anthropic is first but forbidden)", recs[0].Cloud, recs[0].Path)
	}
	if raw.Header.Get("X-Switchyard-Token-Count") != "upstream" || raw.Header.Get("X-Switchyard-Provider") != chanBedrock || n.InputTokens <= 0 {
		t.Errorf("count %d, headers %v", n.InputTokens, raw.Header)
	}
	if r := raw.Header.Get("X-Switchyard-Route"); !strings.Contains(r, "acme-off-anthropic") {
		t.Errorf("X-Switchyard-Route %q does not name the contract", r)
	}

	_, err = c.Messages.CountTokens(context.Background(), countParams("via-anthropic"), option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	h.records(t, 0)
	if got := raw.Header.Get("X-Switchyard-Token-Count"); got != "estimate" {
		t.Errorf("every channel forbidden: X-Switchyard-Token-Count %q, want estimate", got)
	}
}

// A count takes one request of the key's requests-per-minute limit (and
// none of its tokens), and a key kept off a model may not count on it.
func TestCountTokens_KeyLimits(t *testing.T) {
	h := newHarness(t)
	limited := h.issue(t, admin.KeySpec{Tenant: "acme", Name: "rpm", Limits: admin.Limits{RPM: 2, TPM: 1}})
	c := clientV1(h, limited.Secret)
	for i := range 2 {
		if _, err := c.Messages.CountTokens(context.Background(), countParams("via-anthropic")); err != nil {
			t.Fatalf("count %d: %v", i, err)
		}
	}
	_, err := c.Messages.CountTokens(context.Background(), countParams("via-anthropic"))
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusTooManyRequests || !strings.Contains(ae.RawJSON(), "rate_limit_error") {
		t.Errorf("third count in a minute of rpm 2: %v, want 429 rate_limit_error", err)
	}
	h.records(t, 2)

	narrow := h.issue(t, admin.KeySpec{Tenant: "acme", Name: "narrow", AllowedModels: []string{"via-openai"}})
	nc := clientV1(h, narrow.Secret)
	_, err = nc.Messages.CountTokens(context.Background(), countParams("via-anthropic"))
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden {
		t.Errorf("a model the key may not use: %v, want 403", err)
	}
	h.records(t, 0)
}

// The Gemini SDK's CountTokens and the Bedrock SDK's CountTokens go the
// same way.
func TestCountTokens_GeminiAndBedrockSDKs(t *testing.T) {
	h := newHarness(t)
	hc := &headerCatcher{}
	g, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: h.key.Secret, Backend: genai.BackendGeminiAPI,
		HTTPClient: &http.Client{Transport: hc}, HTTPOptions: genai.HTTPOptions{BaseURL: h.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	prompt := genai.Text("How many tokens are in this sentence, would you say?")
	for _, tc := range []struct{ model, cloud, source string }{
		{"via-gemini", "gemini", "upstream"},
		{"via-anthropic", "anthropic", "upstream"},
		{"via-openai", "", "estimate"},
	} {
		t.Run("gemini/"+tc.model, func(t *testing.T) {
			ct, err := g.Models.CountTokens(context.Background(), tc.model, prompt, nil)
			if err != nil {
				t.Fatal(err)
			}
			hc.mu.Lock()
			source := hc.last.Get("X-Switchyard-Token-Count")
			hc.mu.Unlock()
			if source != tc.source || ct.TotalTokens <= 0 {
				t.Errorf("count %d from %q, want one from %q", ct.TotalTokens, source, tc.source)
			}
			if tc.source == "estimate" {
				h.records(t, 0)
				return
			}
			recs := h.records(t, 1)
			if len(recs) == 1 && recs[0].Cloud != tc.cloud {
				t.Errorf("counted by %s, want %s", recs[0].Cloud, tc.cloud)
			}
			resp, err := g.Models.GenerateContent(context.Background(), tc.model, prompt, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ct.TotalTokens != resp.UsageMetadata.PromptTokenCount {
				t.Errorf("count %d, the same prompt's usage %d", ct.TotalTokens, resp.UsageMetadata.PromptTokenCount)
			}
			h.records(t, 1)
		})
	}

	b := h.defaultBedrockClient()
	msgs := []types.Message{userMessage("How many tokens are in this sentence, would you say?")}
	t.Run("bedrock/via-bedrock", func(t *testing.T) {
		out, err := b.CountTokens(context.Background(), &bedrockruntime.CountTokensInput{ModelId: aws.String("via-bedrock"),
			Input: &types.CountTokensInputMemberConverse{Value: types.ConverseTokensRequest{Messages: msgs}}})
		if err != nil {
			t.Fatal(err)
		}
		recs := h.records(t, 1)
		if len(recs) == 1 && (recs[0].Cloud != "bedrock" || !strings.HasSuffix(recs[0].Path, "/count-tokens")) {
			t.Errorf("counted by %s %s, want Bedrock's CountTokens", recs[0].Cloud, recs[0].Path)
		}
		conv, err := b.Converse(context.Background(), &bedrockruntime.ConverseInput{ModelId: aws.String("via-bedrock"), Messages: msgs})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt32(out.InputTokens) != aws.ToInt32(conv.Usage.InputTokens) {
			t.Errorf("count %d, Converse's input usage %d", aws.ToInt32(out.InputTokens), aws.ToInt32(conv.Usage.InputTokens))
		}
		h.records(t, 1)
	})
	t.Run("bedrock/via-openai", func(t *testing.T) {
		out, err := b.CountTokens(context.Background(), &bedrockruntime.CountTokensInput{ModelId: aws.String("via-openai"),
			Input: &types.CountTokensInputMemberConverse{Value: types.ConverseTokensRequest{Messages: msgs}}})
		if err != nil || aws.ToInt32(out.InputTokens) <= 0 {
			t.Fatalf("count %v, %v", out, err)
		}
		h.records(t, 0)
	})
}
