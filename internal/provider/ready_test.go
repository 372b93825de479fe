package provider

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/sse"
)

// reads is a body that returns one of its strings a read.
type reads []string

func (r *reads) Read(p []byte) (int, error) {
	if len(*r) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*r)[0])
	(*r)[0] = (*r)[0][n:]
	if (*r)[0] == "" {
		*r = (*r)[1:]
	}
	return n, nil
}

func (r *reads) Close() error { return nil }

// skipDecoder makes a text delta of each "text" event, nothing of a
// "skip" event, and the stop of a "stop" event.
type skipDecoder struct{ stopped bool }

func (d *skipDecoder) Decode(ev sse.Event) ([]llm.Event, error) {
	switch ev.Type {
	case "text":
		return []llm.Event{{Kind: llm.EventTextDelta, Text: string(ev.Data)}}, nil
	case "stop":
		d.stopped = true
		return []llm.Event{{Kind: llm.EventStop, FinishReason: llm.FinishStop}}, nil
	}
	return nil, nil
}
func (d *skipDecoder) End() ([]llm.Event, error) { return nil, io.ErrUnexpectedEOF }
func (d *skipDecoder) Stopped() bool             { return d.stopped }

// TestStreamSSE_Ready checks that a stream is ready only when an event
// Next returns is whole in its buffer: an upstream event that yields
// nothing does not count.
func TestStreamSSE_Ready(t *testing.T) {
	body := &reads{
		"event: text\ndata: a\n\nevent: skip\ndata: {}\n\n",
		"event: text\ndata: b\n\nevent: skip\ndata: {}\n\nevent: text\ndata: c\n\n",
		"event: stop\ndata: {}\n\n",
	}
	st, err := StreamSSE(context.Background(), SSEOptions{Provider: "p"}, &skipDecoder{}, func(context.Context) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: body}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	type step struct {
		Text  string
		Ready bool
	}
	var got []step
	for {
		ev, err := st.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, step{ev.Text, llm.Ready(st)})
	}
	// After a, only a skipped event is buffered; after b, c is (past a
	// skipped one); after c, the stop is not yet read.
	want := []step{{"a", false}, {"b", true}, {"c", false}, {"", false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events and Ready after each (-want +got):\n%s", diff)
	}
}
