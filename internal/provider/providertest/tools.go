package providertest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
)

// The suite's tools. fakecloud fills every required property by its type
// and name ("Paris" for a city, the first enum value, numbers within their
// bounds), so the arguments are deterministic and must satisfy these
// schemas.
const (
	weatherName   = "get_weather"
	weatherSchema = `{"type":"object","properties":{` +
		`"city":{"type":"string","description":"City name"},` +
		`"unit":{"type":"string","enum":["celsius","fahrenheit"]},` +
		`"days":{"type":"integer","minimum":1,"maximum":7}},` +
		`"required":["city","unit","days"]}`
	timeName   = "get_time"
	timeSchema = `{"type":"object","properties":{"timezone":{"type":"string"}},"required":["timezone"]}`
)

// suiteTools declares the suite's tools.
func suiteTools() []llm.Tool {
	return []llm.Tool{
		{Name: weatherName, Description: "Current weather in a city.", Parameters: json.RawMessage(weatherSchema)},
		{Name: timeName, Description: "Current local time in a timezone.", Parameters: json.RawMessage(timeSchema)},
	}
}

// toolSchema returns the parameters of one of the suite's tools.
func toolSchema(name string) json.RawMessage {
	if name == timeName {
		return json.RawMessage(timeSchema)
	}
	return json.RawMessage(weatherSchema)
}

// forcedCall asks for the weather with tool choice naming get_weather.
func (s *suite) forcedCall() *llm.Request {
	req := s.request(user(llm.Text("What is the weather like in Paris today?")))
	req.Tools = suiteTools()
	req.ToolChoice = llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: weatherName}
	return req
}

// parallelCalls asks, in plain words, for two tools at once.
func (s *suite) parallelCalls() *llm.Request {
	req := s.request(user(llm.Text("Please call get_weather and get_time for Paris.")))
	req.Tools = suiteTools()
	return req
}

// checkCalls checks that resp is only tool calls to the named tools, in
// order, with distinct IDs and arguments that satisfy the schemas.
func checkCalls(t *testing.T, resp *llm.Response, names ...string) []llm.ToolCall {
	t.Helper()
	calls := toolCalls(resp)
	var got []string
	ids := map[string]bool{}
	for _, c := range calls {
		got = append(got, c.Name)
		if c.ID == "" || ids[c.ID] {
			t.Errorf("tool call %s has ID %q; every call needs its own", c.Name, c.ID)
		}
		ids[c.ID] = true
		if err := checkArgs(toolSchema(c.Name), c.Arguments); err != nil {
			t.Errorf("tool call %s: %v", c.Name, err)
		}
	}
	if !cmp.Equal(got, names) {
		t.Fatalf("the answer calls %q, want %q (parts: %+v)", got, names, resp.Message.Parts)
	}
	if len(calls) != len(resp.Message.Parts) {
		t.Errorf("the answer has %d parts besides its tool calls: %+v", len(resp.Message.Parts)-len(calls), resp.Message.Parts)
	}
	if resp.FinishReason != llm.FinishToolCalls {
		t.Errorf("finish reason %q, want %q", resp.FinishReason, llm.FinishToolCalls)
	}
	return calls
}

// toolResults answers calls with a result each.
func toolResults(calls []llm.ToolCall, results map[string]string) llm.Message {
	m := user()
	for _, c := range calls {
		m.Parts = append(m.Parts, llm.Part{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{
			CallID: c.ID, Name: c.Name, Content: []llm.Part{llm.Text(results[c.Name])},
		}})
	}
	return m
}

// callParts turns calls back into an assistant turn.
func callParts(calls []llm.ToolCall) llm.Message {
	m := assistant()
	for _, c := range calls {
		m.Parts = append(m.Parts, llm.Part{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments}})
	}
	return m
}

// tools: a forced call, parallel calls asked for in words, and a turn of
// tool results answered in text.
func (s *suite) tools(t *testing.T) {
	_, p := s.channel(t)
	t.Run("forced", func(t *testing.T) {
		checkCalls(t, chat(t, p, s.forcedCall()), weatherName)
	})
	t.Run("parallel", func(t *testing.T) {
		checkCalls(t, chat(t, p, s.parallelCalls()), weatherName, timeName)
	})
	t.Run("results", func(t *testing.T) {
		req := s.parallelCalls()
		calls := checkCalls(t, chat(t, p, req), weatherName, timeName)
		results := map[string]string{weatherName: "18 degrees and sunny", timeName: "14:05"}
		req.Messages = append(req.Messages, callParts(calls), toolResults(calls, results))
		resp := chat(t, p, req)
		text, err := textOf(resp)
		if err != nil {
			t.Fatal(err)
		}
		want := "Tool get_weather returned: 18 degrees and sunny; Tool get_time returned: 14:05 [turns=2 "
		if !strings.HasPrefix(text, want) {
			t.Errorf("answer to the tool results is %q, want it to start %q", text, want)
		}
		if resp.FinishReason != llm.FinishStop {
			t.Errorf("finish reason %q, want %q", resp.FinishReason, llm.FinishStop)
		}
	})
}

// tools_streamed: tool calls streamed as deltas accumulate to the same
// calls, with IDs and names, as the non-streamed answer.
func (s *suite) toolsStreamed(t *testing.T) {
	_, p := s.channel(t)
	for _, tc := range []struct {
		name  string
		req   func() *llm.Request
		calls []string
	}{
		{"forced", s.forcedCall, []string{weatherName}},
		{"parallel", s.parallelCalls, []string{weatherName, timeName}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := checkCalls(t, chat(t, p, tc.req()), tc.calls...)
			evs, resp := chatStream(t, p, tc.req())
			got := checkCalls(t, resp, tc.calls...)
			argDeltas := 0
			for _, ev := range evs {
				if ev.Kind == llm.EventToolCallDelta && ev.ToolCall != nil && ev.ToolCall.Arguments != "" {
					argDeltas++
				}
			}
			if argDeltas < len(tc.calls) {
				t.Errorf("%d tool calls came with %d argument deltas", len(tc.calls), argDeltas)
			}
			for i := range got {
				if !sameJSON(got[i].Arguments, want[i].Arguments) {
					t.Errorf("call %d: streamed arguments %s, non-streamed %s", i, got[i].Arguments, want[i].Arguments)
				}
			}
		})
	}
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(a, b string) bool {
	var va, vb any
	return json.Unmarshal([]byte(a), &va) == nil && json.Unmarshal([]byte(b), &vb) == nil && cmp.Equal(va, vb)
}
