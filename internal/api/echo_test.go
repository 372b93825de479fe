package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	openaisdk "github.com/openai/openai-go/v3"
	openaioption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/shared"
)

// openai-node's tool loop appends the assistant message it got back, as
// the exact JSON the gateway answered (annotations, refusal and all), to
// the next request. openai-go's ToParam() would drop those members, so the
// message goes back raw, as openai-node sends it. Every channel type must
// take it: the OpenAI ones carry it in the client's bytes, the others
// translate it.
func TestOpenAIToolLoop_EchoesAnswerMessage(t *testing.T) {
	h := newHarness(t)
	c := openaisdk.NewClient(openaioption.WithBaseURL(h.URL+"/v1"), openaioption.WithAPIKey(h.key.Secret), openaioption.WithMaxRetries(0))
	tool := openaisdk.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name: "get_weather",
		Parameters: shared.FunctionParameters{"type": "object",
			"properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}},
	})
	for _, model := range []string{"via-openai", "via-azure", "via-anthropic", "via-bedrock", "via-gemini"} {
		t.Run(model, func(t *testing.T) {
			ctx := context.Background()
			params := openaisdk.ChatCompletionNewParams{
				Model:      model,
				Messages:   []openaisdk.ChatCompletionMessageParamUnion{openaisdk.UserMessage("Weather in Paris? Call get_weather.")},
				Tools:      []openaisdk.ChatCompletionToolUnionParam{tool},
				ToolChoice: openaisdk.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openaisdk.String("required")},
			}
			first, err := c.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			msg := first.Choices[0].Message
			raw := msg.RawJSON()
			var members map[string]json.RawMessage
			if err := json.Unmarshal([]byte(raw), &members); err != nil {
				t.Fatal(err)
			}
			if string(members["annotations"]) != "[]" || len(msg.ToolCalls) != 1 {
				t.Fatalf("answer message %s: want annotations [] and one tool call", raw)
			}

			params.Messages = append(params.Messages,
				param.Override[openaisdk.ChatCompletionMessageParamUnion](json.RawMessage(raw)),
				openaisdk.ToolMessage(`{"temperature":21}`, msg.ToolCalls[0].ID))
			params.ToolChoice = openaisdk.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openaisdk.String("auto")}
			final, err := c.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatalf("second turn with the answer message sent back as is: %v", err)
			}
			if !strings.Contains(final.Choices[0].Message.Content, "21") {
				t.Errorf("final answer %q does not reflect the tool result", final.Choices[0].Message.Content)
			}
		})
	}
}
