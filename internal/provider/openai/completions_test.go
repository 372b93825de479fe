package openai

import (
	"errors"
	"strings"
	"testing"

	"switchyard/internal/llm"
	"switchyard/internal/sse"
)

func TestDecodeCompletionRequest(t *testing.T) {
	for _, tc := range []struct {
		body    string
		err     error  // nil: accepted
		mention string // what the error names
		text    string // the canonical prompt, when accepted
	}{
		{`{"model":"m","prompt":"Say hi","max_tokens":5,"stop":"\n"}`, nil, "", "Say hi"},
		{`{"model":"m","prompt":["a","b"],"logprobs":2}`, nil, "", "a\nb"},
		{`{"model":"m","prompt":[1,2,3]}`, llm.ErrUnsupported, "token-id", ""},
		{`{"model":"m"}`, llm.ErrInvalid, "prompt", ""},
		{`{"model":"m","prompt":{}}`, llm.ErrInvalid, "prompt", ""},
		{`{"model":"m","prompt":"x","n":3}`, llm.ErrUnsupported, "n=1", ""},
		{`{"model":"m","prompt":"x","best_of":2}`, llm.ErrUnsupported, "best_of", ""},
		{`{"model":"m","prompt":"x","echo":true}`, llm.ErrUnsupported, "echo", ""},
		{`{"model":"m","prompt":"x","stream":true,"logprobs":1}`, llm.ErrUnsupported, "logprobs", ""},
		{`{"model":"m","prompt":["a","b"],"stream":true}`, llm.ErrUnsupported, "one prompt", ""},
		{`{"model":"m","prompt":"x","stop":["1","2","3","4","5"]}`, llm.ErrInvalid, "stop", ""},
		{`{"model":"m","prompt":"x","max_tokens":-1}`, llm.ErrInvalid, "max_tokens", ""},
		{`[`, llm.ErrInvalid, "", ""},
	} {
		_, req, err := DecodeCompletionRequest([]byte(tc.body))
		switch {
		case tc.err == nil && err != nil:
			t.Errorf("%s: %v", tc.body, err)
		case tc.err == nil:
			if got := req.Messages[0].Parts[0].Text; got != tc.text || req.Raw.Dialect != RawDialectCompletions || req.Passthrough[RawDialectCompletions]["prompt"] == nil {
				t.Errorf("%s: prompt %q, raw %v, passthrough %v", tc.body, got, req.Raw, req.Passthrough)
			}
		case !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.mention):
			t.Errorf("%s: %v, want %v naming %q", tc.body, err, tc.err, tc.mention)
		}
	}
}

func TestCompletionDecoder(t *testing.T) {
	d := &completionDecoder{name: "c"}
	var evs []llm.Event
	for _, data := range []string{
		`{"id":"cmpl-1","model":"gpt-3.5-turbo-instruct","choices":[{"text":"Hel","index":0,"finish_reason":null}]}`,
		`{"id":"cmpl-1","choices":[{"text":"lo","index":0,"finish_reason":"length"}]}`,
		`{"id":"cmpl-1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`,
		`[DONE]`,
	} {
		out, err := d.Decode(sse.Event{Data: []byte(data)})
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, out...)
	}
	if len(evs) != 4 || evs[0].Kind != llm.EventStart || evs[0].ID != "cmpl-1" || evs[1].Text != "Hel" || evs[2].Text != "lo" ||
		evs[3].Kind != llm.EventStop || evs[3].FinishReason != llm.FinishLength || evs[3].Usage == nil || evs[3].Usage.OutputTokens != 2 || !d.Stopped() {
		t.Errorf("events: %+v", evs)
	}
	cut := &completionDecoder{name: "c"}
	_, _ = cut.Decode(sse.Event{Data: []byte(`{"choices":[{"text":"x"}]}`)})
	if _, err := cut.End(); err == nil {
		t.Error("a stream cut before [DONE] ended cleanly")
	}
	if _, err := (&completionDecoder{name: "c"}).Decode(sse.Event{Data: []byte(`{"error":{"message":"boom","type":"server_error"}}`)}); err == nil {
		t.Error("an in-stream error was not reported")
	}
}

func FuzzDecodeCompletionRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","prompt":["a","b"],"stop":["x"],"max_tokens":3,"stream":true}`))
	f.Add([]byte(`{"prompt":[[1,2]],"logprobs":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		cr, req, err := DecodeCompletionRequest(body)
		if err != nil {
			return
		}
		if len(cr.Prompts) == 0 || req.Raw == nil || len(req.Messages) != 1 {
			t.Fatalf("accepted without a prompt: %+v", cr)
		}
	})
}

func FuzzCompletionDecoder(f *testing.F) {
	f.Add([]byte(`{"id":"a","choices":[{"text":"x","index":0,"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}`))
	f.Add([]byte(`[DONE]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := &completionDecoder{name: "f"}
		for _, line := range strings.Split(string(data), "\n") {
			if _, err := d.Decode(sse.Event{Data: []byte(line)}); err != nil {
				return
			}
		}
		_, _ = d.End()
	})
}
