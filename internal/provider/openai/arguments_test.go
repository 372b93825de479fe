package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// toolAnswer is a non-streamed answer with one tool call per argument
// string, and the given finish reason.
func toolAnswer(t *testing.T, finish string, args ...string) string {
	t.Helper()
	calls := make([]ToolCall, len(args))
	for i, a := range args {
		calls[i] = ToolCall{ID: "call_" + strconv.Itoa(i), Type: "function", Function: &FunctionCall{Name: "get_weather", Arguments: a}}
	}
	b, err := json.Marshal(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o",
		"choices": []any{map[string]any{"index": 0, "finish_reason": finish,
			"message": map[string]any{"role": "assistant", "content": nil, "tool_calls": calls}}},
		"usage": map[string]any{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestResponseToLLM_ToolArguments(t *testing.T) {
	for _, tc := range []struct {
		name   string
		finish string
		args   []string
		bad    string // the refused call's id; "" when the answer is accepted
	}{
		{"object", "tool_calls", []string{`{"city":"Paris"}`}, ""},
		{"object_with_space", "tool_calls", []string{" \n{\"city\": \"Paris\"}\n"}, ""},
		{"empty", "tool_calls", []string{""}, ""},
		{"empty_object", "tool_calls", []string{"{}"}, ""},
		{"malformed", "tool_calls", []string{`{bad json`}, "call_0"},
		{"second_malformed", "tool_calls", []string{`{"city":"Paris"}`, `{"city":`}, "call_1"},
		{"array", "tool_calls", []string{`[1,2]`}, "call_0"},
		{"string", "tool_calls", []string{`"Paris"`}, "call_0"},
		{"null", "tool_calls", []string{`null`}, "call_0"},
		{"trailing_garbage", "tool_calls", []string{`{"city":"Paris"}}`}, "call_0"},
		{"malformed_with_stop", "stop", []string{`{bad json`}, "call_0"},
		// A call cut off by the output limit may stop mid-arguments; the
		// finish reason says so, and only the last call can be cut.
		{"cut_off_last", "length", []string{`{"city":"Paris"}`, `{"city":"Ro`}, ""},
		{"cut_off_not_last", "length", []string{`{"city":"Pa`, `{"city":"Rome"}`}, "call_0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cr ChatResponse
			if err := json.Unmarshal([]byte(toolAnswer(t, tc.finish, tc.args...)), &cr); err != nil {
				t.Fatal(err)
			}
			resp, err := ResponseToLLM(&cr)
			if tc.bad == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				var got []string
				for _, p := range resp.Message.Parts {
					got = append(got, p.ToolCall.Arguments)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.args) {
					t.Errorf("arguments %q, want %q as sent", got, tc.args)
				}
				return
			}
			var ae *argumentsError
			if !errors.As(err, &ae) || ae.id != tc.bad || !strings.Contains(err.Error(), strconv.Quote(tc.bad)) {
				t.Fatalf("error = %v, want the arguments of %s refused", err, tc.bad)
			}
		})
	}
}

func TestAdapter_ChatToolArguments(t *testing.T) {
	url, _ := fakeUpstream(t, answer(200, toolAnswer(t, "tool_calls", `{"city":"Paris"}`, `{bad json`)))
	_, err := newTestAdapter(url).Chat(context.Background(), chatRequest())
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse || pe.Provider != "oai" {
		t.Fatalf("error = %v, want a bad response from oai", err)
	}
	if !strings.Contains(pe.Message, `"call_1"`) || strings.Contains(pe.Message, "bad json") {
		t.Errorf("message %q: want the call named and its arguments kept out", pe.Message)
	}
	if !strings.Contains(pe.Error(), "bad json") {
		t.Errorf("error %q: want the arguments in the logged cause", pe.Error())
	}

	url, _ = fakeUpstream(t, answer(200, toolAnswer(t, "tool_calls", `{"city":"Paris"}`, ``)))
	resp, err := newTestAdapter(url).Chat(context.Background(), chatRequest())
	if err != nil || len(resp.Message.Parts) != 2 {
		t.Fatalf("valid calls: %v, %+v", err, resp)
	}
}

// toolStream is an upstream stream with one tool call per list of
// argument fragments, then finish, usage and [DONE].
func toolStream(finish string, calls ...[]string) string {
	var b strings.Builder
	chunk := func(delta, finish string) {
		fin := "null"
		if finish != "" {
			fin = strconv.Quote(finish)
		}
		fmt.Fprintf(&b, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":%s,"finish_reason":%s}]}`+"\n\n", delta, fin)
	}
	chunk(`{"role":"assistant","content":null}`, "")
	for i, frags := range calls {
		chunk(fmt.Sprintf(`{"tool_calls":[{"index":%d,"id":"call_%d","type":"function","function":{"name":"get_weather","arguments":""}}]}`, i, i), "")
		for _, f := range frags {
			chunk(fmt.Sprintf(`{"tool_calls":[{"index":%d,"function":{"arguments":%s}}]}`, i, strconv.Quote(f)), "")
		}
	}
	chunk(`{}`, finish)
	b.WriteString(`data: {"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

func TestStreamDecoder_ToolArguments(t *testing.T) {
	for _, tc := range []struct {
		name   string
		finish string
		calls  [][]string
		bad    string // the refused call's id; "" when the stream stops normally
	}{
		{"fragments", "tool_calls", [][]string{{`{"ci`, `ty":"Par`, `is"}`}, {`{`, `"city":"Rome"`, `}`}}, ""},
		{"no_arguments", "tool_calls", [][]string{{}}, ""},
		{"malformed", "tool_calls", [][]string{{`{bad `, `json`}}, "call_0"},
		{"second_malformed", "tool_calls", [][]string{{`{"city":"Paris"}`}, {`{"city":`}}, "call_1"},
		{"unclosed", "tool_calls", [][]string{{`{"city":"Paris"`}}, "call_0"},
		{"not_an_object", "stop", [][]string{{`[`, `1]`}}, "call_0"},
		{"cut_off_last", "length", [][]string{{`{"city":"Paris"}`}, {`{"ci`}}, ""},
		{"cut_off_not_last", "length", [][]string{{`{"ci`}, {`{"city":"Rome"}`}}, "call_0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := decodeStream([]byte(toolStream(tc.finish, tc.calls...)))
			stopped := len(evs) > 0 && evs[len(evs)-1].Kind == llm.EventStop
			if tc.bad == "" {
				if err != nil || !stopped {
					t.Fatalf("stream failed (%v) or did not stop: %v", err, evs)
				}
				var acc llm.Accumulator
				for _, ev := range evs {
					acc.Add(ev)
				}
				parts := acc.Response().Message.Parts
				if len(parts) != len(tc.calls) {
					t.Fatalf("%d parts, want %d", len(parts), len(tc.calls))
				}
				for i, p := range parts {
					if want := strings.Join(tc.calls[i], ""); p.ToolCall.Arguments != want {
						t.Errorf("call %d arguments %q, want %q", i, p.ToolCall.Arguments, want)
					}
				}
				return
			}
			if stopped {
				t.Errorf("stream stopped normally: %v", evs[len(evs)-1])
			}
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse || pe.Provider != "test" ||
				!strings.Contains(pe.Message, strconv.Quote(tc.bad)) {
				t.Fatalf("error = %v, want a bad response naming %s", err, tc.bad)
			}
		})
	}
}

// TestStreamDecoder_ArgumentsBounded checks that the arguments held for
// the final check cannot grow past the cap.
func TestStreamDecoder_ArgumentsBounded(t *testing.T) {
	d := NewStreamDecoder("test")
	d.maxArgs = 64
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = d.Decode(nil, []byte(`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_0","function":{"name":"f","arguments":"`+
			strings.Repeat("x", 16)+`"}}]}}]}`))
	}
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse || !strings.Contains(pe.Message, "exceed 64 bytes") {
		t.Fatalf("error = %v, want the arguments refused past 64 bytes", err)
	}
	if d.argBytes > 64+16 {
		t.Errorf("holding %d bytes", d.argBytes)
	}
}

func TestAdapter_ChatStreamToolArguments(t *testing.T) {
	url, _ := fakeUpstream(t, streamAnswer([]byte(toolStream("tool_calls", []string{`{"city":"Paris"}`}, []string{`{bad`, ` json`}))))
	s, err := newTestAdapter(url).ChatStream(context.Background(), chatRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := drain(s)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse || pe.Provider != "oai" || !strings.Contains(pe.Message, `"call_1"`) {
		t.Fatalf("error = %v, want a bad response naming call_1", err)
	}
	for _, ev := range evs {
		if ev.Kind == llm.EventStop {
			t.Errorf("stream delivered its stop event: %v", evs)
		}
	}
}

func TestClient_StreamArgumentsCap(t *testing.T) {
	url, _ := fakeUpstream(t, streamAnswer([]byte(toolStream("tool_calls", []string{`{"city":"`, strings.Repeat("P", 3000), `"}`}))))
	c := NewClient(ClientOptions{Name: "capped", URL: func(op Operation, _ string) string { return url + "/v1/" + string(op) },
		MaxResponseBytes: 2048})
	s, err := c.ChatStream(context.Background(), chatRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = drain(s)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Kind != provider.KindBadResponse || !strings.Contains(pe.Message, "exceed 2048 bytes") {
		t.Fatalf("error = %v, want the arguments refused past the cap", err)
	}
}
