package bedrock

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// Event-stream header names and values (the vnd.amazon.eventstream framing
// used by ConverseStream and InvokeModelWithResponseStream).
const (
	headerMessageType   = ":message-type"
	headerEventType     = ":event-type"
	headerExceptionType = ":exception-type"
	headerErrorCode     = ":error-code"
	headerErrorMessage  = ":error-message"
	headerContentType   = ":content-type"

	messageTypeEvent     = "event"
	messageTypeException = "exception"
	messageTypeError     = "error"
)

// MaxFrameSize bounds one event-stream frame read by an EventDecoder. The
// service's frames are a few kilobytes; the bound keeps a corrupt or hostile
// length prefix from turning into an unbounded allocation.
const MaxFrameSize = 16 << 20

// reuseFrameSize is the largest frame an EventDecoder reads into its reused
// buffer, which grows to the largest such frame seen: a stream of the
// usual small frames holds a small buffer.
const reuseFrameSize = 64 << 10

// Frame sizes fixed by the wire format: an 8-byte prelude (total and headers
// length), a prelude CRC and a message CRC.
const (
	preludeSize  = 12
	minFrameSize = preludeSize + 4
)

// Frame is one decoded event-stream message.
type Frame struct {
	// MessageType is the ":message-type" header: "event", "exception" or
	// "error".
	MessageType string
	// EventType is the ":event-type" header of an event, the name of the
	// union member its payload holds ("messageStart", "contentBlockDelta"...).
	EventType string
	// ExceptionType is the ":exception-type" header of a modeled exception
	// ("throttlingException"...).
	ExceptionType string
	// ErrorCode and ErrorMessage are the ":error-code" and ":error-message"
	// headers of an unmodeled error.
	ErrorCode, ErrorMessage string
	// Payload is the message body: JSON for Bedrock's events and exceptions.
	// It belongs to the caller.
	Payload []byte
}

// EventEncoder writes event-stream frames to an io.Writer, one Write call
// per frame so that a flushing writer sends each frame whole. It is not
// safe for concurrent use.
type EventEncoder struct {
	w   io.Writer
	enc *eventstream.Encoder
	buf bytes.Buffer
}

// NewEventEncoder returns an encoder writing to w.
func NewEventEncoder(w io.Writer) *EventEncoder {
	return &EventEncoder{w: w, enc: eventstream.NewEncoder()}
}

// Event writes an event frame: ":message-type" event, ":event-type"
// eventType and ":content-type" application/json.
func (e *EventEncoder) Event(eventType string, payload []byte) error {
	var hs eventstream.Headers
	hs.Set(headerEventType, eventstream.StringValue(eventType))
	hs.Set(headerContentType, eventstream.StringValue("application/json"))
	hs.Set(headerMessageType, eventstream.StringValue(messageTypeEvent))
	return e.write(hs, payload)
}

// Exception writes a modeled exception frame: ":message-type" exception,
// ":exception-type" exceptionType (a union member name such as
// "throttlingException") and a JSON payload, usually {"message":"..."}.
// AWS SDKs raise it as the matching typed error.
func (e *EventEncoder) Exception(exceptionType string, payload []byte) error {
	var hs eventstream.Headers
	hs.Set(headerExceptionType, eventstream.StringValue(exceptionType))
	hs.Set(headerContentType, eventstream.StringValue("application/json"))
	hs.Set(headerMessageType, eventstream.StringValue(messageTypeException))
	return e.write(hs, payload)
}

// Error writes an unmodeled error frame: ":message-type" error with
// ":error-code" and ":error-message" headers and no payload.
func (e *EventEncoder) Error(code, message string) error {
	var hs eventstream.Headers
	hs.Set(headerErrorCode, eventstream.StringValue(code))
	hs.Set(headerErrorMessage, eventstream.StringValue(message))
	hs.Set(headerMessageType, eventstream.StringValue(messageTypeError))
	return e.write(hs, nil)
}

func (e *EventEncoder) write(hs eventstream.Headers, payload []byte) error {
	e.buf.Reset()
	if err := e.enc.Encode(&e.buf, eventstream.Message{Headers: hs, Payload: payload}); err != nil {
		return fmt.Errorf("encoding event-stream frame: %w", err)
	}
	if _, err := e.w.Write(e.buf.Bytes()); err != nil {
		return fmt.Errorf("writing event-stream frame: %w", err)
	}
	return nil
}

