package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// Stream is a routed upstream stream. Its first content event has already
// arrived when ChatStream returns, so every failure before the first byte
// reaches the client was retried on the next channel. Close records the
// request in the ledger exactly once.
type Stream struct {
	g      *Gateway
	ctx    context.Context
	call   *Call
	res    *Result
	start  time.Time
	up     llm.Stream
	off    offeringPrice
	queued []llm.Event
	acc    llm.Accumulator
	err    error
	done   bool
	once   sync.Once
}

type offeringPrice struct {
	cost func(llm.Usage) float64
}

// Result reports how the stream was routed; usage is final after io.EOF.
func (s *Stream) Result() *Result { return s.res }

// ChatStream starts a streamed chat request with fallback before the first
// byte.
func (g *Gateway) ChatStream(ctx context.Context, call *Call, req *llm.Request) (*Stream, *Result, error) {
	start := g.now()
	d, err := g.plan(call)
	if err != nil {
		return nil, &Result{Decision: d, Model: call.Model}, err
	}
	res := &Result{Decision: d, Model: d.Model}
	var lastErr error
	for i, off := range d.Order {
		if i >= d.MaxAttempts {
			break
		}
		p, ok := g.providers.Get(off.Provider)
		if !ok {
			lastErr = fmt.Errorf("provider %q not registered", off.Provider)
			continue
		}
		res.Attempted = append(res.Attempted, off.Provider)
		res.Provider, res.UpstreamModel = off.Provider, off.UpstreamModel
		attempt := *req
		attempt.Model = off.UpstreamModel
		attempt.Stream = true
		up, err := p.ChatStream(ctx, &attempt)
		var head []llm.Event
		if err == nil {
			head, err = prefetch(up)
			if err != nil {
				up.Close()
			}
		}
		if err == nil {
			price := off.Price
			res.TTFB = g.now().Sub(start)
			return &Stream{g: g, ctx: ctx, call: call, res: res, start: start, up: up, queued: head,
				off: offeringPrice{cost: func(u llm.Usage) float64 { return g.cost(u, price) }}}, res, nil
		}
		lastErr = err
		if !g.attemptable(ctx, err, off) {
			break
		}
	}
	g.meter(call, res, start, statusOf(ctx, lastErr), kindOf(lastErr), true)
	return nil, res, lastErr
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
	var ev llm.Event
	if len(s.queued) > 0 {
		ev, s.queued = s.queued[0], s.queued[1:]
	} else {
		var err error
		ev, err = s.up.Next()
		if err != nil {
			if errors.Is(err, io.EOF) && !s.acc.Stopped() {
				err = &provider.Error{Provider: s.res.Provider, Kind: provider.KindBadResponse, Message: "upstream stream ended without its final event", Err: io.ErrUnexpectedEOF}
			}
			s.err = err
			if errors.Is(err, io.EOF) {
				s.done = true
			}
			return llm.Event{}, err
		}
	}
	s.acc.Add(ev)
	if ev.Kind == llm.EventStop && ev.Usage != nil {
		s.res.Usage = *ev.Usage
		s.res.CostUSD = s.off.cost(*ev.Usage)
	}
	return ev, nil
}

// Close releases the upstream and records the request. A stream closed
// before its end is recorded as cancelled (499) when the client went
// away, or as an upstream failure otherwise.
func (s *Stream) Close() error {
	err := s.up.Close()
	s.once.Do(func() {
		status, kind := 200, ""
		switch {
		case s.done:
		case s.ctx.Err() != nil:
			status, kind = 499, "client closed request"
		case s.err != nil:
			status, kind = statusOf(s.ctx, s.err), kindOf(s.err)
		default:
			status, kind = 499, "client closed request"
		}
		s.g.meter(s.call, s.res, s.start, status, kind, true)
	})
	return err
}
