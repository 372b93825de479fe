package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"switchyard/internal/llm"
	"switchyard/internal/provider/bedrock"
)

// bedrockFrames are the frames of an event-stream body, as
// "event:<type>" or "exception:<type>".
func bedrockFrames(t *testing.T, body []byte) []string {
	t.Helper()
	dec := bedrock.NewEventDecoder(bytes.NewReader(body))
	var out []string
	for {
		f, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decoding event stream: %v", err)
		}
		if f.MessageType == "exception" {
			out = append(out, "exception:"+f.ExceptionType+" "+string(f.Payload))
		} else {
			out = append(out, f.MessageType+":"+f.EventType)
		}
	}
}

// A streamed answer past server.max_stream_bytes is cut with the error
// event of the client's dialect, whichever channel it comes from: an
// OpenAI error chunk without [DONE], an Anthropic error event without
// message_stop, a Bedrock modelStreamErrorException frame without
// messageStop (ConverseStream and InvokeModelWithResponseStream), a
// Responses response.failed.
func TestStreamSizeCap(t *testing.T) {
	h := newHarness(t, func(c *harnessConfig) { c.sessions, c.maxStream = true, 4000 })
	hc := &http.Client{}
	text := words(2000) // an answer of about 10 kB
	for _, door := range streamDoors {
		for _, ch := range streamChannels {
			t.Run(door.name+"/"+ch, func(t *testing.T) {
				body := streamBody(t, hc, door.request(h, "via-"+ch, text))
				s := string(body)
				switch door.name {
				case "chat":
					if !strings.Contains(s, `"type":"server_error"`) || !strings.Contains(s, `"code":"stream_too_large"`) || strings.Contains(s, "[DONE]") {
						t.Errorf("chat stream does not end with the size error: ...%s", tail(s))
					}
				case "anthropic":
					if !strings.Contains(s, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\"") || strings.Contains(s, "message_stop") {
						t.Errorf("anthropic stream does not end with the size error: ...%s", tail(s))
					}
				case "responses":
					if !strings.Contains(s, "event: response.failed\n") || !strings.Contains(s, `"status":"failed"`) || strings.Contains(s, "response.completed") {
						t.Errorf("responses stream does not end with response.failed: ...%s", tail(s))
					}
				case "bedrock", "bedrock_invoke":
					frames := bedrockFrames(t, body)
					last := frames[len(frames)-1]
					if !strings.HasPrefix(last, "exception:modelStreamErrorException") || !strings.Contains(last, "size limit") || strings.Contains(strings.Join(frames, ","), "messageStop") {
						t.Errorf("bedrock stream ends with %q, want a modelStreamErrorException", last)
					}
				}
				if door.name == "bedrock_invoke" {
					if s = invokeEvents(t, body); strings.Contains(s, "message_stop") {
						t.Errorf("invoke stream has a message_stop: ...%s", tail(s))
					}
				}
				// What was delivered fits the cap, and is most of it: each
				// delta is "word ", a JSON string of its own.
				if n := strings.Count(s, `"word `); n < 4000/5/2 || n > 4000/5+10 {
					t.Errorf("the client got %d words before the cut", n)
				}
			})
		}
	}
}

// invokeEvents are the Anthropic events an InvokeModelWithResponseStream
// body carries in its chunk events, joined.
func invokeEvents(t *testing.T, body []byte) string {
	t.Helper()
	dec := bedrock.NewEventDecoder(bytes.NewReader(body))
	var out strings.Builder
	for {
		f, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return out.String()
		}
		if err != nil {
			t.Fatalf("decoding event stream: %v", err)
		}
		var chunk struct{ Bytes []byte }
		if f.EventType == "chunk" && json.Unmarshal(f.Payload, &chunk) == nil {
			out.Write(chunk.Bytes)
			out.WriteByte('\n')
		}
	}
}

func tail(s string) string { return s[max(0, len(s)-400):] }

// allocated returns the bytes f allocates in the whole process.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A stream's cost is linear in its length on every path from a channel to
// a front door: four times the text deltas allocate about four times the
// bytes (in the whole process: simulated cloud, gateway and client),
// where rebuilding the answer on every delta anywhere would allocate
// more than ten times as much.
func TestStream_Linear(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 60 answers")
	}
	h := newHarness(t, func(c *harnessConfig) { c.sessions = true })
	hc := &http.Client{}
	for _, door := range streamDoors {
		for _, ch := range streamChannels {
			t.Run(door.name+"/"+ch, func(t *testing.T) {
				run := func(n int) uint64 {
					text := words(n)
					req := door.request(h, "via-"+ch, text)
					return allocated(func() {
						if body := streamBody(t, hc, req); !bytes.Contains(body, []byte(door.end)) {
							t.Fatalf("stream did not complete: ...%s", tail(string(body)))
						}
					})
				}
				run(1 << 10) // warm up
				small, large := run(2<<10), run(8<<10)
				if ratio := float64(large) / float64(small); ratio > 6 {
					t.Errorf("4x the deltas allocated %.1fx the bytes (%d vs %d): a stream's cost is not linear", ratio, large, small)
				}
			})
		}
	}
}

// The Responses output builder keeps the items to be stored in time and
// memory linear in the stream's length.
func TestOutputBuilder_Linear(t *testing.T) {
	newItemID, newCallID := counterIDs()
	run := func(n int) uint64 {
		return allocated(func() {
			b := &outputBuilder{newItemID: newItemID, newCallID: newCallID}
			evs := []llm.Event{{Kind: llm.EventStart}}
			for range n {
				evs = append(evs[:1], llm.Event{Kind: llm.EventReasoningDelta, Index: 0, Text: "think..."})
				for _, ev := range evs[1:] {
					_ = b.Add(ev)
				}
			}
			for range n {
				_ = b.Add(llm.Event{Kind: llm.EventTextDelta, Index: 1, Text: "eight by"})
			}
			_ = b.Add(llm.Event{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{ID: "c", Name: "f", Arguments: "["}})
			for range n {
				_ = b.Add(llm.Event{Kind: llm.EventToolCallDelta, Index: 2, ToolCall: &llm.ToolCallDelta{Arguments: "1,2,3,4,"}})
			}
			items, _ := b.Close("completed")
			if len(items) != 3 || len(items[1].Content[0].Text) != 8*n || len(items[2].Arguments) != 8*n+1 {
				t.Fatalf("items %d, text %d bytes, arguments %d bytes", len(items), len(items[1].Content[0].Text), len(items[2].Arguments))
			}
		})
	}
	small, large := run(4<<10), run(16<<10)
	if ratio := float64(large) / float64(small); ratio > 6 {
		t.Errorf("4x the deltas allocated %.1fx the bytes (%d vs %d): the output builder is not linear", ratio, large, small)
	}
}