// EventDecoder reads event-stream frames from an io.Reader. It checks both
// CRCs and bounds each frame to MaxFrameSize. It is not safe for concurrent
// use.
type EventDecoder struct {
	r   *bufio.Reader
	dec *eventstream.Decoder
	buf []byte
}

// readBufferSize is the decoder's read buffer: several typical frames (a
// streamed chunk is a few hundred bytes), so that it can tell whether the
// next frame has arrived (Ready) and a fast stream's frames are read a
// buffer at a time. A decoder lives as long as its stream.
const readBufferSize = 2 << 10

// NewEventDecoder returns a decoder reading from r.
func NewEventDecoder(r io.Reader) *EventDecoder {
	return &EventDecoder{r: bufio.NewReaderSize(r, readBufferSize), dec: eventstream.NewDecoder()}
}

// Ready reports whether the whole of the next frame is buffered, so that
// Next returns it without reading. It never reads.
func (d *EventDecoder) Ready() bool {
	n := d.r.Buffered()
	if n < preludeSize {
		return false
	}
	b, _ := d.r.Peek(preludeSize)
	return int(binary.BigEndian.Uint32(b[0:4])) <= n
}

// Next returns the next frame. It returns io.EOF when the input ends
// cleanly between frames; input that ends inside a frame is reported as
// io.ErrUnexpectedEOF, and a bad length or checksum as another error.
func (d *EventDecoder) Next() (Frame, error) {
	var prelude [preludeSize]byte
	n, err := io.ReadFull(d.r, prelude[:])
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return Frame{}, io.EOF
	case err != nil:
		return Frame{}, fmt.Errorf("reading event-stream prelude: %w", noEOF(err))
	}
	total := binary.BigEndian.Uint32(prelude[0:4])
	headersLen := binary.BigEndian.Uint32(prelude[4:8])
	// The SDK's decoder trusts these lengths (a headers length above the
	// total makes its payload length wrap around), so check them first.
	switch {
	case total < minFrameSize:
		return Frame{}, fmt.Errorf("decoding event-stream prelude: frame length %d below minimum %d", total, minFrameSize)
	case total > MaxFrameSize:
		return Frame{}, fmt.Errorf("decoding event-stream prelude: frame length %d exceeds %d", total, MaxFrameSize)
	case headersLen > total-minFrameSize:
		return Frame{}, fmt.Errorf("decoding event-stream prelude: headers length %d exceeds frame length %d", headersLen, total)
	}
	var buf []byte
	if total <= reuseFrameSize {
		if uint32(cap(d.buf)) < total {
			d.buf = make([]byte, min(max(total, 2*uint32(cap(d.buf)), 1<<10), reuseFrameSize))
		}
		buf = d.buf[:total]
		copy(buf, prelude[:])
		if _, err := io.ReadFull(d.r, buf[preludeSize:]); err != nil {
			return Frame{}, fmt.Errorf("reading event-stream frame: %w", noEOF(err))
		}
	} else {
		// A large frame grows with the bytes that actually arrive rather
		// than trusting the length prefix up front, and is not kept, so one
		// big frame does not pin memory.
		var b bytes.Buffer
		b.Write(prelude[:])
		rest := int64(total) - preludeSize
		if n, err := io.CopyN(&b, d.r, rest); n < rest {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Frame{}, fmt.Errorf("reading event-stream frame: %w", err)
		}
		buf = b.Bytes()
	}
	msg, err := d.dec.Decode(bytes.NewReader(buf), nil)
	if err != nil {
		return Frame{}, fmt.Errorf("decoding event-stream frame: %w", noEOF(err))
	}
	f := Frame{Payload: msg.Payload}
	for _, h := range msg.Headers {
		var dst *string
		switch h.Name {
		case headerMessageType:
			dst = &f.MessageType
		case headerEventType:
			dst = &f.EventType
		case headerExceptionType:
			dst = &f.ExceptionType
		case headerErrorCode:
			dst = &f.ErrorCode
		case headerErrorMessage:
			dst = &f.ErrorMessage
		default:
			continue
		}
		s, ok := h.Value.(eventstream.StringValue)
		if !ok {
			return Frame{}, fmt.Errorf("decoding event-stream frame: header %s is not a string", h.Name)
		}
		*dst = string(s)
	}
	return f, nil
}

// noEOF turns an io.EOF met inside a frame into io.ErrUnexpectedEOF, so that
// callers testing for io.EOF only ever see a clean end of stream.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
