package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"

	"switchyard/internal/jsonwire"
	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/sse"
)

// The same-dialect stream passthrough (llm.RawStream): an OpenAI client's
// streamed call sent to an OpenAI-dialect channel on the fast path gets
// the channel's event stream as it arrived, a read at a time, with only
// the model name replaced by the one the client asked for and the usage
// chunk (which the gateway always asks for) dropped when the client did
// not ask for it. Only what the gateway needs is decoded: a text chunk
// shaped like the last one (chunkTemplate) is only measured, for the
// stream size cap, and every other chunk (the start, tool calls, the
// finish reason, usage, errors, refusals, anything new) goes to the
// StreamDecoder whole. The decoder's guarantees thus hold as
// on the decoded path: tool call arguments that are not a JSON object fail
// the stream before the chunk with the finish reason reaches the client,
// and a stream cut short is an error.

// rawInitialBuffer is a passthrough stream's first read buffer: a slow
// stream's chunk fits it, and it doubles up to rawReadBuffer while reads
// fill the room they are given, so that a fast stream is read, and
// written to the client, in pieces as large as the transport hands over.
const (
	rawInitialBuffer = 1 << 10
	rawReadBuffer    = 16 << 10
	// rawShrinkAfter is how many reads in a row that use less than a
	// quarter of a grown buffer give it back.
	rawShrinkAfter = 8
)

// rawChat is the passthrough state of a chatStream.
type rawChat struct {
	// model is the client's model name, a JSON string, put in place of
	// the upstream's in every chunk.
	model []byte
	// usage: the client asked for the usage chunk.
	usage bool
	// buf[off:n] are bytes read and not yet handled.
	buf    []byte
	off, n int
	eof    bool
	// full: the last read filled the room it was given, so more may have
	// been waiting.
	full bool
	// small counts the reads in a row that used less than a quarter of
	// the buffer: a stream that has slowed down gives a grown buffer
	// back.
	small  int
	out    []byte
	evs    []llm.Event
	joined []byte // the data of an event with several data lines
	err    error  // sticky: io.EOF after the stop, or what ended the stream
	tmpl   chunkTemplate
	// scanned is how far from off the search for an event's end has
	// gone without finding one.
	scanned int
}

// chunkTemplate is the shape of the last plain text chunk: its bytes
// before and after its content string. An upstream's text chunks mostly
// differ in that string alone, and a chunk that is prefix, one JSON
// string, suffix has the members of the chunk the template came from,
// which needed no decoding: only its string is measured, and its model
// name is where the template's was.
type chunkTemplate struct {
	ok             bool
	prefix, suffix []byte
	// model is the model value's place: [ms, me) in the prefix, or, with
	// inSuffix, from the start of the suffix; absent when !hasModel.
	ms, me             int
	hasModel, inSuffix bool
}

// match reports whether data has the template's shape, and returns its
// content's decoded size and the model value's place in data.
func (t *chunkTemplate) match(data []byte) (size int64, ms, me int, ok bool) {
	if !t.ok || len(data) < len(t.prefix)+2+len(t.suffix) || !bytes.HasPrefix(data, t.prefix) || !bytes.HasSuffix(data, t.suffix) {
		return 0, 0, 0, false
	}
	mid := len(data) - len(t.suffix)
	if data[len(t.prefix)] != '"' {
		return 0, 0, 0, false
	}
	size, end := stringSize(data[:mid], len(t.prefix))
	if end != mid || data[mid-1] != '"' || escaped(data, mid-1) {
		return 0, 0, 0, false
	}
	ms, me = -1, -1
	if t.hasModel {
		ms, me = t.ms, t.me
		if t.inSuffix {
			ms, me = mid+t.ms, mid+t.me
		}
	}
	return size, ms, me, true
}

