package gateway

import (
	"errors"
	"fmt"
	"strings"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// isRefusal reports whether err is an adapter's refusal to translate the
// request for its channel: nothing was sent, and another channel may
// express what this one cannot.
func isRefusal(err error) bool {
	var pe *provider.Error
	return errors.Is(err, llm.ErrUnsupported) && !errors.As(err, &pe)
}

// refusal is one channel's refusal of a request, naming the channel: an
// adapter's message names its vendor type and the feature only.
type refusal struct {
	channel, typ string
	err          error
}

func (e *refusal) Error() string {
	return e.name() + " cannot serve this request: " + e.err.Error()
}

func (e *refusal) Unwrap() error { return e.err }

func (e *refusal) name() string {
	if e.typ == "" {
		return fmt.Sprintf("channel %q", e.channel)
	}
	return fmt.Sprintf("channel %q (%s)", e.channel, e.typ)
}

// refusals are the refusals of every channel a request was offered to, in
// order. It wraps each (so llm.ErrUnsupported, hence a 400).
type refusals []*refusal

func (rs refusals) Error() string {
	if len(rs) == 1 {
		return rs[0].Error()
	}
	var b strings.Builder
	b.WriteString("no channel can serve this request: ")
	for i, e := range rs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.name() + ": " + e.err.Error())
	}
	return b.String()
}

func (rs refusals) Unwrap() []error {
	out := make([]error, len(rs))
	for i, e := range rs {
		out[i] = e
	}
	return out
}
