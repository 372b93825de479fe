package llm

import (
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAccumulator(t *testing.T) {
	var a Accumulator
	for _, ev := range []Event{
		{Kind: EventStart, ID: "r1", Model: "m"},
		{Kind: EventReasoningDelta, Index: 0, Text: "think"},
		{Kind: EventReasoningDelta, Index: 0, Text: "ing", Signature: "sig"},
		{Kind: EventTextDelta, Index: 1, Text: "Hel"},
		{Kind: EventTextDelta, Index: 1, Text: "lo"},
		{Kind: EventToolCallDelta, Index: 3, ToolCall: &ToolCallDelta{ID: "c1", Name: "f"}},
		{Kind: EventToolCallDelta, Index: 3, ToolCall: &ToolCallDelta{Arguments: `{"a":`}},
	} {
		a.Add(ev)
	}
	mid := a.Response()
	a.Add(Event{Kind: EventToolCallDelta, Index: 3, ToolCall: &ToolCallDelta{Arguments: `1}`}})
	a.Add(Event{Kind: EventStop, FinishReason: FinishToolCalls, Usage: &Usage{InputTokens: 3, OutputTokens: 4}})
	if !a.Stopped() {
		t.Error("not stopped after the stop event")
	}
	want := &Response{ID: "r1", Model: "m", FinishReason: FinishToolCalls, Usage: Usage{InputTokens: 3, OutputTokens: 4},
		Message: Message{Role: RoleAssistant, Parts: []Part{
			{Kind: PartReasoning, Text: "thinking", Signature: "sig"},
			{Kind: PartText, Text: "Hello"},
			{Kind: PartToolCall, ToolCall: &ToolCall{ID: "c1", Name: "f", Arguments: `{"a":1}`}},
		}}}
	if diff := cmp.Diff(want, a.Response()); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	// A response taken earlier keeps what it had.
	if got := mid.Message.Parts[2].ToolCall.Arguments; got != `{"a":` {
		t.Errorf("earlier response's arguments changed to %q", got)
	}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Accumulating a stream costs memory linear in its length: four times the
// deltas allocate about four times the bytes, where rebuilding the text
// on every delta would allocate sixteen times as much.
func TestAccumulator_Linear(t *testing.T) {
	run := func(n int) uint64 {
		return allocated(func() {
			var a Accumulator
			a.Add(Event{Kind: EventStart})
			a.Add(Event{Kind: EventToolCallDelta, Index: 1, ToolCall: &ToolCallDelta{ID: "c", Name: "f"}})
			for range n {
				a.Add(Event{Kind: EventTextDelta, Index: 0, Text: "eight by"})
				a.Add(Event{Kind: EventToolCallDelta, Index: 1, ToolCall: &ToolCallDelta{Arguments: "[1,2,3,4"}})
			}
			a.Add(Event{Kind: EventStop})
			if r := a.Response(); len(r.Message.Parts[0].Text) != 8*n || !strings.HasPrefix(r.Message.Parts[1].ToolCall.Arguments, "[1,2") {
				t.Fatalf("accumulated %d bytes of text, want %d", len(r.Message.Parts[0].Text), 8*n)
			}
		})
	}
	small, large := run(4<<10), run(16<<10)
	if ratio := float64(large) / float64(small); ratio > 6 {
		t.Errorf("4x the deltas allocated %.1fx the bytes (%d vs %d): accumulation is not linear", ratio, large, small)
	}
}