// learn makes data the template when the decoder turned it into one text
// delta and nothing else, with text, the content string's value: its
// only member named content in any letter case (encoding/json matches
// names so), in a chunk whose bytes around that string have no escape.
// A chunk of the same shape then has the same members with only that
// string changed, and the decoder would make of it a text delta of that
// string alone.
func (t *chunkTemplate) learn(data []byte, text string) {
	t.ok = false
	if bytes.Count(bytes.ToLower(data), []byte("content")) != 1 {
		return
	}
	vs, ok := keyValue(data, 0, []byte(`"content"`))
	if !ok || vs >= len(data) || data[vs] != '"' {
		return
	}
	size, ve := stringSize(data, vs)
	if ve > len(data) || data[ve-1] != '"' || escaped(data, ve-1) || size != int64(len(text)) {
		return
	}
	if bytes.IndexByte(data[:vs], '\\') >= 0 || bytes.IndexByte(data[ve:], '\\') >= 0 {
		return
	}
	var v string
	if json.Unmarshal(data[vs:ve], &v) != nil || v != text {
		return
	}
	t.prefix = append(t.prefix[:0], data[:vs]...)
	t.suffix = append(t.suffix[:0], data[ve:]...)
	t.hasModel, t.inSuffix = false, false
	if ms, me, ok := modelValue(data); ok {
		switch {
		case me <= vs:
			t.ms, t.me, t.hasModel = ms, me, true
		case ms >= ve:
			t.ms, t.me, t.hasModel, t.inSuffix = ms-ve, me-ve, true, true
		}
	}
	t.ok = true
}

// newRawChat reads what the passthrough needs from the client's body: its
// model name and whether it asked for usage. ok is false for a body it
// cannot read, which then takes the decoded path.
func newRawChat(body []byte) (*rawChat, bool) {
	ms, ok := members(body)
	if !ok {
		return nil, false
	}
	r := &rawChat{}
	for _, m := range ms {
		switch m.name {
		case "model":
			if kindOf(m.value) != kindString {
				return nil, false
			}
			// A copy: the stream outlives the client's body, which may
			// hold a long prompt.
			r.model = bytes.Clone(m.value)
		case "stream_options":
			var o struct {
				IncludeUsage bool `json:"include_usage"`
			}
			if kindOf(m.value) == kindObject && json.Unmarshal(m.value, &o) == nil {
				r.usage = o.IncludeUsage
			} else {
				r.usage = false
			}
		}
	}
	return r, r.model != nil
}

// RawDialect names the passthrough's wire, RawDialectChat, when the call
// was sent on the fast path.
func (s *chatStream) RawDialect() string {
	if s.raw == nil {
		return ""
	}
	return RawDialectChat
}

var errRawCut = errors.New("raw stream cut at the caller's room")

// NextRaw returns the whole events of the next read (see llm.RawStream).
func (s *chatStream) NextRaw(room int64) (llm.RawChunk, error) {
	r := s.raw
	if r == nil {
		return llm.RawChunk{}, errors.New("openai: raw stream asked of a decoded call")
	}
	if r.err != nil {
		return llm.RawChunk{}, r.err
	}
	r.out, r.evs = r.out[:0], r.evs[:0]
	var ch llm.RawChunk
	for {
		for {
			end := eventEnd(r.buf[r.off:r.n], r.scanned)
			if end < 0 {
				// The next search resumes near here, so that an event
				// arriving in many reads is scanned once.
				r.scanned = max(0, r.n-r.off-2)
				break
			}
			r.scanned = 0
			err := s.rawEvent(&ch, r.buf[r.off:r.off+end], room)
			if errors.Is(err, errRawCut) {
				ch.Cut = true
				r.err = &provider.Error{Provider: s.name, Kind: provider.KindBadResponse, Message: "stream read past its cut", Err: err}
				return r.chunk(ch), nil
			}
			r.off += end
			if err != nil {
				r.err = err
				return r.chunk(ch), nil
			}
			if s.dec.Done() {
				r.err = io.EOF
				return r.chunk(ch), nil
			}
		}
		if len(r.out) > 0 {
			return r.chunk(ch), nil
		}
		if r.eof {
			return r.end(s, ch, room)
		}
		if err := r.read(s); err != nil {
			r.err = err
			return r.chunk(ch), nil
		}
	}
}

