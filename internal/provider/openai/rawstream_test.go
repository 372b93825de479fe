package openai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"switchyard/internal/llm"
)

// pieces is a body that hands out its bytes n at a time, as a socket
// read hands out what has arrived.
type pieces struct {
	s string
	n int
}

func (p *pieces) Read(b []byte) (int, error) {
	if p.s == "" {
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), p.n)], p.s)
	p.s = p.s[n:]
	return n, nil
}

func (p *pieces) Close() error { return nil }

// rawTestStream is a passthrough chatStream over body, for a client that
// asked for model "alias" (usage chunk wanted or not).
func rawTestStream(t testing.TB, body string, read int, usage bool) *chatStream {
	t.Helper()
	client := `{"model":"alias","stream":true,"messages":[]}`
	if usage {
		client = `{"model":"alias","stream":true,"stream_options":{"include_usage":true},"messages":[]}`
	}
	raw, ok := newRawChat([]byte(client))
	if !ok {
		t.Fatal("client body not read")
	}
	_, cancel := context.WithCancelCause(context.Background())
	return &chatStream{name: "oa", body: io.NopCloser(&pieces{s: body, n: read}), cancel: cancel, dec: NewStreamDecoder("oa"), raw: raw}
}

// drainRaw reads a raw stream to its end, returning the bytes, the
// content counted, the canonical events and the error that ended it.
func drainRaw(s *chatStream, room int64) (string, int64, []llm.Event, bool, error) {
	var out strings.Builder
	var size int64
	var evs []llm.Event
	for {
		ch, err := s.NextRaw(room - size)
		out.Write(ch.Data)
		size += ch.Size
		evs = append(evs, ch.Events...)
		if ch.Cut {
			return out.String(), size, evs, true, nil
		}
		if errors.Is(err, io.EOF) {
			return out.String(), size, evs, false, nil
		}
		if err != nil {
			return out.String(), size, evs, false, err
		}
	}
}

func chunkOf(delta, finish string) string {
	return `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":` +
		delta + `,"logprobs":null,"finish_reason":` + finish + `}],"usage":null}` + "\n\n"
}

