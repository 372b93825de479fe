package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/sse"
)

// seed adds every testdata file matching pattern to the corpus.
func seed(f *testing.F, pattern string) {
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds for %s: %v", pattern, err)
	}
	for _, file := range files {
		f.Add(readFile(f, file))
	}
}

// FuzzDecodeChatRequest feeds arbitrary bodies through the ingress path and
// back out: nothing may panic, every refusal must say whether the request
// is invalid or unsupported, and whatever is accepted must translate for
// an upstream into JSON that the front door would accept again.
func FuzzDecodeChatRequest(f *testing.F) {
	seed(f, "testdata/request/*.client.json")
	f.Add([]byte(`{"model":"m","messages":[{"role":"tool","tool_call_id":"c","content":[{"type":"text","text":"x"}]},{"role":"user","content":"y"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		cr, err := DecodeChatRequest(body)
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) && !errors.Is(err, llm.ErrUnsupported) {
				t.Fatalf("decoding error is neither invalid nor unsupported: %v", err)
			}
			return
		}
		req, err := RequestToLLM(cr)
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) && !errors.Is(err, llm.ErrUnsupported) {
				t.Fatalf("translation error is neither invalid nor unsupported: %v", err)
			}
			return
		}
		out, err := RequestFromLLM(req)
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) && !errors.Is(err, llm.ErrUnsupported) {
				t.Fatalf("egress error is neither invalid nor unsupported: %v", err)
			}
			return
		}
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("marshaling the upstream request: %v", err)
		}
		cr2, err := DecodeChatRequest(b)
		if err != nil {
			t.Fatalf("upstream request %s does not decode: %v", b, err)
		}
		if _, err := RequestToLLM(cr2); err != nil {
			t.Fatalf("upstream request %s does not translate: %v", b, err)
		}
	})
}

// FuzzResponseToLLM feeds arbitrary upstream answers through the egress
// reader and the ingress writer.
func FuzzResponseToLLM(f *testing.F) {
	seed(f, "testdata/response/*.upstream.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		var cr ChatResponse
		if json.Unmarshal(body, &cr) != nil {
			return
		}
		resp, err := ResponseToLLM(&cr)
		if err != nil {
			return
		}
		if _, err := json.Marshal(ResponseFromLLM(resp, "m", testCreated)); err != nil {
			t.Fatalf("marshaling the client response: %v", err)
		}
	})
}

// FuzzStreamDecoder feeds arbitrary upstream bytes through the stream
// decoder and the client-side encoder: nothing may panic, errors must be
// *provider.Error, and a stream that ends well must keep the llm.Stream
// contract and encode for the client.
func FuzzStreamDecoder(f *testing.F) {
	seed(f, "testdata/stream/*.sse")
	f.Fuzz(func(t *testing.T, stream []byte) {
		d := NewStreamDecoder("fuzz")
		rd := sse.NewReaderSize(bytes.NewReader(stream), 1<<16)
		var evs []llm.Event
		for !d.Done() {
			ev, err := rd.Next()
			if errors.Is(err, io.EOF) {
				evs, err = d.End(evs)
				if err != nil {
					checkProviderError(t, err)
					return
				}
				break
			}
			if err != nil {
				return
			}
			if evs, err = d.Decode(evs, ev.Data); err != nil {
				checkProviderError(t, err)
				return
			}
		}
		checkEvents(t, evs)
		enc := NewStreamEncoder("x", "m", testCreated, true)
		for _, ev := range evs {
			if _, err := enc.Encode(ev); err != nil {
				// Upstreams may start a tool call without a name; the
				// encoder refuses that rather than send a nameless call.
				return
			}
		}
		enc.Done()
	})
}

func checkProviderError(t *testing.T, err error) {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Provider != "fuzz" || pe.Message == "" {
		t.Fatalf("error %v is not a *provider.Error with a message", err)
	}
}

// FuzzDecodeEmbeddingRequest feeds arbitrary bodies through the embeddings
// ingress path.
func FuzzDecodeEmbeddingRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"e","input":"hello"}`, `{"model":"e","input":["a","b"],"dimensions":8,"encoding_format":"base64"}`,
		`{"model":"e","input":[1,2]}`, `{"model":"e","input":[[1],[2,3]]}`, `{"model":"e","input":[["a"]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		er, err := DecodeEmbeddingRequest(body)
		if err != nil {
			if !errors.Is(err, llm.ErrInvalid) && !errors.Is(err, llm.ErrUnsupported) {
				t.Fatalf("decoding error is neither invalid nor unsupported: %v", err)
			}
			return
		}
		req, err := EmbeddingRequestToLLM(er)
		if err != nil {
			return
		}
		out, err := embeddingRequestFromLLM(req, "openai")
		if err != nil {
			t.Fatalf("accepted request does not translate back: %v", err)
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("marshaling the upstream request: %v", err)
		}
	})
}
