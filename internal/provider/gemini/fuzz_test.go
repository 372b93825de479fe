package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

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

// FuzzResponseToLLM decodes upstream answers: none may panic, and an
// accepted answer must go back as history.
func FuzzResponseToLLM(f *testing.F) {
	addFiles(f, "testdata/response_to_llm/*.gemini.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		var r GenerateContentResponse
		if json.Unmarshal(body, &r) != nil {
			return
		}
		resp, err := ResponseToLLM(&r, "fuzz")
		if err != nil {
			return
		}
		req, err := RequestFromLLM(&llm.Request{Model: "m", Messages: []llm.Message{resp.Message}})
		if err != nil {
			t.Fatalf("sending an answer back as history: %v", err)
		}
		if _, err := json.Marshal(req); err != nil {
			t.Fatalf("encoding: %v", err)
		}
	})
}

// FuzzStreamDecoder feeds arbitrary bytes through the SSE reader and the
// decoder: no panic, errors are *provider.Error, and the events obey the
// stream contract (start first, indexes without gaps, stop last).
func FuzzStreamDecoder(f *testing.F) {
	addFiles(f, "testdata/stream/*.sse")
	f.Fuzz(func(t *testing.T, body []byte) {
		rd := sse.NewReaderSize(bytes.NewReader(body), 1<<16)
		dec := NewStreamDecoder("fuzz", "k")
		var evs []llm.Event
		for {
			ev, err := rd.Next()
			var out []llm.Event
			switch {
			case errors.Is(err, io.EOF):
				out, err = dec.End()
			case err != nil:
				return
			default:
				out, err = dec.Decode(ev.Data)
			}
			if err != nil {
				var pe *provider.Error
				if !errors.As(err, &pe) {
					t.Fatalf("%v is not a *provider.Error", err)
				}
				return
			}
			evs = append(evs, out...)
			if dec.Stopped() {
				break
			}
		}
		if evs[0].Kind != llm.EventStart || evs[len(evs)-1].Kind != llm.EventStop {
			t.Fatalf("events do not run from start to stop: %+v", evs)
		}
		next := 0
		for _, ev := range evs[1 : len(evs)-1] {
			switch {
			case ev.Index == next:
				next++
			case ev.Index != next-1:
				t.Fatalf("index %d after part %d", ev.Index, next-1)
			}
		}
	})
}