const usageChunk = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}` + "\n\n"

// textStream is a plain text answer of one chunk per word, each a JSON
// string as it is to appear on the wire.
func textStream(words ...string) string {
	var b strings.Builder
	b.WriteString(chunkOf(`{"role":"assistant","content":"","refusal":null}`, "null"))
	for _, w := range words {
		b.WriteString(chunkOf(`{"content":`+w+`}`, "null"))
	}
	b.WriteString(chunkOf(`{}`, `"stop"`))
	b.WriteString(usageChunk)
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

// The passthrough forwards every byte but the model name, which becomes
// the client's, and the usage chunk the client did not ask for; it counts
// the text as decoded bytes and reports the usage in the stop event,
// whatever the sizes of the reads.
func TestRawStream_Passthrough(t *testing.T) {
	body := textStream(`"Hello"`, "\" w\u00f6rld\"", `" \"q\" \u00e9\ud83d\ude00"`)
	for _, read := range []int{1, 7, 100, 1 << 20} {
		for _, usage := range []bool{true, false} {
			t.Run(fmt.Sprintf("read%d/usage%v", read, usage), func(t *testing.T) {
				out, size, evs, cut, err := drainRaw(rawTestStream(t, body, read, usage), 1<<20)
				if err != nil || cut {
					t.Fatalf("err %v, cut %v", err, cut)
				}
				want := strings.ReplaceAll(body, `"model":"gpt-4o-mini"`, `"model":"alias"`)
				if !usage {
					want = strings.Replace(want, strings.ReplaceAll(usageChunk, `"model":"gpt-4o-mini"`, `"model":"alias"`), "", 1)
				}
				if out != want {
					t.Errorf("client got\n%s\nwant\n%s", out, want)
				}
				// Decoded: "Hello" 5, " wörld" 7, ` "q" é😀` 1+3+1+2+4.
				if size != 5+7+11 {
					t.Errorf("content size %d, want %d", size, 5+7+11)
				}
				last := evs[len(evs)-1]
				if last.Kind != llm.EventStop || last.Usage == nil || last.Usage.OutputTokens != 4 || last.FinishReason != llm.FinishStop {
					t.Errorf("last event %+v", last)
				}
			})
		}
	}
}

// A burst larger than the read buffer grows it, so that what one read of
// the upstream hands over leaves in one chunk (one write to the client)
// rather than in one per kilobyte; a stream whose reads are small keeps
// its small buffer.
func TestRawStream_BurstInOneChunk(t *testing.T) {
	words := make([]string, 400)
	for i := range words {
		words[i] = fmt.Sprintf(`"word%d "`, i)
	}
	body := textStream(words...)
	const read = 8 << 10
	s := rawTestStream(t, body, read, true)
	chunks := 0
	var out strings.Builder
	for {
		ch, err := s.NextRaw(1 << 30)
		if len(ch.Data) > 0 {
			chunks++
			out.Write(ch.Data)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if want := strings.ReplaceAll(body, `"model":"gpt-4o-mini"`, `"model":"alias"`); out.String() != want {
		t.Fatalf("client got %d bytes, want %d", out.Len(), len(want))
	}
	// Reads of 1, 2 and 4 KiB while the buffer grows, then one chunk per
	// read of 8 KiB (give or take an event cut by a read's end).
	if most := len(body)/read + 6; chunks > most {
		t.Errorf("%d bytes in reads of %d went out in %d chunks, want at most %d", len(body), read, chunks, most)
	}
	if n := len(s.raw.buf); n != read && n != 2*read {
		t.Errorf("buffer grew to %d for reads of %d", n, read)
	}

	small := rawTestStream(t, body, 300, true)
	if _, _, _, _, err := drainRaw(small, 1<<30); err != nil {
		t.Fatal(err)
	}
	if n := len(small.raw.buf); n != rawInitialBuffer {
		t.Errorf("buffer of a stream read 300 bytes at a time grew to %d", n)
	}
}

// sized is a body that hands out its bytes in reads of the given sizes,
// the last one repeated.
type sized struct {
	s     string
	sizes []int
}

func (p *sized) Read(b []byte) (int, error) {
	if p.s == "" {
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), p.sizes[0])], p.s)
	p.s = p.s[n:]
	if len(p.sizes) > 1 {
		p.sizes = p.sizes[1:]
	}
	return n, nil
}

// A buffer grown by a burst goes back to its first size once the stream
// has slowed down, and the stream is passed through whole meanwhile.
func TestRawStream_BufferShrinksWhenSlow(t *testing.T) {
	words := make([]string, 400)
	for i := range words {
		words[i] = fmt.Sprintf(`"word%d "`, i)
	}
	body := textStream(words...)
	s := rawTestStream(t, body, 0, true)
	s.body = io.NopCloser(&sized{s: body, sizes: []int{8 << 10, 8 << 10, 8 << 10, 8 << 10, 8 << 10, 8 << 10, 100}})
	var out strings.Builder
	grown := 0
	for {
		ch, err := s.NextRaw(1 << 30)
		out.Write(ch.Data)
		grown = max(grown, len(s.raw.buf))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if want := strings.ReplaceAll(body, `"model":"gpt-4o-mini"`, `"model":"alias"`); out.String() != want {
		t.Fatalf("client got %d bytes, want %d", out.Len(), len(want))
	}
	if grown < 8<<10 || len(s.raw.buf) != rawInitialBuffer || cap(s.raw.out) > rawInitialBuffer {
		t.Errorf("buffer grew to %d and ended at %d (output %d); want it grown by the burst and back to %d", grown, len(s.raw.buf), cap(s.raw.out), rawInitialBuffer)
	}
}

// A tool call with arguments that are not a JSON object fails the stream
// before the chunk with the finish reason; a stream cut short fails; the
// room cuts the stream before the event that would pass it.
func TestRawStream_Guarantees(t *testing.T) {
	bad := chunkOf(`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}`, "null") +
		chunkOf(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}`, "null") +
		chunkOf(`{"tool_calls":[{"index":0,"function":{"arguments":"oops"}}]}`, "null") +
		chunkOf(`{}`, `"tool_calls"`) + usageChunk + "data: [DONE]\n\n"
	out, _, _, _, err := drainRaw(rawTestStream(t, bad, 1<<20, true), 1<<20)
	if err == nil || strings.Contains(out, `"finish_reason":"tool_calls"`) || strings.Contains(out, "[DONE]") {
		t.Errorf("bad arguments: err %v, client got %s", err, out)
	}
	good := strings.Replace(bad, "oops", "1}", 1)
	out, _, evs, _, err := drainRaw(rawTestStream(t, good, 1<<20, true), 1<<20)
	if err != nil || !strings.Contains(out, `"finish_reason":"tool_calls"`) || evs[len(evs)-1].FinishReason != llm.FinishToolCalls {
		t.Errorf("good arguments: err %v, client got %s", err, out)
	}

	cutShort := textStream(`"a"`, `"b"`)
	cutShort = cutShort[:strings.Index(cutShort, `"finish_reason":"stop"`)]
	if _, _, _, _, err := drainRaw(rawTestStream(t, cutShort, 64, true), 1<<20); err == nil {
		t.Error("a stream cut short ended without an error")
	}

	out, size, _, cut, err := drainRaw(rawTestStream(t, textStream(`"aaaa"`, `"bbbb"`, `"cccc"`), 1<<20, true), 10)
	if err != nil || !cut || size != 8 || strings.Contains(out, "cccc") || !strings.Contains(out, "bbbb") {
		t.Errorf("room 10: err %v, cut %v, size %d, client got %s", err, cut, size, out)
	}
}

