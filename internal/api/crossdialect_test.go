package api

import (
	"context"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	openaisdk "github.com/openai/openai-go/v3"
	openaioption "github.com/openai/openai-go/v3/option"
)

// frontDoor asks one question through a front door with its official SDK
// and returns the answer text and the usage the client saw.
type frontDoor struct {
	name string
	ask  func(t *testing.T, h *harness, model, prompt string, stream bool) (text string, in, out int64)
}

var frontDoors = []frontDoor{
	{name: "openai_chat", ask: askOpenAI},
	{name: "anthropic_messages", ask: askAnthropic},
	{name: "bedrock_converse", ask: askBedrock},
}

func askOpenAI(t *testing.T, h *harness, model, prompt string, stream bool) (string, int64, int64) {
	t.Helper()
	c := openaisdk.NewClient(openaioption.WithBaseURL(h.URL+"/v1"), openaioption.WithAPIKey(h.key.Secret), openaioption.WithMaxRetries(0))
	params := openaisdk.ChatCompletionNewParams{Model: model, Messages: []openaisdk.ChatCompletionMessageParamUnion{
		openaisdk.SystemMessage("Be brief."), openaisdk.UserMessage(prompt)}}
	ctx := context.Background()
	if !stream {
		resp, err := c.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Choices[0].Message.Content, resp.Usage.PromptTokens, resp.Usage.CompletionTokens
	}
	params.StreamOptions = openaisdk.ChatCompletionStreamOptionsParam{IncludeUsage: openaisdk.Bool(true)}
	s := c.Chat.Completions.NewStreaming(ctx, params)
	var acc openaisdk.ChatCompletionAccumulator
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].FinishReason != "stop" {
		t.Fatalf("choices %+v", acc.Choices)
	}
	return acc.Choices[0].Message.Content, acc.Usage.PromptTokens, acc.Usage.CompletionTokens
}

func askAnthropic(t *testing.T, h *harness, model, prompt string, stream bool) (string, int64, int64) {
	t.Helper()
	c := clientV1(h, h.key.Secret)
	params := anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 300, System: []anthropic.TextBlockParam{{Text: "Be brief."}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}}
	ctx := context.Background()
	var m anthropic.Message
	if !stream {
		resp, err := c.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		m = *resp
	} else {
		s := c.Messages.NewStreaming(ctx, params)
		for s.Next() {
			if err := m.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if m.StopReason != anthropic.StopReasonEndTurn {
		t.Errorf("stop reason %q", m.StopReason)
	}
	a := answerV1(&m)
	return a.text, a.in + a.cacheRead + a.cacheNew, a.out
}

func askBedrock(t *testing.T, h *harness, model, prompt string, stream bool) (string, int64, int64) {
	t.Helper()
	c := h.defaultBedrockClient()
	ctx := context.Background()
	system := []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "Be brief."}}
	msgs := []types.Message{userMessage(prompt)}
	if !stream {
		out, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(model), System: system, Messages: msgs})
		if err != nil {
			t.Fatal(err)
		}
		if out.StopReason != types.StopReasonEndTurn {
			t.Errorf("stop reason %q", out.StopReason)
		}
		return converseText(t, out), int64(aws.ToInt32(out.Usage.InputTokens)), int64(aws.ToInt32(out.Usage.OutputTokens))
	}
	out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(model), System: system, Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	a, err := collectConverseStream(t, out)
	if err != nil {
		t.Fatal(err)
	}
	if a.stop != types.StopReasonEndTurn || a.usage == nil {
		t.Fatalf("stop %q usage %v", a.stop, a.usage)
	}
	return a.text, int64(aws.ToInt32(a.usage.InputTokens)), int64(aws.ToInt32(a.usage.OutputTokens))
}

// Every front door against every channel type: the question crosses from
// the client's dialect to the channel's and the answer comes back, plain
// and streamed, with its usage, and the simulated cloud of that channel is
// the one that answered.
func TestCrossDialect(t *testing.T) {
	h := newHarness(t)
	channels := []struct {
		model, cloud, upstream string
	}{
		{"via-openai", "openai", upOpenAI},
		{"via-azure", "azure", upAzure},
		{"via-anthropic", "anthropic", upAnthropic},
		{"via-bedrock", "bedrock", upBedrock},
		{"via-gemini", "gemini", upGemini},
	}
	for _, fd := range frontDoors {
		for _, ch := range channels {
			for _, stream := range []bool{false, true} {
				name := fd.name + "/" + ch.cloud + "/plain"
				if stream {
					name = fd.name + "/" + ch.cloud + "/stream"
				}
				t.Run(name, func(t *testing.T) {
					prompt := "Relay " + name + " please"
					text, in, out := fd.ask(t, h, ch.model, prompt, stream)
					if !strings.HasPrefix(text, "Echo: "+prompt) {
						t.Errorf("answer %q does not echo the prompt", text)
					}
					if in <= 0 || out <= 0 {
						t.Errorf("usage in=%d out=%d", in, out)
					}
					recs := h.records(t, 1)
					if len(recs) == 1 && (recs[0].Cloud != ch.cloud || recs[0].Model != ch.upstream || recs[0].Stream != stream) {
						t.Errorf("upstream record %s %s stream=%v, want %s %s stream=%v",
							recs[0].Cloud, recs[0].Model, recs[0].Stream, ch.cloud, ch.upstream, stream)
					}
				})
			}
		}
	}
}
