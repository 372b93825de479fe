package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/sse"
)

// addFiles seeds a fuzz corpus with the files matching pattern.
func addFiles(f *testing.F, pattern string) {
	f.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seed files match %s", pattern)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecodeMessagesRequest runs client bodies through ingress and back
// out: no input may panic, every failure must be classified, and what
// ingress accepts must encode.
func FuzzDecodeMessagesRequest(f *testing.F) {
	addFiles(f, "testdata/request_to_llm/*.anthropic.json")
	f.Add([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"x","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":""}}]}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		dec, err := DecodeMessagesRequest(body)
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) && !errors.Is(err, llm.ErrUnsupported) {
				t.Fatalf("unclassified decode error: %v", err)
			}
			return
		}
		canon, err := RequestToLLM(dec, DefaultVersion)
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) && !errors.Is(err, llm.ErrUnsupported) {
				t.Fatalf("unclassified translation error: %v", err)
			}
			return
		}
		CountTokens(canon)
		out, err := RequestFromLLM(canon)
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) && !errors.Is(err, llm.ErrUnsupported) {
				t.Fatalf("unclassified egress error: %v", err)
			}
			return
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("encoding an accepted request: %v", err)
		}
	})
}

// FuzzResponseToLLM decodes upstream answers; none may panic, and an
// accepted one must encode back for an Anthropic client.
func FuzzResponseToLLM(f *testing.F) {
	addFiles(f, "testdata/response_to_llm/*.anthropic.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		var r MessagesResponse
		if json.Unmarshal(body, &r) != nil {
			return
		}
		resp, err := ResponseToLLM(&r)
		if err != nil {
			return
		}
		if _, err := json.Marshal(ResponseFromLLM(resp, "m")); err != nil {
			t.Fatalf("encoding: %v", err)
		}
	})
}

// FuzzStreamDecoder feeds arbitrary upstream bytes through the SSE reader
// and the decoder: no panic, errors are *provider.Error, and whatever
// events come out re-encode for an Anthropic client.
func FuzzStreamDecoder(f *testing.F) {
	addFiles(f, "testdata/stream/*.sse")
	f.Fuzz(func(t *testing.T, body []byte) {
		rd := sse.NewReaderSize(bytes.NewReader(body), 1<<16)
		dec := NewStreamDecoder("fuzz")
		enc := NewStreamEncoder("m")
		for !dec.Stopped() {
			ev, err := rd.Next()
			if errors.Is(err, io.EOF) {
				err = dec.End()
				var pe *provider.Error
				if err != nil && !errors.As(err, &pe) {
					t.Fatalf("End: %v is not a *provider.Error", err)
				}
				return
			}
			if err != nil {
				return
			}
			evs, err := dec.Decode(ev.Type, ev.Data)
			if err != nil {
				var pe *provider.Error
				if !errors.As(err, &pe) {
					t.Fatalf("Decode: %v is not a *provider.Error", err)
				}
				return
			}
			for _, e := range evs {
				if _, err := enc.Encode(e); err != nil {
					t.Fatalf("re-encoding decoded event %+v: %v", e, err)
				}
			}
		}
	})
}

// FuzzDecodeBlockDelta checks the content_block_delta reader against
// encoding/json: whatever it accepts, json.Unmarshal decodes to the same
// index and delta (and, for an unnamed event, the same type).
func FuzzDecodeBlockDelta(f *testing.F) {
	for _, s := range []string{
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"word "}}`,
		`{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"a\": 1"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","thinking":"hmm\u00e9"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"signature_delta","signature":"EqQB"}}`,
		` {"index":0 , "delta":{"text":"a","type":"text_delta"},"type":"content_block_delta"} `,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":null}}`,
		`{"type":"content_block_delta","Index":0,"delta":{"type":"text_delta","text":"x"}}`,
		`{"type":"content_block_delta","index":0,"index":1,"delta":{"type":"text_delta","text":"x"}}`,
		`{"type":"content_block_delta","index":1e0,"delta":{"type":"text_delta","text":"x"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"},"extra":tru}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, checkType bool) {
		var got streamDelta
		i, ok := decodeBlockDelta(data, checkType, &got)
		if !ok {
			return
		}
		var ev streamEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatalf("decodeBlockDelta accepted %q, which json.Unmarshal refuses: %v", data, err)
		}
		if ev.Index == nil || *ev.Index != i || ev.Delta == nil || *ev.Delta != got {
			t.Fatalf("decodeBlockDelta(%q) = %d, %+v; json.Unmarshal %+v", data, i, got, ev)
		}
		if checkType && ev.Type != EventContentBlockDelta {
			t.Fatalf("decodeBlockDelta(%q) accepted an unnamed event of type %q", data, ev.Type)
		}
	})
}

// FuzzDecodeTextAnswer checks the text answer reader against
// encoding/json: whatever it accepts, json.Unmarshal decodes the same.
func FuzzDecodeTextAnswer(f *testing.F) {
	for _, s := range []string{
		`{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-latest","content":[{"type":"text","text":"Hi."}],` +
			`"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":14,"cache_creation_input_tokens":0,` +
			`"cache_read_input_tokens":0,"output_tokens":12,"service_tier":"standard"}}`,
		`{"id":"msg_2","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"a\nb","citations":null},{"type":"text","text":""}],` +
			`"stop_reason":"stop_sequence","stop_sequence":"END","usage":{"input_tokens":1,"output_tokens":2,"server_tool_use":{"web_search_requests":0}}}`,
		`{"id":"msg_3","content":[],"stop_reason":null,"usage":{"input_tokens":null}}`,
		`{"id":"msg_4","content":[{"type":"tool_use","id":"t","name":"f","input":{}}],"usage":{}}`,
		`{"ID":"x","content":[{"type":"text","text":"x","Text":"y"}]}`,
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
		`{"id":"a","id":"b"}`,
		`{"usage":{"output_tokens_details":{"thinking_tokens":3}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got MessagesResponse
		if !decodeTextAnswer(data, &got) {
			return
		}
		var want MessagesResponse
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("decodeTextAnswer accepted %q, which json.Unmarshal refuses: %v", data, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("decodeTextAnswer(%q) differs from json.Unmarshal (-want +got):\n%s", data, diff)
		}
	})
}