// FuzzRawStream feeds arbitrary event streams, in arbitrary read sizes, to
// the passthrough and to the decoder: the passthrough never panics nor
// loops, and for a stream the decoder takes whole it counts the same text
// (as the decoded events measure it).
func FuzzRawStream(f *testing.F) {
	f.Add(textStream(`"Hello"`, `" world"`), 5)
	f.Add(textStream(`"\u00e9\""`, `"x"`), 1)
	f.Add(chunkOf(`{"content":"a","tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]}`, `"tool_calls"`)+usageChunk+"data: [DONE]\n\n", 3)
	f.Add(": ping\n\ndata: {\"choices\":[]}\r\n\r\ndata: [DONE]", 2)
	f.Add("data: {\"error\":{\"message\":\"boom\"}}\n\n", 9)
	f.Fuzz(func(t *testing.T, body string, read int) {
		read = 1 + abs(read)%64
		out, size, _, _, err := drainRaw(rawTestStream(t, body, read, true), 1<<40)
		if len(out) > 2*len(body)+64 {
			t.Fatalf("passthrough wrote %d bytes for a %d-byte stream", len(out), len(body))
		}
		if err != nil {
			return
		}
		// The decoded path over the same bytes.
		dec := NewStreamDecoder("oa")
		var want int64
		for _, ev := range strings.Split(body, "\n\n") {
			data, ok := strings.CutPrefix(strings.TrimSpace(ev), "data: ")
			if !ok || strings.Contains(data, "\n") || strings.Contains(data, "\r") {
				return // framing the comparison does not model
			}
			evs, err := dec.Decode(nil, []byte(data))
			if err != nil {
				return
			}
			for _, e := range evs {
				want += e.ContentSize()
			}
			if dec.Done() {
				break
			}
		}
		if dec.Done() && size != want {
			// The passthrough measures a chunk only when its shape is
			// one the decoder made a text delta of; every other chunk
			// is decoded.
			t.Errorf("passthrough counted %d bytes of content, the decoder %d", size, want)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// BenchmarkRawStream is the passthrough's own work on a 65,536-chunk
// answer read 4 KiB at a time (the transport's buffer), per chunk.
func BenchmarkRawStream(b *testing.B) {
	words := make([]string, 65536)
	for i := range words {
		words[i] = `" tok"`
	}
	body := textStream(words...)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s := rawTestStream(b, body, 4<<10, true)
		var n int
		for {
			ch, err := s.NextRaw(1 << 40)
			n += len(ch.Data)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if n < len(body)/2 {
			b.Fatalf("passed %d bytes of %d", n, len(body))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/65536, "ns/chunk")
}
