package anthropic

import (
	"strings"
	"testing"

	"switchyard/internal/llm"
)

// Errors name the message, part and tool-result content they are about,
// as they did when every path was formatted up front.
func TestRequestFromLLM_ErrorPaths(t *testing.T) {
	ok := llm.Message{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("hi")}}
	for _, tc := range []struct {
		msg  llm.Message
		want string
	}{
		{llm.Message{Role: "robot", Parts: []llm.Part{llm.Text("x")}}, `messages[1]: role "robot"`},
		{llm.Message{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("x"), {Kind: llm.PartImage}}}, "messages[1].parts[1]: image part without an image"},
		{llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{{Kind: llm.PartToolCall}}}, "messages[1].parts[0]: tool call part without a call"},
		{llm.Message{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("a"), llm.Text("b"), {Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{
			CallID: "c", Content: []llm.Part{llm.Text("fine"), {Kind: llm.PartImage, Image: &llm.Image{}}}}}}},
			"messages[1].parts[2].content[1]: image without data or URL"},
		{llm.Message{Role: llm.RoleUser, Parts: []llm.Part{{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{
			CallID: "c", Content: []llm.Part{{Kind: llm.PartToolCall}}}}}},
			"messages[1].parts[0].content[0]: tool_call parts in a tool result"},
	} {
		_, err := requestFromLLM(&llm.Request{Model: "m", Messages: []llm.Message{ok, tc.msg}}, 1024)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("requestFromLLM error = %v, want one saying %q", err, tc.want)
		}
	}
}
