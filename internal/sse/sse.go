// Package sse reads and writes text/event-stream, the framing that OpenAI,
// Anthropic and Gemini use for streamed answers. The reader is strict about
// sizes (a frame larger than its limit is an error, never an unbounded
// buffer) and lenient about line endings, as the HTML standard says.
//
// A stream is flushed per event, except that an event whose successor is
// already at hand is sent with it (Writer.Coalesce, Reader.Ready): a fast
// upstream's events, arriving many to a read, leave in one write and
// flush, and no event waits in the gateway while the gateway waits on the
// upstream.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// DefaultMaxEvent bounds one event's data, in bytes.
const DefaultMaxEvent = 8 << 20

// readBufferSize is the reader's buffer: a few typical events (a chunk of
// a streamed answer is a few hundred bytes; the HTTP transport below has
// its own buffer for the socket reads). Longer lines are gathered past
// it. A reader lives as long as its stream, so with thousands of streams
// open this buffer is a large share of the gateway's memory.
const readBufferSize = 2 << 10

// keepCap is the largest event buffer a reader keeps between events: one
// large event does not pin its size for the rest of the stream.
const keepCap = 64 << 10

// ErrTooLarge is returned when an event grows past the reader's limit.
var ErrTooLarge = errors.New("sse: event too large")

// Event is one dispatched server-sent event.
type Event struct {
	// Type is the "event:" field; empty when the stream gave none.
	Type string
	// Data is the "data:" lines joined by "\n". It is only valid until the
	// next call to Next.
	Data []byte
	ID   string
}

// Reader decodes events from a stream. It is not safe for concurrent use.
type Reader struct {
	r     *bufio.Reader
	max   int
	data  []byte
	typ   []byte
	id    []byte
	line  []byte
	start bool
}

// NewReader reads events from r with the default size limit.
func NewReader(r io.Reader) *Reader { return NewReaderSize(r, DefaultMaxEvent) }

// NewReaderSize reads events from r; an event larger than max bytes fails.
func NewReaderSize(r io.Reader, max int) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, readBufferSize), max: max, start: true}
}

// Next returns the next event. At the end of the stream it returns io.EOF;
// a final event not followed by a blank line is still dispatched, since
// many servers omit it. An event with neither data nor a type (an "id:"
// or "retry:" line alone) is skipped.
func (rd *Reader) Next() (Event, error) {
	if cap(rd.data) > keepCap {
		rd.data = nil
	}
	if cap(rd.line) > keepCap {
		rd.line = nil
	}
	rd.data, rd.typ, rd.id = rd.data[:0], rd.typ[:0], rd.id[:0]
	hasData := false
	for {
		line, err := rd.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && (hasData || len(rd.typ) > 0) {
				return rd.event(), nil
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if hasData || len(rd.typ) > 0 {
				return rd.event(), nil
			}
			continue
		}
		if line[0] == ':' {
			continue // comment, used as keep-alive
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if hasData {
				rd.data = append(rd.data, '\n')
			}
			if len(rd.data)+len(value) > rd.max {
				return Event{}, ErrTooLarge
			}
			rd.data = append(rd.data, value...)
			hasData = true
		case "event":
			rd.typ = append(rd.typ[:0], value...)
		case "id":
			rd.id = append(rd.id[:0], value...)
		}
	}
}

// Ready reports whether Next would return an event without reading: the
// reader's buffer holds the whole of an event it dispatches (comments and
// events with neither data nor a type, which Next skips, do not count).
// Ready never reads; its cost is the length of that next event.
func (rd *Reader) Ready() bool {
	b, _ := rd.r.Peek(rd.r.Buffered())
	hasData, hasType, first := false, false, rd.start
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false
		}
		line := bytes.TrimSuffix(b[:i], []byte("\r"))
		b = b[i+1:]
		if first {
			line, first = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")), false
		}
		if len(line) == 0 {
			if hasData || hasType {
				return true
			}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		switch string(field) {
		case "data":
			hasData = true
		case "event":
			hasType = len(bytes.TrimPrefix(value, []byte(" "))) > 0
		}
	}
}

func (rd *Reader) event() Event {
	return Event{Type: string(rd.typ), Data: rd.data, ID: string(rd.id)}
}

// readLine returns one line without its terminator. Lines end in \n or
// \r\n; a lone \r, which the standard also allows, is used by no upstream
// and is kept as data.
func (rd *Reader) readLine() ([]byte, error) {
	rd.line = rd.line[:0]
	for {
		chunk, err := rd.r.ReadSlice('\n')
		if len(rd.line)+len(chunk) > rd.max+2 {
			return nil, ErrTooLarge
		}
		rd.line = append(rd.line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && (len(rd.line) == 0 || !errors.Is(err, io.EOF)) {
			return nil, err
		}
		line := rd.line
		if rd.start {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
			rd.start = false
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		return bytes.TrimSuffix(line, []byte("\r")), nil
	}
}

// Writer writes events to an HTTP response and flushes each one, so a
// client sees every event as soon as it is written. With Coalesce, it
// skips the flush after an event when the next one is already at hand,
// so that a fast stream is sent in fewer, larger writes with no event
// held back while the gateway waits.
type Writer struct {
	w     io.Writer
	rc    *http.ResponseController
	buf   []byte
	ready func() bool
}

// NewWriter sets the event-stream headers on w (if not yet written) and
// returns a writer for it.
func NewWriter(w http.ResponseWriter) *Writer {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	return &Writer{w: w, rc: http.NewResponseController(w)}
}

// Coalesce makes the writer flush after an event only when ready reports
// false: ready says whether the next event is already at hand (see
// llm.ReadyStream), and must not block. Comments are always flushed.
func (sw *Writer) Coalesce(ready func() bool) { sw.ready = ready }

// Event writes one event with an optional type line and flushes it,
// unless a Coalesce function says the next event is at hand. data
// must not contain a newline (JSON from encoding/json never does).
func (sw *Writer) Event(typ string, data []byte) error {
	sw.buf = sw.buf[:0]
	if typ != "" {
		sw.buf = append(sw.buf, "event: "...)
		sw.buf = append(sw.buf, typ...)
		sw.buf = append(sw.buf, '\n')
	}
	sw.buf = append(sw.buf, "data: "...)
	sw.buf = append(sw.buf, data...)
	sw.buf = append(sw.buf, "\n\n"...)
	if _, err := sw.w.Write(sw.buf); err != nil {
		return fmt.Errorf("writing event: %w", err)
	}
	if sw.ready != nil && sw.ready() {
		return nil // the next event follows at once and flushes this one
	}
	return sw.Flush()
}

// Comment writes a comment line (a keep-alive) and flushes it.
func (sw *Writer) Comment(text string) error {
	if _, err := io.WriteString(sw.w, ": "+text+"\n\n"); err != nil {
		return err
	}
	return sw.Flush()
}

// Flush sends buffered bytes to the client.
func (sw *Writer) Flush() error {
	if err := sw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
