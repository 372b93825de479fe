package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/store"
)

func user(id, text string) store.Item {
	return store.Item{ID: id, Type: store.ItemMessage, Role: "user", Content: []store.Content{{Type: store.ContentInputText, Text: text}}}
}

func assistant(id, text string) store.Item {
	return store.Item{ID: id, Type: store.ItemMessage, Role: "assistant", Status: "completed",
		Content: []store.Content{{Type: store.ContentOutputText, Text: text}}}
}

func call(id, callID, name, args string) store.Item {
	return store.Item{ID: id, Type: store.ItemFunctionCall, Status: "completed", CallID: callID, Name: name, Arguments: args}
}

func output(id, callID, out string) store.Item {
	return store.Item{ID: id, Type: store.ItemFunctionCallOutput, CallID: callID, Output: out}
}

func TestAssemble(t *testing.T) {
	for _, tc := range []struct {
		name         string
		instructions string
		history      []store.Item
		input        []store.Item
		wantSystem   []llm.Part
		wantMsgs     []llm.Message
	}{
		{
			name:         "instructions_then_system_items",
			instructions: "be brief",
			history: []store.Item{
				{ID: "m0", Type: store.ItemMessage, Role: "developer", Content: []store.Content{{Type: store.ContentInputText, Text: "dev rule"}}},
				user("m1", "hello"), assistant("m2", "hi"),
			},
			input: []store.Item{
				{ID: "m3", Type: store.ItemMessage, Role: "system", Content: []store.Content{{Type: store.ContentInputText, Text: "sys rule"}}},
				user("m4", "again"),
			},
			wantSystem: []llm.Part{llm.Text("be brief"), llm.Text("dev rule"), llm.Text("sys rule")},
			wantMsgs: []llm.Message{
				{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("hello")}},
				{Role: llm.RoleAssistant, Parts: []llm.Part{llm.Text("hi")}},
				{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("again")}},
			},
		},
		{
			name: "tool_round_trip_groups_by_side",
			history: []store.Item{
				user("m1", "weather in Paris and Rome?"),
				{ID: "rs1", Type: store.ItemReasoning, Content: []store.Content{{Type: store.ContentReasoningText, Text: "two calls"}}, Signature: "sig"},
				assistant("m2", "Checking."),
				call("fc1", "call_1", "get_weather", `{"city":"Paris"}`),
				call("fc2", "call_2", "get_weather", `{"city":"Rome"}`),
			},
			input: []store.Item{
				output("o1", "call_1", "21C"),
				{ID: "o2", Type: store.ItemFunctionCallOutput, CallID: "call_2", OutputParts: []store.Content{
					{Type: store.ContentInputText, Text: "19C"}, {Type: store.ContentInputImage, ImageURL: "https://example.com/rome.png"},
				}},
				user("m3", "thanks"),
			},
			wantMsgs: []llm.Message{
				{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("weather in Paris and Rome?")}},
				{Role: llm.RoleAssistant, Parts: []llm.Part{
					{Kind: llm.PartReasoning, Text: "two calls", Signature: "sig"},
					llm.Text("Checking."),
					{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
					{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_2", Name: "get_weather", Arguments: `{"city":"Rome"}`}},
				}},
				{Role: llm.RoleUser, Parts: []llm.Part{
					{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "call_1", Name: "get_weather", Content: []llm.Part{llm.Text("21C")}}},
					{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "call_2", Name: "get_weather", Content: []llm.Part{
						llm.Text("19C"), {Kind: llm.PartImage, Image: &llm.Image{URL: "https://example.com/rome.png"}},
					}}},
				}},
				{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("thanks")}},
			},
		},
		{
			name: "call_and_output_both_in_input",
			input: []store.Item{
				user("m1", "use f"), call("fc1", "call_1", "f", `{}`), output("o1", "call_1", "done"),
			},
			wantMsgs: []llm.Message{
				{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("use f")}},
				{Role: llm.RoleAssistant, Parts: []llm.Part{{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_1", Name: "f", Arguments: `{}`}}}},
				{Role: llm.RoleUser, Parts: []llm.Part{{Kind: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "call_1", Name: "f", Content: []llm.Part{llm.Text("done")}}}}},
			},
		},
		{
			name: "images_refusals_and_empty_items",
			history: []store.Item{
				{ID: "m1", Type: store.ItemMessage, Role: "user", Content: []store.Content{
					{Type: store.ContentInputText, Text: "what is this?"},
					{Type: store.ContentInputImage, ImageURL: "data:image/png;base64,aGVsbG8=", Detail: "low"},
				}},
				{ID: "m2", Type: store.ItemMessage, Role: "assistant", Status: "incomplete"},
				{ID: "rs", Type: store.ItemReasoning},
				{ID: "m3", Type: store.ItemMessage, Role: "assistant", Content: []store.Content{{Type: store.ContentRefusal, Text: "I can't say."}}},
			},
			input: []store.Item{
				{ID: "rs2", Type: store.ItemReasoning, Summary: []string{"first", "second"}},
				{ID: "rs3", Type: store.ItemReasoning, Redacted: "b3BhcXVl"},
				user("m4", "please"),
			},
			wantMsgs: []llm.Message{
				{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("what is this?"),
					{Kind: llm.PartImage, Image: &llm.Image{MIMEType: "image/png", Data: []byte("hello"), Detail: "low"}}}},
				{Role: llm.RoleAssistant, Parts: []llm.Part{llm.Text("I can't say."),
					{Kind: llm.PartReasoning, Text: "first\nsecond"}, {Kind: llm.PartReasoning, Redacted: "b3BhcXVl"}}},
				{Role: llm.RoleUser, Parts: []llm.Part{llm.Text("please")}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			system, msgs, err := Assemble(tc.instructions, tc.history, tc.input)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantSystem, system); diff != "" {
				t.Errorf("system (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantMsgs, msgs); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			// Messages share one backing array of parts; appending to one
			// must never overwrite the next.
			if len(msgs) > 1 {
				before := cmp.Diff(tc.wantMsgs[1], msgs[1])
				_ = append(msgs[0].Parts, llm.Text("appended"))
				if after := cmp.Diff(tc.wantMsgs[1], msgs[1]); after != before {
					t.Errorf("appending to message 0 changed message 1:\n%s", after)
				}
			}
		})
	}
}

