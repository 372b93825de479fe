package gateway

import (
	"fmt"
	"strings"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// checkToolCalls refuses an answer that holds a tool call whose arguments
// are neither empty nor a JSON object, as a KindBadResponse error of the
// channel called name. No dialect can hand such a call to a client
// faithfully (Anthropic's input and Bedrock's toolUse.input are objects),
// and one passed on would be run with arguments the model never gave.
// Adapters refuse these already where they can (openai); this holds the
// line for every channel, streamed or not, so that the front doors'
// encoders never meet one. The last call of an answer cut off by the
// output limit is exempt: it may stop mid-arguments, and its finish
// reason says so.
func checkToolCalls(name string, parts []llm.Part, finish llm.FinishReason) error {
	last := -1
	for i, p := range parts {
		if p.Kind == llm.PartToolCall && p.ToolCall != nil {
			last = i
		}
	}
	for i, p := range parts {
		if p.Kind != llm.PartToolCall || p.ToolCall == nil || i == last && finish == llm.FinishLength {
			continue
		}
		if _, ok := llm.ObjectArguments(p.ToolCall.Arguments); !ok {
			args := strings.Trim(p.ToolCall.Arguments, " \t\r\n")
			return &provider.Error{Provider: name, Kind: provider.KindBadResponse,
				Message: fmt.Sprintf("upstream sent tool call %q with arguments that are not a JSON object", clip(p.ToolCall.ID, 128)),
				Err:     fmt.Errorf("tool call %q (%s): arguments are not a JSON object: %q", p.ToolCall.ID, p.ToolCall.Name, clip(args, 256))}
		}
	}
	return nil
}

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
