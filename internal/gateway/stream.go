package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/route"
)

// Stream is a routed upstream stream. Its first content event has already
// arrived when ChatStream returns, so every failure before the first byte
// reaches the client was retried on the next channel. Close settles limits
// and records the request in the ledger exactly once.
//
// A stream holds only what its checks need, not the answer: the count of
// content bytes delivered (for the size cap and the usage of a stream cut
// short) and the arguments of its tool calls (checked at the stop), so
// its cost is linear in its length and its memory bounded by the cap.
type Stream struct {
	r      *request
	ctx    context.Context
	up     llm.Stream
	off    route.Offering
	probe  route.Probe
	at     time.Time
	ttfb   time.Duration
	queued []llm.Event
	// raw is the upstream when the stream passes its bytes through
	// (RawDialect); rawHead is what its prefetch read.
	raw     llm.RawStream
	rawHead *llm.RawChunk
	calls   []*streamCall
	sent    int64 // content bytes delivered
	max     int64
	// answer collects the text delivered, up to collect bytes, when the
	// request's payload is captured; collect is 0 otherwise.
	answer  []byte
	collect int
	// answerDropped counts the bytes past collect that answer did not
	// keep.
	answerDropped int64
	stopped       bool
	err           error
	done          bool
	once          sync.Once
	// span is the attempt's span, ended with the stream.
	span AttemptSpan
}

var (
	_ llm.ReadyStream = (*Stream)(nil)
	_ llm.ReadyStream = (*attemptStream)(nil)
)

// streamCall is a tool call of the stream, by its part index, its
// arguments growing as they arrive.
type streamCall struct {
	index    int
	id, name string
	args     strings.Builder
}

// Result reports how the stream was routed; usage is final after io.EOF.
func (s *Stream) Result() *Result { return s.r.res }

// ChatStream starts a streamed chat request with fallback before the first
// byte. The per-attempt timeout, if any, bounds the wait for that byte.
func (g *Gateway) ChatStream(ctx context.Context, call *Call, req *llm.Request) (*Stream, *Result, error) {
	r, err := g.begin(ctx, call, req, estimate(req), true)
	if err != nil {
		return nil, r.res, err
	}
	m := r.model()
	var st *Stream
	err = r.each(ctx, nil, true, func(actx context.Context, off route.Offering, p provider.Provider, at time.Time) error {
		attempt := *req
		attempt.Model = off.UpstreamModel
		attempt.Stream = true
		r.park()
		up, head, raw, err := openStream(actx, p, &attempt, m, g.maxStream)
		r.resume()
		if err != nil {
			return err
		}
		g.onAttempt(off.Provider, "ok")
		// A probe's verdict is its first event: the breaker need not wait
		// for the end of the stream.
		r.rt.Router.Answered(r.probe)
		r.res.TTFB = g.now().Sub(r.start)
		// Its status and duration are settled when the stream closes.
		r.attempted(off, AttemptOutcome{Status: 200, Duration: g.now().Sub(at)})
		st = &Stream{r: r, ctx: ctx, up: up, off: off, probe: r.probe, at: at, ttfb: g.now().Sub(at), queued: head, max: g.maxStream}
		g.streams.Add(1)
		if c := call.Capture; c != nil && c.Policy != nil {
			st.collect = c.Policy.Collect()
		}
		if raw != nil {
			st.raw, st.rawHead = up.(llm.RawStream), raw
		}
		// The attempt lasts as long as the stream: its span and its
		// time end with it.
		st.span, r.span = r.span, nil
		return nil
	})
	if err != nil {
		return nil, r.res, err
	}
	return st, r.res, nil
}

// openStream starts one attempt and reads up to its first content event,
// within the per-attempt timeout when the model sets one: the timeout
// covers the wait for the response headers as well as for that event.
// A stream that answers in the request's own raw dialect (see
// llm.RawStream) is read as bytes: raw is then what the prefetch read,
// and the stream returned is an llm.RawStream.
//
// Without a per-attempt timeout the attempt runs in ctx itself: closing
// the stream closes its upstream (every adapter's Close does), and ctx's
// own cancellation covers the rest, so a context of its own would only
// hold memory for as long as the stream is open.
func openStream(ctx context.Context, p provider.Provider, req *llm.Request, m *route.Model, maxBytes int64) (up llm.Stream, head []llm.Event, raw *llm.RawChunk, err error) {
	actx, cancel := ctx, context.CancelCauseFunc(nil)
	var timer *time.Timer
	if m != nil && m.PerAttemptTimeout > 0 {
		actx, cancel = context.WithCancelCause(ctx)
		timer = time.AfterFunc(m.PerAttemptTimeout, func() { cancel(errAttemptTimeout) })
	}
	up, err = p.ChatStream(actx, req)
	if err == nil {
		if rs := rawStream(up, req); rs != nil {
			raw, err = prefetchRaw(rs, maxBytes)
		} else {
			head, err = prefetch(up)
		}
	}
	if timer != nil && !timer.Stop() {
		// The attempt's context is cancelled: even a first event that
		// raced the timer leaves a stream that cannot go on.
		if err == nil {
			err = errors.New("first event raced the timeout")
		}
		err = &provider.Error{Provider: p.Name(), Kind: provider.KindTimeout,
			Message: "the upstream did not start its answer in time", Err: errors.Join(errAttemptTimeout, err)}
	}
	if err != nil {
		if up != nil {
			up.Close()
		}
		if cancel != nil {
			cancel(nil)
		}
		return nil, nil, nil, err
	}
	if raw != nil {
		return &rawAttemptStream{attemptStream{Stream: up, cancel: cancel}}, nil, raw, nil
	}
	return &attemptStream{Stream: up, cancel: cancel}, head, nil, nil
}

