package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	openaisdk "github.com/openai/openai-go/v3"
	openaioption "github.com/openai/openai-go/v3/option"
)

// TestCompletions_SDK: openai-go's Completions.New and NewStreaming reach
// OpenAI and Azure channels on their own Completions endpoint, with the
// model renamed and everything else as sent, and get the channel's text
// and usage back under the model name they asked for.
func TestCompletions_SDK(t *testing.T) {
	h := newHarness(t)
	c := openaisdk.NewClient(openaioption.WithBaseURL(h.URL+"/v1"), openaioption.WithAPIKey(h.key.Secret), openaioption.WithMaxRetries(0))
	for _, tc := range []struct{ model, path, upstream string }{
		{"via-openai", "/openai/v1/completions", upOpenAI},
		{"via-azure", "/azure/openai/deployments/" + upAzure + "/completions", upAzure},
	} {
		t.Run(tc.model, func(t *testing.T) {
			ctx := context.Background()
			params := openaisdk.CompletionNewParams{
				Model:       openaisdk.CompletionNewParamsModel(tc.model),
				Prompt:      openaisdk.CompletionNewParamsPromptUnion{OfString: openaisdk.String("Write a haiku")},
				MaxTokens:   openaisdk.Int(64),
				Temperature: openaisdk.Float(0.2),
				Stop:        openaisdk.CompletionNewParamsStopUnion{OfStringArray: []string{"\n\n"}},
			}
			got, err := c.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Choices) != 1 || !strings.HasPrefix(got.Choices[0].Text, "Echo: Write a haiku") || got.Model != tc.model ||
				got.Choices[0].FinishReason != "stop" || got.Usage.PromptTokens == 0 || got.Usage.CompletionTokens == 0 {
				t.Errorf("completion = %+v", got)
			}
			rec := h.records(t, 1)[0]
			var sent map[string]any
			if err := json.Unmarshal(rec.Body, &sent); err != nil {
				t.Fatal(err)
			}
			if rec.Path != tc.path || sent["model"] != tc.upstream || sent["prompt"] != "Write a haiku" || sent["temperature"] != 0.2 {
				t.Errorf("upstream got %s %s", rec.Path, rec.Body)
			}

			params.StreamOptions.IncludeUsage = openaisdk.Bool(true)
			stream := c.Completions.NewStreaming(ctx, params)
			var text strings.Builder
			var finish string
			var usage openaisdk.CompletionUsage
			for stream.Next() {
				ch := stream.Current()
				if ch.Model != tc.model {
					t.Errorf("chunk model %q", ch.Model)
				}
				for _, choice := range ch.Choices {
					text.WriteString(choice.Text)
					if choice.FinishReason != "" {
						finish = string(choice.FinishReason)
					}
				}
				if ch.Usage.TotalTokens > 0 {
					usage = ch.Usage
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if text.String() != got.Choices[0].Text || finish != "stop" || usage.PromptTokens != got.Usage.PromptTokens || usage.CompletionTokens != got.Usage.CompletionTokens {
				t.Errorf("streamed %q (%s, usage %+v), want %q (usage %+v)", text.String(), finish, usage, got.Choices[0].Text, got.Usage)
			}
			if rec := h.records(t, 1)[0]; !rec.Stream || rec.Path != tc.path {
				t.Errorf("streamed upstream request: %+v", rec)
			}
		})
	}
}

// TestCompletions_Refused: a model served only on channels without a
// Completions API is refused before any upstream call, with a 400 that
// names the model and its channels; so are members the gateway cannot
// carry.
func TestCompletions_Refused(t *testing.T) {
	h := newHarness(t)
	c := openaisdk.NewClient(openaioption.WithBaseURL(h.URL+"/v1"), openaioption.WithAPIKey(h.key.Secret), openaioption.WithMaxRetries(0))
	prompt := openaisdk.CompletionNewParamsPromptUnion{OfString: openaisdk.String("Hi")}
	for _, tc := range []struct {
		name   string
		params openaisdk.CompletionNewParams
		stream bool
		want   []string
	}{
		{"anthropic_channel", openaisdk.CompletionNewParams{Model: "via-anthropic", Prompt: prompt}, false,
			[]string{"via-anthropic", chanAnthropic + " (anthropic)", "/v1/chat/completions"}},
		{"fallback_pair", openaisdk.CompletionNewParams{Model: sonnet, Prompt: prompt}, true,
			[]string{chanAnthropic + " (anthropic)", chanBedrock + " (bedrock)"}},
		{"echo", openaisdk.CompletionNewParams{Model: "via-openai", Prompt: prompt, Echo: openaisdk.Bool(true)}, false, []string{"echo"}},
		{"n", openaisdk.CompletionNewParams{Model: "via-openai", Prompt: prompt, N: openaisdk.Int(2)}, false, []string{"n=1"}},
		{"stream_logprobs", openaisdk.CompletionNewParams{Model: "via-openai", Prompt: prompt, Logprobs: openaisdk.Int(2)}, true, []string{"logprobs"}},
		{"token_prompt", openaisdk.CompletionNewParams{Model: "via-openai",
			Prompt: openaisdk.CompletionNewParamsPromptUnion{OfArrayOfTokens: []int64{1, 2}}}, false, []string{"token-id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.stream {
				s := c.Completions.NewStreaming(context.Background(), tc.params)
				for s.Next() {
				}
				err = s.Err()
			} else {
				_, err = c.Completions.New(context.Background(), tc.params)
			}
			var ae *openaisdk.Error
			if !errors.As(err, &ae) || ae.StatusCode != http.StatusBadRequest || ae.Type != "invalid_request_error" {
				t.Fatalf("err = %v, want a 400 invalid_request_error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(ae.Message, w) {
					t.Errorf("message %q lacks %q", ae.Message, w)
				}
			}
			if recs := h.cloud.Records(); len(recs) > 0 {
				t.Errorf("a refused request reached a cloud: %+v", recs)
			}
		})
	}
}