// chunk completes ch with what the events handled so far produced. An
// empty chunk with a sticky error is that error.
func (r *rawChat) chunk(ch llm.RawChunk) llm.RawChunk {
	ch.Data, ch.Events = r.out, r.evs
	return ch
}

// end handles the end of the upstream's bytes: a last event not followed
// by a blank line, which servers may omit, then the decoder's verdict. A
// stream the decoder closes without "[DONE]" (finish reason and usage
// seen) gets one, as the decoded path would send it.
func (r *rawChat) end(s *chatStream, ch llm.RawChunk, room int64) (llm.RawChunk, error) {
	if rest := r.buf[r.off:r.n]; len(bytes.TrimSpace(rest)) > 0 {
		r.off = r.n
		ev := append(bytes.TrimRight(rest, "\r\n"), "\n\n"...)
		err := s.rawEvent(&ch, ev, room)
		switch {
		case errors.Is(err, errRawCut):
			ch.Cut = true
			r.err = &provider.Error{Provider: s.name, Kind: provider.KindBadResponse, Message: "stream read past its cut", Err: err}
			return r.chunk(ch), nil
		case err != nil:
			r.err = err
			return r.chunk(ch), nil
		case s.dec.Done():
			r.err = io.EOF
			return r.chunk(ch), nil
		}
	}
	evs, err := s.dec.End(r.evs)
	r.evs = evs
	if err != nil {
		r.err = err
		return r.chunk(ch), nil
	}
	ch.Content = true
	r.out = append(r.out, "data: [DONE]\n\n"...)
	r.err = io.EOF
	return r.chunk(ch), nil
}

// read reads more of the upstream's bytes, keeping those not yet handled.
func (r *rawChat) read(s *chatStream) error {
	if r.off > 0 {
		r.n = copy(r.buf, r.buf[r.off:r.n])
		r.off = 0
	}
	switch {
	case r.n == len(r.buf):
		// An event larger than the buffer: it grows past rawReadBuffer
		// up to the event size limit.
		if r.n >= sse.DefaultMaxEvent {
			return &provider.Error{Provider: s.name, Kind: provider.KindBadResponse,
				Message: "upstream sent an oversized stream event", Err: sse.ErrTooLarge}
		}
		size := max(rawInitialBuffer, 2*len(r.buf))
		if r.n < rawReadBuffer {
			size = min(size, rawReadBuffer)
		}
		r.buf = append(r.buf[:r.n], make([]byte, size-r.n)...)
	case r.full && len(r.buf) < rawReadBuffer:
		// The upstream had more than the last read could take: a larger
		// buffer takes such a burst in one read and one write.
		r.buf = append(r.buf[:r.n], make([]byte, min(2*len(r.buf), rawReadBuffer)-r.n)...)
	case r.small >= rawShrinkAfter && len(r.buf) > rawInitialBuffer && r.n <= rawInitialBuffer/2:
		// Slow again after a burst: the stream, which may stay open for
		// minutes, holds a small buffer again, and so does its output
		// (empty here: read is called only when it has nothing to send).
		r.buf = append(make([]byte, 0, rawInitialBuffer), r.buf[:r.n]...)[:rawInitialBuffer]
		r.out = nil
		r.small = 0
	}
	n, err := s.body.Read(r.buf[r.n:])
	r.full = n > 0 && r.n+n == len(r.buf)
	if n < len(r.buf)/4 {
		r.small++
	} else {
		r.small = 0
	}
	r.n += n
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		r.eof = true
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &provider.Error{Provider: s.name, Kind: provider.KindBadResponse, Message: "upstream stream was cut", Err: err}
	}
	if n > 0 {
		// The bytes read are handled first; the error comes next time.
		return nil
	}
	return provider.TransportError(s.name, err)
}