func TestAssemble_Errors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		history []store.Item
		input   []store.Item
		want    string
	}{
		{"output_without_call", []store.Item{user("m1", "hi")}, []store.Item{output("o1", "call_9", "x")},
			"No tool call found for function call output with call_id call_9."},
		{"output_before_its_call", nil, []store.Item{output("o1", "call_1", "x"), call("fc1", "call_1", "f", "{}")},
			"No tool call found for function call output with call_id call_1."},
		{"call_without_name", nil, []store.Item{call("fc1", "call_1", "", "{}")},
			`input[0]: function call "fc1": call_id and name are required`},
		{"unknown_item_type", []store.Item{{ID: "x1", Type: "web_search_call"}}, nil,
			`history: item "x1": unknown type "web_search_call"`},
		{"unknown_role", nil, []store.Item{{ID: "m1", Type: store.ItemMessage, Role: "tool", Content: []store.Content{{Type: store.ContentInputText}}}},
			`input[0]: message "m1": unknown role "tool"`},
		{"unknown_content", nil, []store.Item{{ID: "m1", Type: store.ItemMessage, Role: "user", Content: []store.Content{{Type: "input_file"}}}},
			`input[0]: message "m1": content[0]: unknown content type "input_file"`},
		{"image_in_system", nil, []store.Item{{ID: "m1", Type: store.ItemMessage, Role: "system", Content: []store.Content{{Type: store.ContentInputImage}}}},
			`input[0]: system message "m1": content[0]: input_image parts are not allowed`},
		{"image_from_assistant", nil, []store.Item{{ID: "m1", Type: store.ItemMessage, Role: "assistant",
			Content: []store.Content{{Type: store.ContentInputImage, ImageURL: "https://x/y.png"}}}},
			`input[0]: message "m1": content[0]: images are not allowed in assistant messages`},
		{"bad_image_url", nil, []store.Item{{ID: "m1", Type: store.ItemMessage, Role: "user",
			Content: []store.Content{{Type: store.ContentInputImage, ImageURL: "file:///etc/passwd"}}}},
			`input[0]: message "m1": content[0]: image_url must be an http(s) or data: URL`},
		{"data_url_not_base64", nil, []store.Item{{ID: "m1", Type: store.ItemMessage, Role: "user",
			Content: []store.Content{{Type: store.ContentInputImage, ImageURL: "data:image/png,raw"}}}},
			`input[0]: message "m1": content[0]: image data URL must be data:<media type>;base64,<data>`},
		{"data_url_bad_base64", nil, []store.Item{{ID: "m1", Type: store.ItemMessage, Role: "user",
			Content: []store.Content{{Type: store.ContentInputImage, ImageURL: "data:image/png;base64,!!"}}}},
			`input[0]: message "m1": content[0]: image data URL is not valid base64: illegal base64 data at input byte 0`},
		{"bad_tool_output_part", []store.Item{call("fc1", "call_1", "f", "{}")}, []store.Item{{ID: "o1", Type: store.ItemFunctionCallOutput,
			CallID: "call_1", OutputParts: []store.Content{{Type: store.ContentReasoningText}}}},
			`input[0]: function call output "o1": output[0]: unknown content type "reasoning_text"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Assemble("", tc.history, tc.input)
			var ie *InputError
			if !errors.As(err, &ie) || ie.Param != "input" || ie.Message != tc.want {
				t.Fatalf("error = %#v, want an input error %q", err, tc.want)
			}
			if !errors.Is(err, llm.ErrInvalid) {
				t.Errorf("error does not wrap llm.ErrInvalid")
			}
		})
	}
}

// longHistory returns a history of n turns: each a user question, a tool
// call, its output and the assistant's answer, with realistic text sizes.
func longHistory(n int) []store.Item {
	items := make([]store.Item, 0, 4*n)
	for i := range n {
		cid := fmt.Sprintf("call_%04d", i)
		items = append(items,
			user(fmt.Sprintf("msg_q%04d", i), fmt.Sprintf("Question %d: what is the weather like in the city we talked about, and should I bring an umbrella tomorrow morning?", i)),
			call(fmt.Sprintf("fc_%04d", i), cid, "get_weather", `{"city":"Paris","unit":"c","day":"tomorrow"}`),
			output(fmt.Sprintf("fco_%04d", i), cid, `{"temperature":21,"conditions":"light rain in the morning, clearing by noon"}`),
			assistant(fmt.Sprintf("msg_a%04d", i), fmt.Sprintf("Answer %d: it will be around 21C with light rain in the morning, so yes, an umbrella is a good idea; it clears by noon.", i)),
		)
	}
	return items
}

// historyBytes is the size of a history's stored JSON, the yardstick for
// what assembling it may allocate.
func historyBytes(t testing.TB, items []store.Item) int {
	n := 0
	for i := range items {
		b, err := json.Marshal(&items[i])
		if err != nil {
			t.Fatal(err)
		}
		n += len(b) + len(items[i].ID)
	}
	return n
}

func BenchmarkAssembleHistory(b *testing.B) {
	history := longHistory(200)
	input := []store.Item{user("msg_new", "And the day after?")}
	b.ReportAllocs()
	b.SetBytes(int64(historyBytes(b, history)))
	for b.Loop() {
		_, msgs, err := Assemble("be brief", history, input)
		if err != nil || len(msgs) != 801 {
			b.Fatalf("%d messages, %v", len(msgs), err)
		}
	}
}

// TestAssemble_MemoryBoundedByHistory checks that assembling a turn costs a
// fixed number of allocations whatever the history's length, and memory in
// proportion to the history, within a quarter of its stored size: the
// assembled request points into the stored items instead of copying them,
// and only adds the canonical model's structure around them.
func TestAssemble_MemoryBoundedByHistory(t *testing.T) {
	input := []store.Item{user("msg_new", "And the day after?")}
	measure := func(turns int) (allocs float64, bytes uint64, size int) {
		history := longHistory(turns)
		allocs = testing.AllocsPerRun(20, func() {
			if _, _, err := Assemble("be brief", history, input); err != nil {
				t.Fatal(err)
			}
		})
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const runs = 20
		for range runs {
			if _, _, err := Assemble("be brief", history, input); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		return allocs, (after.TotalAlloc - before.TotalAlloc) / runs, historyBytes(t, history)
	}
	smallAllocs, smallBytes, smallSize := measure(20)
	allocs, bytes, size := measure(200)
	t.Logf("20 turns: %.0f allocs, %d B for %d B of history; 200 turns: %.0f allocs, %d B for %d B of history",
		smallAllocs, smallBytes, smallSize, allocs, bytes, size)
	if allocs > smallAllocs {
		t.Errorf("allocations grow with the history: %.0f for 20 turns, %.0f for 200", smallAllocs, allocs)
	}
	if bytes > uint64(size)*5/4 {
		t.Errorf("assembling %d B of history allocated %d B", size, bytes)
	}
	if bytes > 12*smallBytes {
		t.Errorf("memory grows faster than the history: %d B for 20 turns, %d B for 200", smallBytes, bytes)
	}
}

func FuzzAssemble(f *testing.F) {
	for _, seed := range [][]store.Item{
		longHistory(2),
		{user("m1", "hi"), output("o1", "call_1", "x")},
		{{ID: "m1", Type: store.ItemMessage, Role: "user", Content: []store.Content{{Type: store.ContentInputImage, ImageURL: "data:image/png;base64,aGk="}}}},
		{{ID: "r", Type: store.ItemReasoning, Summary: []string{"s"}}, call("fc", "c", "f", "{}"), output("o", "c", "")},
	} {
		b, err := json.Marshal(seed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, 1)
	}
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		var items []store.Item
		if json.Unmarshal(data, &items) != nil {
			return
		}
		split = max(0, min(split, len(items)))
		system, msgs, err := Assemble("x", items[:split], items[split:])
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *InputError", err)
			}
			return
		}
		if len(system) == 0 || system[0].Text != "x" {
			t.Fatalf("system %v does not start with the instructions", system)
		}
		calls := map[string]bool{}
		for i, m := range msgs {
			if len(m.Parts) == 0 {
				t.Fatalf("message %d has no parts", i)
			}
			if i > 0 && m.Role == llm.RoleAssistant && msgs[i-1].Role == llm.RoleAssistant {
				t.Fatalf("messages %d and %d are both assistant turns", i-1, i)
			}
			for _, p := range m.Parts {
				switch p.Kind {
				case llm.PartToolCall:
					calls[p.ToolCall.ID] = true
				case llm.PartToolResult:
					if !calls[p.ToolResult.CallID] {
						t.Fatalf("result for %q before its call", p.ToolResult.CallID)
					}
				}
			}
		}
	})
}
