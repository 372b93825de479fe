package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/sse"
)

// EventDecoder turns the events of one upstream's text/event-stream
// answer into canonical events, for StreamSSE. It serves one answer and
// is not safe for concurrent use.
type EventDecoder interface {
	// Decode folds in one upstream event and returns the canonical events
	// it completes, valid until the next call. Its errors are *Error.
	Decode(ev sse.Event) ([]llm.Event, error)
	// End is called when the upstream's bytes run out. It returns the
	// events that close the answer, or an error for an answer cut short.
	End() ([]llm.Event, error)
	// Stopped reports whether the EventStop event has been returned; the
	// stream reads no further once it has.
	Stopped() bool
}

// SSEOptions configures StreamSSE.
type SSEOptions struct {
	// Provider names the channel in errors.
	Provider string
	// IdleTimeout bounds the wait for the response headers and then the
	// wait for each next event; zero waits as long as the context allows.
	IdleTimeout time.Duration
	// MaxEvent bounds one event's data in bytes; zero means
	// sse.DefaultMaxEvent.
	MaxEvent int
}

// errIdle is the cancellation cause when an upstream stays silent for
// longer than the idle timeout.
var errIdle = errors.New("upstream idle timeout")

// StreamSSE starts a streamed call. send posts the request under a
// context StreamSSE owns and returns the upstream's answer once it is
// known to be a stream (a 2xx), or a classified error. The answer's
// events, decoded by dec, come out of the returned stream, whose errors
// are *Error. An upstream silent for longer than the idle timeout fails
// the call, or the stream, with KindTimeout. Cancelling ctx, or closing
// the stream, closes the upstream connection.
func StreamSSE(ctx context.Context, o SSEOptions, dec EventDecoder, send func(context.Context) (*http.Response, error)) (llm.Stream, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	s := &sseStream{
		name:   o.Provider,
		cancel: cancel,
		cause:  func() error { return context.Cause(ctx) },
		idle:   o.IdleTimeout,
		dec:    dec,
	}
	if s.idle > 0 {
		s.timer = time.AfterFunc(s.idle, func() { cancel(errIdle) })
	}
	resp, err := send(ctx)
	s.stopTimer()
	if err != nil {
		cancel(nil)
		if errors.Is(context.Cause(ctx), errIdle) {
			return nil, timeoutError(o.Provider, err)
		}
		return nil, err
	}
	maxEvent := o.MaxEvent
	if maxEvent <= 0 {
		maxEvent = sse.DefaultMaxEvent
	}
	s.body = resp.Body
	s.rd = sse.NewReaderSize(resp.Body, maxEvent)
	return s, nil
}

func timeoutError(name string, err error) *Error {
	return &Error{Provider: name, Kind: KindTimeout, Message: "upstream timed out", Err: err}
}

var _ llm.ReadyStream = (*sseStream)(nil)

// sseStream is the llm.Stream StreamSSE returns.
type sseStream struct {
	name    string
	cancel  context.CancelCauseFunc
	cause   func() error // the stream context's cause
	body    io.ReadCloser
	rd      *sse.Reader
	dec     EventDecoder
	idle    time.Duration
	timer   *time.Timer
	pending []llm.Event
	err     error // sticky: io.EOF or the error that ended the stream
}

func (s *sseStream) Next() (llm.Event, error) {
	for len(s.pending) == 0 {
		if s.err != nil {
			return llm.Event{}, s.err
		}
		if s.dec.Stopped() {
			s.err = io.EOF
			continue
		}
		if s.timer != nil {
			s.timer.Reset(s.idle)
		}
		ev, err := s.rd.Next()
		s.stopTimer()
		switch {
		case errors.Is(err, io.EOF):
			s.pending, s.err = s.dec.End()
			if s.err == nil && len(s.pending) == 0 {
				s.err = io.EOF
			}
		case err != nil:
			s.err = s.readError(err)
		default:
			s.pending, s.err = s.dec.Decode(ev)
		}
	}
	ev := s.pending[0]
	s.pending = s.pending[1:]
	return ev, nil
}

// Ready reports whether the next event is at hand. It decodes the
// upstream events already whole in the reader's buffer until one yields
// an event, so that an event the decoder skips (a ping, a block's end)
// does not make it report one that Next would then have to wait for.
func (s *sseStream) Ready() bool {
	for len(s.pending) == 0 && s.err == nil && !s.dec.Stopped() && s.rd.Ready() {
		ev, err := s.rd.Next()
		if err != nil {
			s.err = s.readError(err)
			break
		}
		s.pending, s.err = s.dec.Decode(ev)
	}
	return len(s.pending) > 0
}

// readError classifies a failure to read the next event.
func (s *sseStream) readError(err error) error {
	switch {
	case errors.Is(s.cause(), errIdle):
		return timeoutError(s.name, err)
	case errors.Is(err, sse.ErrTooLarge):
		return &Error{Provider: s.name, Kind: KindBadResponse, Message: "upstream stream event too large", Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The connection dropped inside the body: the upstream was
		// reached, and its answer is what broke.
		return &Error{Provider: s.name, Kind: KindBadResponse, Message: "upstream stream was cut", Err: err}
	}
	return TransportError(s.name, fmt.Errorf("reading stream: %w", err))
}

func (s *sseStream) stopTimer() {
	if s.timer != nil {
		s.timer.Stop()
	}
}

func (s *sseStream) Close() error {
	s.stopTimer()
	s.cancel(nil)
	if s.err == nil {
		s.err = errors.New("stream closed")
	}
	return s.body.Close()
}
