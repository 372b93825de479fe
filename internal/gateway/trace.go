package gateway

import (
	"context"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/route"
)

// Tracer follows requests for distributed tracing (internal/tracing
// implements it over OpenTelemetry). The front door starts the request's
// own span and hands it down in ctx; the gateway tells the tracer what the
// request is, opens a span per attempt on a channel (whose context is the
// one the channel's call is made with, so the trace travels on), and tells
// it how the request ended. A nil Tracer traces nothing, at no cost: the
// gateway makes none of these calls.
//
// Every method is called on the request's own goroutine (a stream's End on
// the goroutine that closes it). Message content is never passed.
type Tracer interface {
	// Begin is told the request the gateway takes on. req is the
	// canonical chat request, nil for embeddings.
	Begin(ctx context.Context, call *Call, req *llm.Request)
	// Attempt opens the span of one attempt on off's channel; the context
	// returned carries it, and is the one the channel is called with.
	Attempt(ctx context.Context, call *Call, off route.Offering) (context.Context, AttemptSpan)
	// End is told how the request ended, once.
	End(ctx context.Context, call *Call, res *Result, out Outcome)
}

// AttemptSpan is one attempt's span.
type AttemptSpan interface {
	// End closes the span with the attempt's outcome.
	End(out AttemptOutcome)
}

// AttemptOutcome is how one attempt on a channel ended.
type AttemptOutcome struct {
	// Status is the HTTP status the failure maps to (200 on success).
	Status int
	// ErrorKind classifies a failure, as the ledger does; empty on
	// success.
	ErrorKind string
	// Fallback is set when the gateway moves on to the next channel
	// after this attempt: the failure's kind.
	Fallback string
	// Duration is the attempt's time on its channel (a stream's until its
	// end).
	Duration time.Duration
}

// Outcome is how a request ended: its status and, when a channel
// answered, what the answer said of itself.
type Outcome struct {
	Status    int
	ErrorKind string
	// ResponseID and ResponseModel are the channel's id and model for its
	// answer; FinishReason why it stopped (empty when unknown).
	ResponseID    string
	ResponseModel string
	FinishReason  llm.FinishReason
	// Stream is set for a streamed answer, whose Result.TTFB is its time
	// to first token.
	Stream bool
}

// answer is what an answer said of itself, kept for the tracer.
type answer struct {
	id, model string
	finish    llm.FinishReason
}

// noteStart keeps an answer's id and model from its first event.
func (a *answer) noteStart(ev *llm.Event) {
	if ev.ID != "" {
		a.id = ev.ID
	}
	if ev.Model != "" {
		a.model = ev.Model
	}
}