// rawStream is up as an llm.RawStream when it answers in the dialect of
// the client's own body: the same decision as the unary fast path's
// (llm.Response.Raw), made by the adapter that sent the body on.
func rawStream(up llm.Stream, req *llm.Request) llm.RawStream {
	rs, ok := up.(llm.RawStream)
	if !ok || req.Raw == nil || rs.RawDialect() == "" || rs.RawDialect() != req.Raw.Dialect {
		return nil
	}
	return rs
}

// rawAttemptStream is an attemptStream whose upstream passes its bytes
// through.
type rawAttemptStream struct{ attemptStream }

func (s *rawAttemptStream) RawDialect() string { return s.Stream.(llm.RawStream).RawDialect() }
func (s *rawAttemptStream) NextRaw(room int64) (llm.RawChunk, error) {
	return s.Stream.(llm.RawStream).NextRaw(room)
}

// prefetchRaw reads a raw stream up to and including the chunk with its
// first content (or its end), as prefetch does, and returns what it read
// as one chunk that owns its bytes.
func prefetchRaw(up llm.RawStream, room int64) (*llm.RawChunk, error) {
	head := &llm.RawChunk{}
	for {
		ch, err := up.NextRaw(room - head.Size)
		if errors.Is(err, io.EOF) {
			return nil, &provider.Error{Kind: provider.KindBadResponse, Message: "upstream stream ended before any event", Err: io.ErrUnexpectedEOF}
		}
		if err != nil {
			return nil, err
		}
		head.Data = append(head.Data, ch.Data...)
		head.Events = append(head.Events, ch.Events...)
		head.Size += ch.Size
		head.Content = head.Content || ch.Content
		if ch.Cut {
			head.Cut = true
			return head, nil
		}
		if head.Content {
			return head, nil
		}
	}
}

// errAttemptTimeout is the cause with which a stream's attempt is
// cancelled when its first event is late.
var errAttemptTimeout = errors.New("per-attempt timeout before the first event")

// attemptStream is an upstream stream whose attempt context is released
// when it is closed.
type attemptStream struct {
	llm.Stream
	// cancel ends the attempt's own context; nil when it has none.
	cancel context.CancelCauseFunc
}

// Ready passes on whether the upstream's next event is at hand.
func (s *attemptStream) Ready() bool { return llm.Ready(s.Stream) }

func (s *attemptStream) Close() error {
	err := s.Stream.Close()
	if s.cancel != nil {
		s.cancel(nil)
	}
	return err
}

// prefetch reads up to and including the first event that carries
// content (or the end), so that a failure before any content can still
// fall back.
func prefetch(up llm.Stream) ([]llm.Event, error) {
	var head []llm.Event
	for {
		ev, err := up.Next()
		if errors.Is(err, io.EOF) {
			if len(head) == 0 || head[len(head)-1].Kind != llm.EventStop {
				return nil, &provider.Error{Kind: provider.KindBadResponse, Message: "upstream stream ended before any event", Err: io.ErrUnexpectedEOF}
			}
			return head, nil
		}
		if err != nil {
			return nil, err
		}
		head = append(head, ev)
		if ev.Kind != llm.EventStart {
			return head, nil
		}
	}
}

