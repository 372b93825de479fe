package bedrock

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"switchyard/internal/llm"
)

// invokeAnthropicVersion is the anthropic_version an InvokeModel body for
// Claude carries instead of the anthropic-version header.
const invokeAnthropicVersion = "bedrock-2023-05-31"

// claudeModel reports whether a model id names a Claude model: a
// foundation model ("anthropic.…") or an inference profile
// ("us.anthropic.…"). An ARN does not say.
func claudeModel(id string) bool {
	return strings.HasPrefix(id, "anthropic.") || !strings.HasPrefix(id, "arn:") && strings.Contains(id, ".anthropic.")
}

// Messages lets a channel stream Claude through
// InvokeModelWithResponseStream: it writes a canonical request as an
// Anthropic Messages body and decodes Anthropic stream events. The
// composition root builds it from the anthropic package, which this
// package does not import (the simulated clouds import this package, and
// the anthropic package's tests use them).
type Messages struct {
	// Dialect is the llm.Raw dialect of an Anthropic client's request.
	Dialect string
	// Body returns the Messages body of a request; its model and stream
	// fields are dropped.
	Body func(req *llm.Request) ([]byte, error)
	// Decoder returns the decoder of one stream's events ("event:" name,
	// which may be empty, and data) for the channel called name.
	Decoder func(name string) func(event string, data []byte) ([]llm.Event, error)
}

// invokeStreamBody returns the InvokeModelWithResponseStream body of a
// streamed request from an Anthropic client to a Claude model, and false
// for any other request, which goes through ConverseStream.
//
// Anthropic clients read the prompt's token count in message_start, and
// ConverseStream reports usage only in its last event; the invoke stream
// carries Claude's own Messages events, message_start and its usage
// included. A request with passthrough fields (which Bedrock may not take
// in an InvokeModel body, and ConverseStream refuses by name) or one the
// Messages translation refuses goes through ConverseStream, as before.
func (m *Messages) invokeStreamBody(req *llm.Request) ([]byte, bool) {
	if m == nil || req.Raw == nil || req.Raw.Dialect != m.Dialect || !claudeModel(req.Model) || len(req.Passthrough) > 0 {
		return nil, false
	}
	b, err := m.Body(req)
	if err != nil {
		return nil, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, false
	}
	delete(fields, "model")
	delete(fields, "stream")
	fields["anthropic_version"], _ = json.Marshal(invokeAnthropicVersion)
	body, err := json.Marshal(fields)
	if err != nil {
		return nil, false
	}
	return body, true
}

// invokeDecoder turns an InvokeModelWithResponseStream body for Claude
// into canonical events: each "chunk" event carries one Anthropic stream
// event, base64-encoded, which an Anthropic stream decoder folds in. It is
// not safe for concurrent use.
type invokeDecoder struct {
	frameQueue
	decode  func(event string, data []byte) ([]llm.Event, error)
	stopped bool // the Anthropic stream's stop event was seen
}

func newInvokeDecoder(r io.Reader, decode func(event string, data []byte) ([]llm.Event, error)) *invokeDecoder {
	d := &invokeDecoder{decode: decode}
	d.frameQueue = frameQueue{dec: NewEventDecoder(r), step: d.step}
	return d
}

// step reads one frame and queues the events its Anthropic event yields.
func (d *invokeDecoder) step() error {
	f, err := d.dec.Next()
	if errors.Is(err, io.EOF) {
		if !d.stopped {
			return fmt.Errorf("bedrock invoke stream ended before message_stop: %w", io.ErrUnexpectedEOF)
		}
		d.done = true
		return nil
	}
	if err != nil {
		return err
	}
	switch f.MessageType {
	case messageTypeException:
		var body exceptionBody
		_ = json.Unmarshal(f.Payload, &body)
		return &ExceptionError{Type: f.ExceptionType, Message: body.Message, Modeled: true}
	case messageTypeError:
		return &ExceptionError{Type: f.ErrorCode, Message: f.ErrorMessage}
	case messageTypeEvent:
	default:
		return fmt.Errorf("bedrock invoke stream: unknown message type %q", f.MessageType)
	}
	if f.EventType != "chunk" {
		return fmt.Errorf("bedrock invoke stream: unknown event %q", f.EventType)
	}
	var c struct {
		Bytes []byte `json:"bytes"`
	}
	if err := json.Unmarshal(f.Payload, &c); err != nil {
		return fmt.Errorf("decoding chunk event: %w", err)
	}
	evs, err := d.decode("", c.Bytes)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if ev.Kind == llm.EventStop {
			d.stopped = true
		}
		d.pending = append(d.pending, ev)
	}
	return nil
}
