package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"switchyard/internal/llm"
)

// rawProvider streams n text chunks of ten bytes, per reads of perRead
// chunks, as bytes when the request's raw dialect is "test.raw" and as
// events otherwise.
type rawProvider struct {
	name        string
	n, perRead  int
	chunk, done []byte
}

func newRawProvider(n, perRead int) *rawProvider {
	return &rawProvider{name: "p", n: n, perRead: perRead,
		chunk: []byte(`data: {"choices":[{"delta":{"content":"ten bytes "}}]}` + "\n\n"), done: []byte("data: [DONE]\n\n")}
}

func (p *rawProvider) Name() string { return p.name }
func (p *rawProvider) Chat(context.Context, *llm.Request) (*llm.Response, error) {
	return nil, errors.New("not used")
}
func (p *rawProvider) ChatStream(_ context.Context, req *llm.Request) (llm.Stream, error) {
	s := &rawFake{p: p, read: make([]byte, 0, p.perRead*len(p.chunk))}
	if req.Raw != nil && req.Raw.Dialect == "test.raw" {
		s.dialect = "test.raw"
	}
	return s, nil
}

type rawFake struct {
	p       *rawProvider
	dialect string
	i       int // chunks handed out
	stopped bool
	read    []byte
}

func (s *rawFake) stop() llm.Event {
	u := llm.Usage{InputTokens: 5, OutputTokens: int64(s.p.n)}
	return llm.Event{Kind: llm.EventStop, FinishReason: llm.FinishStop, Usage: &u}
}

func (s *rawFake) Next() (llm.Event, error) {
	switch {
	case s.i == 0:
		s.i++
		return llm.Event{Kind: llm.EventStart, ID: "s1"}, nil
	case s.i <= s.p.n:
		s.i++
		return llm.Event{Kind: llm.EventTextDelta, Text: "ten bytes "}, nil
	case !s.stopped:
		s.stopped = true
		return s.stop(), nil
	}
	return llm.Event{}, io.EOF
}

func (s *rawFake) Close() error       { return nil }
func (s *rawFake) RawDialect() string { return s.dialect }

func (s *rawFake) NextRaw(room int64) (llm.RawChunk, error) {
	if s.stopped {
		return llm.RawChunk{}, io.EOF
	}
	ch := llm.RawChunk{Data: s.read[:0]}
	for k := 0; k < s.p.perRead && s.i < s.p.n; k++ {
		if ch.Size+10 > room {
			ch.Cut = true
			return ch, nil
		}
		ch.Data = append(ch.Data, s.p.chunk...)
		ch.Size += 10
		ch.Content = true
		s.i++
	}
	if s.i == s.p.n {
		ch.Data = append(ch.Data, s.p.done...)
		ch.Events = []llm.Event{s.stop()}
		ch.Content, s.stopped = true, true
	}
	return ch, nil
}

func drainRaw(t testing.TB, g *Gateway, dialect string) (string, *Stream, error) {
	req := chatReq()
	if dialect != "" {
		req.Raw = &llm.Raw{Dialect: dialect}
	}
	s, _, err := g.ChatStream(context.Background(), &Call{Model: "m"}, req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out strings.Builder
	if s.RawDialect() == "" {
		for _, err := range llm.All(s) {
			if err != nil {
				return "", s, err
			}
		}
		return "", s, nil
	}
	for {
		data, err := s.NextRaw()
		out.Write(data)
		if errors.Is(err, io.EOF) {
			return out.String(), s, nil
		}
		if err != nil {
			return out.String(), s, err
		}
	}
}

// A stream is passed through as bytes only when the channel answers in
// the request's own raw dialect; its usage reaches the ledger, and the size
// cap cuts it before the read that would pass it, as on the event path.
func TestChatStream_RawPassthrough(t *testing.T) {
	p := newRawProvider(100, 7)
	g, led := newRawGateway(t, p, 0)
	out, s, err := drainRaw(t, g, "test.raw")
	if err != nil || s.RawDialect() != "test.raw" || strings.Count(out, "ten bytes") != 100 || !strings.HasSuffix(out, "[DONE]\n\n") {
		t.Fatalf("raw: dialect %q, err %v, %d chunks", s.RawDialect(), err, strings.Count(out, "ten bytes"))
	}
	if r := led.recs[0]; r.Status != 200 || r.OutputTokens != 100 || r.InputTokens != 5 {
		t.Errorf("ledger %+v", r)
	}
	for _, d := range []string{"", "other.raw"} {
		if _, s, err := drainRaw(t, g, d); err != nil || s.RawDialect() != "" {
			t.Errorf("request dialect %q: passthrough %q, err %v", d, s.RawDialect(), err)
		}
	}

	g, led = newRawGateway(t, p, 205)
	out, _, err = drainRaw(t, g, "test.raw")
	var ge *Error
	if !errors.As(err, &ge) || ge.Kind != ErrStreamTooLarge || strings.Count(out, "ten bytes") != 20 {
		t.Errorf("cap 205: err %v, %d chunks delivered", err, strings.Count(out, "ten bytes"))
	}
	if r := led.recs[0]; r.Status == 200 || r.OutputTokens != 50 {
		t.Errorf("ledger of the cut stream %+v, want a failure metered on 200 bytes delivered", r)
	}
}

func newRawGateway(t testing.TB, p *rawProvider, maxStream int64) (*Gateway, *memLedger) {
	t.Helper()
	return newEndlessGatewayFor(t, p, maxStream)
}

// BenchmarkChatStreamRaw is BenchmarkChatStream's text case on the
// passthrough: the gateway's own cost for 16k and 64k chunks of ten bytes
// of text, arriving 15 to a read (about 4 KiB of OpenAI chunks).
func BenchmarkChatStreamRaw(b *testing.B) {
	for _, n := range []int{16 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("text/%dk", n>>10), func(b *testing.B) {
			p := newRawProvider(n, 15)
			g, _ := newRawGateway(b, p, 0)
			b.ReportAllocs()
			for b.Loop() {
				s, _, err := g.ChatStream(context.Background(), &Call{Model: "m"}, &llm.Request{Raw: &llm.Raw{Dialect: "test.raw"}})
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for {
					data, err := s.NextRaw()
					got += len(data)
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				s.Close()
				if want := n*len(p.chunk) + len(p.done); got != want {
					b.Fatalf("passed %d bytes, want %d", got, want)
				}
			}
		})
	}
}