// Next returns the next event, io.EOF after the stop event, or the
// upstream's error.
func (s *Stream) Next() (llm.Event, error) {
	if s.err != nil {
		return llm.Event{}, s.err
	}
	if s.raw != nil {
		// Its bytes were read as such: there are no events to hand out.
		s.err = errors.New("events asked of a stream that passes its bytes through")
		return llm.Event{}, s.err
	}
	var ev llm.Event
	if len(s.queued) > 0 {
		ev = s.queued[0]
		if s.queued = s.queued[1:]; len(s.queued) == 0 {
			s.queued = nil // the first events are not kept for the stream's life
		}
	} else {
		var err error
		ev, err = s.up.Next()
		if err != nil {
			if errors.Is(err, io.EOF) && !s.stopped {
				err = &provider.Error{Provider: s.off.Provider, Kind: provider.KindBadResponse, Message: "upstream stream ended without its final event", Err: io.ErrUnexpectedEOF}
			}
			s.err = err
			if errors.Is(err, io.EOF) {
				s.done = true
			}
			return llm.Event{}, err
		}
	}
	size := eventSize(ev)
	if s.sent+size > s.max {
		// The event is not delivered: the client gets what fits.
		s.err = s.tooLarge()
		return llm.Event{}, s.err
	}
	switch ev.Kind {
	case llm.EventStart:
		s.r.answer.noteStart(&ev)
	case llm.EventTextDelta:
		if s.collect > 0 {
			s.keep([]byte(ev.Text))
		}
	case llm.EventToolCallDelta:
		s.addCall(ev)
	case llm.EventStop:
		// The calls are complete only now; one that cannot be handed on
		// fails the stream instead of ending it.
		if err := checkToolCalls(s.off.Provider, s.callParts(), ev.FinishReason); err != nil {
			s.err = err
			return llm.Event{}, err
		}
		s.stopped = true
		s.r.answer.finish = ev.FinishReason
		if ev.Usage != nil {
			res := s.r.res
			res.Usage = *ev.Usage
			res.CostUSD = s.r.g.cost(*ev.Usage, s.off.Price)
		}
	}
	s.sent += size
	return ev, nil
}

// RawDialect names the wire of NextRaw's bytes when the stream passes the
// upstream's bytes through (the client's dialect is the channel's; see
// llm.RawStream), and is empty when it does not: the front door then
// reads events with Next.
func (s *Stream) RawDialect() string {
	if s.raw == nil {
		return ""
	}
	return s.raw.RawDialect()
}

// NextRaw returns the next run of the upstream's bytes for a front door of
// the stream's RawDialect, io.EOF after the one that carried the stop, or
// the error that ended the stream, after the bytes that preceded it. The
// stream applies the same checks as Next: the size cap (the event that
// would pass it is not delivered), the tool calls at the stop, and the
// usage for the ledger.
func (s *Stream) NextRaw() ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	var ch llm.RawChunk
	if s.rawHead != nil {
		ch, s.rawHead = *s.rawHead, nil
	} else {
		var err error
		ch, err = s.raw.NextRaw(s.max - s.sent)
		if err != nil {
			if errors.Is(err, io.EOF) && !s.stopped {
				err = &provider.Error{Provider: s.off.Provider, Kind: provider.KindBadResponse, Message: "upstream stream ended without its final event", Err: io.ErrUnexpectedEOF}
			}
			s.err = err
			if errors.Is(err, io.EOF) {
				s.done = true
			}
			return nil, err
		}
	}
	for i := range ch.Events {
		ev := &ch.Events[i]
		switch ev.Kind {
		case llm.EventStart:
			s.r.answer.noteStart(ev)
		case llm.EventToolCallDelta:
			s.addCall(*ev)
		case llm.EventStop:
			if err := checkToolCalls(s.off.Provider, s.callParts(), ev.FinishReason); err != nil {
				s.err = err
				return nil, err
			}
			s.stopped = true
			s.r.answer.finish = ev.FinishReason
			if ev.Usage != nil {
				res := s.r.res
				res.Usage = *ev.Usage
				res.CostUSD = s.r.g.cost(*ev.Usage, s.off.Price)
			}
		}
	}
	s.sent += ch.Size
	if s.collect > 0 {
		s.keep(ch.Data)
	}
	if ch.Cut {
		s.err = s.tooLarge()
	}
	return ch.Data, nil
}

// keep adds b to the answer collected for payload capture, up to its
// bound.
func (s *Stream) keep(b []byte) {
	n := min(len(b), max(s.collect-len(s.answer), 0))
	s.answer = append(s.answer, b[:n]...)
	s.answerDropped += int64(len(b) - n)
}

// tooLarge is the error of a stream cut at the size cap.
func (s *Stream) tooLarge() error {
	return &Error{Kind: ErrStreamTooLarge, Message: fmt.Sprintf("The streamed answer passed the gateway's size limit of %d bytes and was cut there.", s.max),
		Err: fmt.Errorf("channel %s: stream content past %d bytes", s.off.Provider, s.max)}
}

// Ready reports whether Next would return another event without waiting
// on the upstream (see llm.ReadyStream): a prefetched event is queued, or
// the upstream has the next one at hand. It is false once the stream has
// ended or failed, so that the front door flushes its last frames.
func (s *Stream) Ready() bool {
	return s.err == nil && (len(s.queued) > 0 || llm.Ready(s.up))
}

