package llm

import (
	"errors"
	"io"
	"iter"
	"strings"
)

// EventKind says which fields of an Event are set.
type EventKind uint8

const (
	// EventStart opens a response: ID and Model are set, and Usage when
	// the upstream reports the input counts at the start.
	EventStart EventKind = iota + 1
	// EventTextDelta appends Text to the text part at Index.
	EventTextDelta
	// EventReasoningDelta appends Text (or a Signature) to the reasoning
	// part at Index.
	EventReasoningDelta
	// EventToolCallDelta adds to the tool call part at Index. The first
	// delta of a call carries its ID and Name; later ones only arguments.
	EventToolCallDelta
	// EventStop is always the last event: FinishReason and Usage are set.
	EventStop
)

func (k EventKind) String() string {
	switch k {
	case EventStart:
		return "start"
	case EventTextDelta:
		return "text_delta"
	case EventReasoningDelta:
		return "reasoning_delta"
	case EventToolCallDelta:
		return "tool_call_delta"
	case EventStop:
		return "stop"
	}
	return "unknown"
}

// Event is one step of a streamed response. Index numbers the parts of the
// assistant message in the order they start, from 0, with no gaps.
type Event struct {
	Kind  EventKind
	Index int
	// ID and Model are set on EventStart.
	ID    string
	Model string
	// Text is the appended text of a text or reasoning delta.
	Text string
	// Signature is set on a reasoning delta that closes a signed block.
	Signature string
	ToolCall  *ToolCallDelta
	// FinishReason, StopSequence and Usage are set on EventStop. An
	// EventStart may carry Usage too, with only the input counts
	// (InputTokens, CachedInputTokens, CacheWriteTokens) as far as they
	// are known when the answer starts; the stop event's Usage is the
	// whole count and supersedes it.
	FinishReason FinishReason
	StopSequence string
	Usage        *Usage
}

// ContentSize is the content an event adds to the answer, in bytes: its
// text, signature and tool call fields, not the framing. It is what the
// gateway's stream size cap counts.
func (ev Event) ContentSize() int64 {
	n := len(ev.Text) + len(ev.Signature)
	if tc := ev.ToolCall; tc != nil {
		n += len(tc.ID) + len(tc.Name) + len(tc.Arguments)
	}
	return int64(n)
}

// ToolCallDelta is a fragment of a tool call.
type ToolCallDelta struct {
	ID        string
	Name      string
	Arguments string
}

// Stream is a pull-based sequence of events from one upstream response.
// Next returns io.EOF after the EventStop event. Close releases the
// upstream connection; it must be called once and is safe after io.EOF.
// A Stream is not safe for concurrent use.
type Stream interface {
	Next() (Event, error)
	Close() error
}

// ReadyStream is a Stream that can tell whether its next event is already
// at hand: whether Next would return it without waiting on the upstream,
// its bytes having arrived with an earlier read. A front door uses it to
// coalesce its flushes to the client: after writing an event it flushes
// only when the next one is not ready, so that no event waits in the
// gateway's buffer while the gateway waits on the upstream. A stream
// that cannot tell does not implement it (its events are flushed one by
// one), and Ready may report false when it is not sure; it never blocks.
type ReadyStream interface {
	Stream
	Ready() bool
}

// RawStream is a Stream whose upstream answers in the dialect the client
// asked in (Request.Raw), so that a front door of that dialect can forward
// the upstream's bytes instead of re-encoding every event: the
// same-dialect stream passthrough. An adapter offers it only for a request
// it sent on the fast path, and RawDialect then names Request.Raw.Dialect;
// the bytes come already edited for the client (its model name in place
// of the upstream's). A caller uses either Next or NextRaw for the whole
// stream, never both.
type RawStream interface {
	Stream
	// RawDialect names the wire format of NextRaw's bytes; empty when the
	// stream offers none (it was not asked for on the fast path).
	RawDialect() string
	// NextRaw returns the whole upstream events that arrived with one
	// read, as the client is to get them, with what the gateway accounts
	// of them; io.EOF once the chunk that carried the stop was returned.
	// room is the content (see RawChunk.Size) the caller still accepts:
	// an event that would pass it is not returned, and the chunk says so
	// (Cut). Errors end the stream; the events before the failing one are
	// returned first, by the call before.
	NextRaw(room int64) (RawChunk, error)
}

// RawChunk is a run of a raw stream's bytes (RawStream.NextRaw).
type RawChunk struct {
	// Data is the bytes for the client, valid until the next call.
	Data []byte
	// Size is the content the bytes carry, counted as a decoded event's
	// text, reasoning, signature and tool call fields are.
	Size int64
	// Content reports that the bytes carry a content event or the stop:
	// the answer has begun (a stream whose first chunks only announce it
	// can still fall back to another channel).
	Content bool
	// Events are the canonical events of the upstream events that had to
	// be decoded (the start, tool calls, the stop, and any text in them);
	// the text of the others is counted in Size only. Valid until the
	// next call.
	Events []Event
	// Cut reports that the next event would have passed room: Data holds
	// what fits, and the stream cannot go on.
	Cut bool
}

