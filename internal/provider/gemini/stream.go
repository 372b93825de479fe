package gemini

import (
	"encoding/json"
	"fmt"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// streamChunk is one data line of a streamed answer: a partial answer, or
// an error.
type streamChunk struct {
	GenerateContentResponse
	Error *Status `json:"error,omitempty"`
}

// StreamDecoder turns the chunks of a :streamGenerateContent?alt=sse
// answer into llm events. Every chunk is a whole GenerateContentResponse
// holding the next fragments: text and thoughts arrive in pieces, function
// calls whole (one tool call delta with all arguments). Usage is
// cumulative and the last one wins. The stream has no end marker: End
// yields the stop event once the bytes run out, if a finish reason was
// seen. It is not safe for concurrent use.
type StreamDecoder struct {
	name    string
	f       folder
	stopped bool
}

// NewStreamDecoder returns a decoder for one answer of the channel called
// name (used in errors). fallbackKey names the answer in the ids of
// function calls that come without one when the chunks carry no
// responseId, as in ResponseToLLM.
func NewStreamDecoder(name, fallbackKey string) *StreamDecoder {
	return &StreamDecoder{name: name, f: folder{fallbackKey: fallbackKey}}
}

// Decode folds in one SSE data payload. The returned events are valid
// until the next call. Errors are *provider.Error: an in-stream error
// object is classified by its status, anything malformed is
// KindBadResponse.
func (d *StreamDecoder) Decode(data []byte) ([]llm.Event, error) {
	d.f.out = d.f.out[:0]
	if d.stopped || len(data) == 0 {
		return nil, nil
	}
	var c streamChunk
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, d.bad(fmt.Errorf("decoding stream chunk: %w", err))
	}
	if c.Error != nil {
		return nil, statusError(d.name, 0, c.Error, 0)
	}
	if err := d.f.chunk(&c.GenerateContentResponse); err != nil {
		return nil, d.bad(err)
	}
	return d.f.out, nil
}

// End is called when the stream's bytes run out and returns the stop
// event. A stream that never reported a finish reason was cut.
func (d *StreamDecoder) End() ([]llm.Event, error) {
	d.f.out = d.f.out[:0]
	if d.stopped {
		return nil, nil
	}
	if !d.f.started {
		return nil, d.bad(fmt.Errorf("gemini: empty stream"))
	}
	stop, err := d.f.stop()
	if err != nil {
		return nil, d.bad(err)
	}
	d.stopped = true
	d.f.out = append(d.f.out, stop)
	return d.f.out, nil
}

// Stopped reports whether End has produced the stop event.
func (d *StreamDecoder) Stopped() bool { return d.stopped }

func (d *StreamDecoder) bad(err error) error {
	return &provider.Error{Provider: d.name, Kind: provider.KindBadResponse, Message: "malformed or unusable upstream stream", Err: err}
}