// eventSize is the content an event adds to the answer, in bytes.
func eventSize(ev llm.Event) int64 { return ev.ContentSize() }

// addCall folds a tool call delta into the call at its index.
func (s *Stream) addCall(ev llm.Event) {
	var c *streamCall
	for i := len(s.calls) - 1; i >= 0; i-- {
		if s.calls[i].index == ev.Index {
			c = s.calls[i]
			break
		}
	}
	if c == nil {
		c = &streamCall{index: ev.Index}
		s.calls = append(s.calls, c)
	}
	if tc := ev.ToolCall; tc != nil {
		if tc.ID != "" {
			c.id = tc.ID
		}
		if tc.Name != "" {
			c.name = tc.Name
		}
		c.args.WriteString(tc.Arguments)
	}
}

// callParts are the stream's tool calls as parts, in the order of their
// indexes.
func (s *Stream) callParts() []llm.Part {
	calls := slices.Clone(s.calls)
	slices.SortStableFunc(calls, func(a, b *streamCall) int { return a.index - b.index })
	parts := make([]llm.Part, len(calls))
	for i, c := range calls {
		parts[i] = llm.Part{Kind: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: c.id, Name: c.name, Arguments: c.args.String()}}
	}
	return parts
}

// Close releases the upstream and records the request. A stream closed
// before its end is recorded as cancelled (499) when the client went
// away, or as an upstream failure otherwise. A failure after the first
// byte also counts against the channel's health. A stream that ends
// before the upstream reported its usage is metered on what it delivered
// (see deliveredUsage), since the upstream bills for it.
func (s *Stream) Close() error {
	err := s.up.Close()
	s.once.Do(func() {
		s.r.g.streams.Add(-1)
		res := s.r.res
		if !s.done && res.Usage == (llm.Usage{}) {
			if u, ok := s.deliveredUsage(); ok {
				res.Usage, res.CostUSD = u, s.r.g.cost(u, s.off.Price)
			}
		}
		// One outcome per attempt: the stream's health, latency and cost
		// are known only now.
		o := route.Outcome{CostUSD: res.CostUSD, Probe: s.probe}
		status, kind := 200, ""
		switch {
		case s.done:
			o.Success, o.TTFB, o.Latency = true, s.ttfb, s.r.g.now().Sub(s.at)
		case s.ctx.Err() != nil:
			status, kind = 499, "client closed request"
		case s.err != nil:
			status, kind = statusOf(s.ctx, s.err), kindOf(s.err)
			var pe *provider.Error
			o.Retryable = errors.As(s.err, &pe) && pe.Kind.Retryable()
			o.RateLimited = o.Retryable && pe.Kind == provider.KindRateLimited
		default:
			status, kind = 499, "client closed request"
		}
		s.r.rt.Router.Observe(s.off.Provider, o)
		s.endAttempt(status, kind)
		if s.collect > 0 {
			if s.raw == nil {
				s.answer = appendAnswer(s.answer, s.callParts())
			}
			s.r.captured, s.r.capturedDropped = s.answer, s.answerDropped
		}
		s.r.finish(s.closeErr(status), status, true)
	})
	return err
}

// closeErr is the error a stream ended with, for its ledger record: nil
// when it ended well, a cancellation when the client went away.
func (s *Stream) closeErr(status int) error {
	switch {
	case status == 200:
		return nil
	case status == 499:
		return context.Canceled
	}
	return s.err
}

// deliveredUsage estimates the usage of a stream cut short, from what it
// delivered: the request's estimated input, and about four characters an
// output token of its content (text, reasoning, tool calls). It reports false
// when nothing was delivered.
func (s *Stream) deliveredUsage() (llm.Usage, bool) {
	if s.sent == 0 {
		return llm.Usage{}, false
	}
	return llm.Usage{InputTokens: s.r.est.EstInputTokens, OutputTokens: (s.sent + 3) / 4}, true
}

// endAttempt settles the stream's attempt, over only now: the metrics,
// its span, and its entry in the attempt log (made when it opened).
func (s *Stream) endAttempt(status int, kind string) {
	g := s.r.g
	out := AttemptOutcome{Status: status, ErrorKind: kind, Duration: g.now().Sub(s.at)}
	if n := len(s.r.attempts); n > 0 {
		a := &s.r.attempts[n-1]
		a.Status, a.ErrorKind, a.Duration = out.Status, out.ErrorKind, out.Duration
	}
	if g.onEnd != nil {
		g.onEnd(s.off.Provider, out)
	}
	if s.span != nil {
		s.span.End(out)
		s.span = nil
	}
}