// eventEnd returns the length of the first whole event in b, up to and
// including the blank line that ends it, or -1. from is where to start
// looking, two bytes before the end of what an earlier search saw.
func eventEnd(b []byte, from int) int {
	for i := from; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
}

// rawEvent accounts one whole event (its blank line included) into ch and
// appends what the client gets of it to r.out. An event that would pass
// room is neither accounted nor sent: errRawCut.
func (s *chatStream) rawEvent(ch *llm.RawChunk, ev []byte, room int64) error {
	r := s.raw
	data, at, ok := r.data(ev)
	if !ok {
		// A comment (keep-alive) or an event without data: nothing to
		// account, and the client's SDK skips it as the decoder does.
		r.out = append(r.out, ev...)
		return nil
	}
	if at >= 0 {
		if size, ms, me, ok := r.tmpl.match(data); ok {
			if ch.Size+size > room {
				return errRawCut
			}
			ch.Size += size
			ch.Content = ch.Content || size > 0
			if ms >= 0 && !bytes.Equal(data[ms:me], r.model) {
				r.out = append(r.out, ev[:at+ms]...)
				r.out = append(r.out, r.model...)
				r.out = append(r.out, ev[at+me:]...)
			} else {
				r.out = append(r.out, ev...)
			}
			return nil
		}
	}
	before := len(r.evs)
	usageBefore, finishBefore, started := s.dec.usage, s.dec.finish, s.dec.started
	evs, err := s.dec.Decode(r.evs, data)
	if err != nil {
		r.evs = evs[:before]
		return err
	}
	var size int64
	content := false
	for _, e := range evs[before:] {
		size += e.ContentSize()
		content = content || e.Kind != llm.EventStart
	}
	if ch.Size+size > room {
		r.evs = evs[:before]
		return errRawCut
	}
	r.evs = evs
	ch.Size += size
	ch.Content = ch.Content || content
	if err := s.dec.checkFinish(); err != nil {
		r.evs = evs[:before]
		return err
	}
	if !r.usage && s.dec.usage != usageBefore && len(evs) == before && !bytes.Contains(data, []byte(`"choices":[{`)) {
		// The usage chunk the gateway asked for on the client's behalf.
		return nil
	}
	if at >= 0 && started && len(evs) == before+1 && evs[before].Kind == llm.EventTextDelta && !s.dec.refused &&
		s.dec.usage == usageBefore && s.dec.finish == finishBefore && !s.dec.done {
		r.tmpl.learn(data, evs[before].Text)
	}
	r.emit(ev, data, at)
	return nil
}

// data returns an event's data, and where it starts in ev when it is the
// event's only data line (-1 when several lines were joined). ok is false
// for an event without data.
func (r *rawChat) data(ev []byte) (data []byte, at int, ok bool) {
	if bytes.HasPrefix(ev, []byte("data:")) {
		// The usual event: one data line.
		line := ev[5:]
		nl := bytes.IndexByte(line, '\n')
		rest := line[nl+1:]
		if len(rest) == 0 || rest[0] == '\n' || rest[0] == '\r' && len(rest) > 1 && rest[1] == '\n' {
			line = bytes.TrimSuffix(line[:nl], []byte("\r"))
			start := 5
			if len(line) > 0 && line[0] == ' ' {
				line, start = line[1:], 6
			}
			return line, start, true
		}
	}
	// Several lines: join the data lines as the SSE reader does.
	r.joined = r.joined[:0]
	found := false
	for len(ev) > 0 {
		nl := bytes.IndexByte(ev, '\n')
		if nl < 0 {
			nl = len(ev)
		}
		line := bytes.TrimSuffix(ev[:nl], []byte("\r"))
		ev = ev[min(nl+1, len(ev)):]
		if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			v = bytes.TrimPrefix(v, []byte(" "))
			if found {
				r.joined = append(r.joined, '\n')
			}
			r.joined = append(r.joined, v...)
			found = true
		}
	}
	return r.joined, -1, found
}