// Ready reports whether s's next event is at hand (see ReadyStream);
// false for a stream that cannot tell.
func Ready(s Stream) bool {
	r, ok := s.(ReadyStream)
	return ok && r.Ready()
}

// All ranges over a stream's events until io.EOF or the first error, which
// it yields once. It does not close the stream.
func All(s Stream) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			ev, err := s.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// Accumulator folds stream events into a whole Response, the way a client
// SDK does. Its cost is linear in the stream's length: each part's text
// and arguments grow in a builder, and Response makes strings of them
// without copying. The zero value is ready to use.
type Accumulator struct {
	resp    Response
	parts   []*accPart
	stopped bool
}

// accPart is a part being accumulated: its text or, for a tool call, its
// arguments grow in buf.
type accPart struct {
	part Part
	buf  strings.Builder
}

// Add folds one event in.
func (a *Accumulator) Add(ev Event) {
	switch ev.Kind {
	case EventStart:
		a.resp.ID, a.resp.Model = ev.ID, ev.Model
		a.resp.Message.Role = RoleAssistant
	case EventTextDelta:
		a.part(ev.Index, PartText).buf.WriteString(ev.Text)
	case EventReasoningDelta:
		p := a.part(ev.Index, PartReasoning)
		p.buf.WriteString(ev.Text)
		if ev.Signature != "" {
			p.part.Signature = ev.Signature
		}
	case EventToolCallDelta:
		p := a.part(ev.Index, PartToolCall)
		if p.part.ToolCall == nil {
			p.part.ToolCall = &ToolCall{}
		}
		if ev.ToolCall != nil {
			if ev.ToolCall.ID != "" {
				p.part.ToolCall.ID = ev.ToolCall.ID
			}
			if ev.ToolCall.Name != "" {
				p.part.ToolCall.Name = ev.ToolCall.Name
			}
			p.buf.WriteString(ev.ToolCall.Arguments)
		}
	case EventStop:
		a.stopped = true
		a.resp.FinishReason = ev.FinishReason
		a.resp.StopSequence = ev.StopSequence
		if ev.Usage != nil {
			a.resp.Usage = *ev.Usage
		}
	}
}

func (a *Accumulator) part(i int, kind PartKind) *accPart {
	for len(a.parts) <= i {
		a.parts = append(a.parts, nil)
	}
	p := a.parts[i]
	if p == nil {
		p = &accPart{part: Part{Kind: kind}}
		a.parts[i] = p
	}
	return p
}

// Stopped reports whether the EventStop event has been seen.
func (a *Accumulator) Stopped() bool { return a.stopped }

// Response returns what has been accumulated so far. Parts that never
// received an event (gaps) are dropped.
func (a *Accumulator) Response() *Response {
	r := a.resp
	r.Message.Parts = make([]Part, 0, len(a.parts))
	for _, ap := range a.parts {
		if ap == nil {
			continue
		}
		p := ap.part
		if p.Kind == PartToolCall {
			tc := *p.ToolCall
			tc.Arguments = ap.buf.String()
			p.ToolCall = &tc
		} else {
			p.Text = ap.buf.String()
		}
		r.Message.Parts = append(r.Message.Parts, p)
	}
	if r.Message.Role == "" {
		r.Message.Role = RoleAssistant
	}
	return &r
}

// SliceStream replays fixed events; it is useful for tests and for
// serving a whole Response to a streaming client.
type SliceStream struct {
	Events []Event
	i      int
}

// Next returns the next event or io.EOF.
func (s *SliceStream) Next() (Event, error) {
	if s.i >= len(s.Events) {
		return Event{}, io.EOF
	}
	s.i++
	return s.Events[s.i-1], nil
}

// Close does nothing.
func (s *SliceStream) Close() error { return nil }

// ResponseEvents turns a whole Response into the events a stream of it
// would carry.
func ResponseEvents(r *Response) []Event {
	evs := []Event{{Kind: EventStart, ID: r.ID, Model: r.Model}}
	for i, p := range r.Message.Parts {
		switch p.Kind {
		case PartText:
			evs = append(evs, Event{Kind: EventTextDelta, Index: i, Text: p.Text})
		case PartReasoning:
			evs = append(evs, Event{Kind: EventReasoningDelta, Index: i, Text: p.Text, Signature: p.Signature})
		case PartToolCall:
			tc := p.ToolCall
			evs = append(evs, Event{Kind: EventToolCallDelta, Index: i, ToolCall: &ToolCallDelta{ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments}})
		}
	}
	u := r.Usage
	return append(evs, Event{Kind: EventStop, FinishReason: r.FinishReason, StopSequence: r.StopSequence, Usage: &u})
}
