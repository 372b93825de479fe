package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3/responses"

	"switchyard/internal/llm"
	"switchyard/internal/store"
)

// counterIDs returns deterministic item and call IDs.
func counterIDs() (func(string) string, func() string) {
	n := 0
	item := func(typ string) string {
		n++
		prefix := map[string]string{store.ItemFunctionCall: "fc_", store.ItemReasoning: "rs_"}[typ]
		if prefix == "" {
			prefix = "msg_"
		}
		return fmt.Sprintf("%s%d", prefix, n)
	}
	call := func() string {
		n++
		return fmt.Sprintf("call_%d", n)
	}
	return item, call
}

func TestOutputBuilder(t *testing.T) {
	u := &llm.Usage{InputTokens: 10, OutputTokens: 7, ReasoningTokens: 2}
	for _, tc := range []struct {
		name   string
		events []llm.Event
		status string
	}{
		{"text", []llm.Event{
			{Kind: llm.EventStart, ID: "up_1", Model: "m"},
			{Kind: llm.EventTextDelta, Index: 0, Text: "Hello"},
			{Kind: llm.EventTextDelta, Index: 0, Text: ""},
			{Kind: llm.EventTextDelta, Index: 0, Text: " world"},
			{Kind: llm.EventStop, FinishReason: llm.FinishStop, Usage: u},
		}, store.ResponseCompleted},
		{"reasoning_text_and_calls", []llm.Event{
			{Kind: llm.EventStart},
			{Kind: llm.EventReasoningDelta, Index: 0, Text: "Two cities"},
			{Kind: llm.EventReasoningDelta, Index: 0, Signature: "sig=="},
			{Kind: llm.EventTextDelta, Index: 1, Text: "Checking."},
			{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{ID: "toolu_1", Name: "get_weather"}},
			{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{Arguments: `{"city":`}},
			{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{Arguments: `"Paris"}`}},
			{Kind: llm.EventToolCallDelta, Index: 3, ToolCall: &llm.ToolCallDelta{Name: "get_weather", Arguments: `{"city":"Rome"}`}},
			{Kind: llm.EventStop, FinishReason: llm.FinishToolCalls, Usage: u},
		}, store.ResponseCompleted},
		{"two_text_parts_one_message", []llm.Event{
			{Kind: llm.EventTextDelta, Index: 0, Text: "First part."},
			{Kind: llm.EventTextDelta, Index: 1, Text: "Second part."},
			{Kind: llm.EventStop, FinishReason: llm.FinishStop},
		}, store.ResponseCompleted},
		{"cut_by_length", []llm.Event{
			{Kind: llm.EventTextDelta, Index: 0, Text: "It was the best"},
			{Kind: llm.EventStop, FinishReason: llm.FinishLength, Usage: u},
		}, store.ResponseIncomplete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, calls := counterIDs()
			var (
				buf    bytes.Buffer
				seq    int
				parsed []responses.ResponseStreamEventUnion
			)
			b := &outputBuilder{newItemID: items, newCallID: calls, encrypted: true, emit: func(ev *streamEvent) error {
				ev.SequenceNumber = seq
				seq++
				data, err := json.Marshal(ev)
				if err != nil {
					return err
				}
				var u responses.ResponseStreamEventUnion
				if err := json.Unmarshal(data, &u); err != nil {
					return fmt.Errorf("the SDK cannot read %s: %w", data, err)
				}
				parsed = append(parsed, u)
				fmt.Fprintf(&buf, "event: %s\ndata: %s\n\n", ev.Type, data)
				return nil
			}}
			for _, ev := range tc.events {
				if err := b.Add(ev); err != nil {
					t.Fatal(err)
				}
			}
			status, _ := outcomeOf(b.finish)
			if status != tc.status {
				t.Errorf("status %s, want %s", status, tc.status)
			}
			got, err := b.Close(itemStatus(status))
			if err != nil {
				t.Fatal(err)
			}
			goldenBytes(t, "testdata/responses/stream/"+tc.name+".sse", buf.Bytes())

			// Every item the events announce is finished with the item that
			// is returned, and the SDK reads each event as its own type.
			var done []string
			for _, ev := range parsed {
				if ev.Type == "response.output_item.done" {
					done = append(done, ev.Item.RawJSON())
				}
				if ev.AsAny() == nil {
					t.Errorf("the SDK does not know event %s", ev.Type)
				}
			}
			var rendered []string
			for _, w := range wireItems(got, true) {
				b, _ := json.Marshal(w)
				rendered = append(rendered, string(b))
			}
			if diff := cmp.Diff(rendered, done); diff != "" {
				t.Errorf("finished items differ from the built ones (-built +streamed):\n%s", diff)
			}

			// A non-streamed response built from the same events has the
			// same items.
			items2, calls2 := counterIDs()
			quiet := &outputBuilder{newItemID: items2, newCallID: calls2}
			for _, ev := range tc.events {
				if err := quiet.Add(ev); err != nil {
					t.Fatal(err)
				}
			}
			same, _ := quiet.Close(itemStatus(status))
			if diff := cmp.Diff(got, same); diff != "" {
				t.Errorf("non-streamed items differ (-streamed +whole):\n%s", diff)
			}
		})
	}
}

// TestOutputBuilder_ResponseEvents: a whole response replayed as events
// gives one item per part, in order.
func TestOutputBuilder_ResponseEvents(t *testing.T) {
	resp := &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{
		{Kind: llm.PartReasoning, Text: "think", Signature: "s"},
		llm.Text("answer"),
		{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "c1", Name: "f", Arguments: "{}"}},
	}}, FinishReason: llm.FinishToolCalls}
	items, calls := counterIDs()
	b := &outputBuilder{newItemID: items, newCallID: calls}
	for _, ev := range llm.ResponseEvents(resp) {
		if err := b.Add(ev); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.Close(store.ResponseCompleted)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Item{
		{ID: "rs_1", Type: store.ItemReasoning, Status: "completed", Content: []store.Content{{Type: store.ContentReasoningText, Text: "think"}}, Signature: "s"},
		{ID: "msg_2", Type: store.ItemMessage, Status: "completed", Role: "assistant", Content: []store.Content{{Type: store.ContentOutputText, Text: "answer"}}},
		{ID: "fc_3", Type: store.ItemFunctionCall, Status: "completed", CallID: "c1", Name: "f", Arguments: "{}"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
}

// TestOutputBuilder_WriteFailure: a failed write stops the builder and is
// reported, so the caller can record what was produced.
func TestOutputBuilder_WriteFailure(t *testing.T) {
	items, calls := counterIDs()
	gone := errors.New("client went away")
	n := 0
	b := &outputBuilder{newItemID: items, newCallID: calls, emit: func(*streamEvent) error {
		n++
		if n > 3 {
			return gone
		}
		return nil
	}}
	var err error
	for _, text := range []string{"a", "b", "c"} {
		if err = b.Add(llm.Event{Kind: llm.EventTextDelta, Text: text}); err != nil {
			break
		}
	}
	if !errors.Is(err, gone) {
		t.Fatalf("Add error = %v, want the write error", err)
	}
	b.emit = nil
	got, err := b.Close(store.ResponseIncomplete)
	if err != nil || len(got) != 1 || got[0].Status != store.ResponseIncomplete || got[0].Content[0].Text != "ab" {
		t.Errorf("items after a failed write: %+v, %v", got, err)
	}
}