// emit appends an event for the client, with the client's model name in
// place of the upstream's when data is ev's only data line (at >= 0).
func (r *rawChat) emit(ev, data []byte, at int) {
	if at >= 0 {
		if vs, ve, ok := modelValue(data); ok && !bytes.Equal(data[vs:ve], r.model) {
			r.out = append(r.out, ev[:at+vs]...)
			r.out = append(r.out, r.model...)
			r.out = append(r.out, ev[at+ve:]...)
			return
		}
	}
	r.out = append(r.out, ev...)
}

// checkFinish checks the tool calls once the finish reason is known, so
// that a call whose arguments are not a JSON object fails the stream
// before the chunk with the finish reason reaches the client, as on the
// decoded path, where that chunk is encoded only from the stop event.
func (d *StreamDecoder) checkFinish() error {
	if d.finish == "" || d.done {
		return nil
	}
	return d.checkCalls()
}

// keyValue finds the next member named key (quoted) at or after off and
// returns where its value starts. A quoted key cannot occur inside a JSON
// string unescaped, so a match whose quote is not escaped is a member
// name, or a string value, which the colon tells apart.
func keyValue(data []byte, off int, key []byte) (int, bool) {
	for off < len(data) {
		i := bytes.Index(data[off:], key)
		if i < 0 {
			return 0, false
		}
		i += off
		off = i + len(key)
		if escaped(data, i) {
			continue
		}
		j := jsonwire.SkipSpace(data, off)
		if j < len(data) && data[j] == ':' {
			return jsonwire.SkipSpace(data, j+1), true
		}
	}
	return 0, false
}

// escaped reports whether the byte at i is escaped by the backslashes
// before it.
func escaped(data []byte, i int) bool {
	n := 0
	for i-n > 0 && data[i-n-1] == '\\' {
		n++
	}
	return n%2 == 1
}

// modelValue finds the first model member of a chunk and returns its
// string value's bounds (quotes included).
func modelValue(data []byte) (start, end int, ok bool) {
	vs, ok := keyValue(data, 0, []byte(`"model"`))
	if !ok || vs >= len(data) || data[vs] != '"' {
		return 0, 0, false
	}
	ve, ok := jsonwire.SkipString(data, vs)
	return vs, ve, ok
}

// stringSize returns the decoded length in bytes of the JSON string
// starting at data[i] (a quote), as encoding/json would decode it, and
// the index after its closing quote. An unterminated string counts to
// the end.
func stringSize(data []byte, i int) (int64, int) {
	var n int64
	i++
	for {
		j := bytes.IndexAny(data[i:], `"\`)
		if j < 0 {
			return n + int64(len(data)-i), len(data)
		}
		n += int64(j)
		i += j
		if data[i] == '"' {
			return n, i + 1
		}
		// An escape.
		if i+1 >= len(data) {
			return n, len(data)
		}
		if data[i+1] != 'u' {
			n++
			i += 2
			continue
		}
		r, ok := hex4(data, i+2)
		i += 6
		if !ok {
			n += 3
			continue
		}
		if r >= 0xD800 && r < 0xDC00 {
			// A surrogate pair is one rune of four bytes; a lone
			// surrogate becomes U+FFFD.
			if i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
				if lo, ok := hex4(data, i+2); ok && lo >= 0xDC00 && lo < 0xE000 {
					n += 4
					i += 6
					continue
				}
			}
			n += 3
			continue
		}
		if r >= 0xDC00 && r < 0xE000 {
			n += 3
			continue
		}
		n += int64(utf8.RuneLen(r))
	}
}

// hex4 reads four hex digits at data[i:].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
