package api

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"golang.org/x/net/http2/hpack"
)

// h2cPreface is the HTTP/2 client connection preface (RFC 9113 §3.4).
const h2cPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// HTTP/2 frame types and flags the rewriter reads (RFC 9113 §6).
const (
	h2FrameHeaders      = 0x1
	h2FrameContinuation = 0x9

	h2FlagEndStream  = 0x1
	h2FlagEndHeaders = 0x4
	h2FlagPadded     = 0x8
	h2FlagPriority   = 0x20

	h2FrameHeaderLen = 9
	// h2MinMaxFrameSize is the frame size every HTTP/2 peer accepts, so
	// the rewritten blocks are cut at it whatever the server announced.
	h2MinMaxFrameSize = 16384
	// h2DecoderTableSize is the HPACK table size net/http's HTTP/2 server
	// announces by default (http.HTTP2Config.MaxDecoderHeaderTableSize),
	// the most a client's encoder may use towards it.
	h2DecoderTableSize = 4096
)

// h2Rewriter sits between an h2c client and net/http's HTTP/2 server and
// makes a request whose :path has a malformed percent-escape (which the
// server would reset with PROTOCOL_ERROR, a stream error no SDK can show)
// reach the front door: the bad '%' becomes "%25" and the marker header
// badPathHeader is added, so the front door refuses it with 400 in the
// client's dialect.
//
// Every frame but HEADERS and CONTINUATION passes through unchanged, DATA
// streamed as it arrives. Each header block is decoded with the client's
// HPACK context and encoded again with the rewriter's own context towards
// the server, whether or not it changes: the two contexts are independent,
// so a changed field can never make the server's dynamic table disagree
// with the client's. The encoder uses no dynamic table (size 0, announced
// in the first block), so it is correct whatever table size the server
// allows. Blocks are bounded by maxBlock; past it the connection fails.
type h2Rewriter struct {
	src      io.Reader
	maxBlock int
	// maxList bounds the decoded size of one header block (RFC 7541
	// sizes: name, value and 32 per field). Fields past it are dropped
	// and the request is marked tooLargeHeader, for a 431 in dialect:
	// small blocks referencing big table entries cannot blow up.
	maxList  int
	listSize int
	fields   []hpack.HeaderField
	dec      *hpack.Decoder
	enc      *hpack.Encoder
	encBuf   bytes.Buffer

	raw []byte // read from src, not yet processed
	out []byte // processed, not yet returned
	off int    // of out already returned
	// passLeft counts the payload bytes still to pass through of the
	// current non-header frame.
	passLeft int
	// The open header block: its stream, the END_STREAM flag and priority
	// fields of its HEADERS frame, and its fragments so far.
	inBlock   bool
	stream    uint32
	endStream bool
	prio      []byte
	block     []byte
	err       error
}

func newH2Rewriter(src io.Reader, pending []byte, maxBlock, maxList int) *h2Rewriter {
	w := &h2Rewriter{src: src, maxBlock: maxBlock, maxList: maxList, raw: append([]byte(nil), pending...)}
	w.dec = hpack.NewDecoder(h2DecoderTableSize, func(f hpack.HeaderField) {
		if w.listSize += int(f.Size()); w.listSize > w.maxList {
			// Keep decoding, for the table, but keep nothing more.
			w.dec.SetEmitEnabled(false)
			return
		}
		w.fields = append(w.fields, f)
	})
	w.dec.SetMaxStringLength(maxBlock)
	w.enc = hpack.NewEncoder(&w.encBuf)
	w.enc.SetMaxDynamicTableSize(0)
	return w
}

func (w *h2Rewriter) Read(p []byte) (int, error) {
	for w.off == len(w.out) {
		w.out, w.off = w.out[:0], 0
		if w.err != nil {
			return 0, w.err
		}
		if err := w.process(); err != nil {
			w.err = err
			continue
		}
		if len(w.out) > 0 {
			break
		}
		w.fill()
	}
	n := copy(p, w.out[w.off:])
	w.off += n
	return n, nil
}

// fill reads more of the client's bytes; an error is returned once what
// was read before it is processed.
func (w *h2Rewriter) fill() {
	if len(w.raw) == cap(w.raw) {
		grown := make([]byte, len(w.raw), max(2*cap(w.raw), 32<<10))
		copy(grown, w.raw)
		w.raw = grown
	}
	n, err := w.src.Read(w.raw[len(w.raw):cap(w.raw)])
	w.raw = w.raw[:len(w.raw)+n]
	if err != nil && n == 0 {
		w.err = err
	}
}

// consume drops the first n bytes of raw, keeping its buffer.
func (w *h2Rewriter) consume(n int) {
	k := copy(w.raw, w.raw[n:])
	w.raw = w.raw[:k]
}

var errH2Block = errors.New("h2c: malformed header block")

// process moves every complete frame of raw, and what has arrived of a
// passing frame's payload, to out.
func (w *h2Rewriter) process() error {
	for {
		if w.passLeft > 0 {
			n := min(w.passLeft, len(w.raw))
			if n == 0 {
				return nil
			}
			w.out = append(w.out, w.raw[:n]...)
			w.consume(n)
			w.passLeft -= n
			continue
		}
		if len(w.raw) < h2FrameHeaderLen {
			return nil
		}
		length := int(w.raw[0])<<16 | int(w.raw[1])<<8 | int(w.raw[2])
		typ, flags := w.raw[3], w.raw[4]
		stream := binary.BigEndian.Uint32(w.raw[5:9]) & (1<<31 - 1)
		if w.inBlock && typ != h2FrameContinuation {
			return fmt.Errorf("%w: frame type %d inside a header block", errH2Block, typ)
		}
		if typ != h2FrameHeaders && typ != h2FrameContinuation {
			w.out = append(w.out, w.raw[:h2FrameHeaderLen]...)
			w.consume(h2FrameHeaderLen)
			w.passLeft = length
			continue
		}
		if length > w.maxBlock {
			return fmt.Errorf("%w: a %d-byte header frame", errH2Block, length)
		}
		if len(w.raw) < h2FrameHeaderLen+length {
			return nil
		}
		payload := w.raw[h2FrameHeaderLen : h2FrameHeaderLen+length]
		if typ == h2FrameHeaders {
			if flags&h2FlagPadded != 0 {
				if len(payload) < 1 || int(payload[0]) > len(payload)-1 {
					return fmt.Errorf("%w: bad padding", errH2Block)
				}
				payload = payload[1 : len(payload)-int(payload[0])]
			}
			w.prio = w.prio[:0]
			if flags&h2FlagPriority != 0 {
				if len(payload) < 5 {
					return fmt.Errorf("%w: short priority", errH2Block)
				}
				w.prio = append(w.prio, payload[:5]...)
				payload = payload[5:]
			}
			w.inBlock, w.stream, w.endStream = true, stream, flags&h2FlagEndStream != 0
			w.block = append(w.block[:0], payload...)
		} else {
			if !w.inBlock || stream != w.stream {
				return fmt.Errorf("%w: CONTINUATION outside its block", errH2Block)
			}
			w.block = append(w.block, payload...)
		}
		w.consume(h2FrameHeaderLen + length)
		if len(w.block) > w.maxBlock {
			return fmt.Errorf("%w: a header block over %d bytes", errH2Block, w.maxBlock)
		}
		if flags&h2FlagEndHeaders != 0 {
			w.inBlock = false
			if err := w.emit(); err != nil {
				return err
			}
		}
	}
}

// emit decodes the complete header block, repairs a bad :path, and writes
// the block again as HEADERS and CONTINUATION frames.
func (w *h2Rewriter) emit() error {
	w.fields, w.listSize = w.fields[:0], 0
	w.dec.SetEmitEnabled(true)
	if _, err := w.dec.Write(w.block); err != nil {
		return fmt.Errorf("%w: %w", errH2Block, err)
	}
	if err := w.dec.Close(); err != nil {
		return fmt.Errorf("%w: %w", errH2Block, err)
	}
	w.encBuf.Reset()
	bad := false
	for _, f := range w.fields {
		if f.Name == ":path" {
			if fixed, ok := repairPath(f.Value); ok {
				f.Value, bad = fixed, true
			}
		}
		if err := w.enc.WriteField(f); err != nil {
			return err
		}
	}
	if bad {
		if err := w.enc.WriteField(hpack.HeaderField{Name: strings.ToLower(badPathHeader), Value: "1"}); err != nil {
			return err
		}
	}
	if w.listSize > w.maxList {
		if err := w.enc.WriteField(hpack.HeaderField{Name: strings.ToLower(tooLargeHeader), Value: "1"}); err != nil {
			return err
		}
	}
	block := w.encBuf.Bytes()
	for first := true; first || len(block) > 0; first = false {
		typ, flags, room, extra := byte(h2FrameContinuation), byte(0), h2MinMaxFrameSize, 0
		if first {
			typ = h2FrameHeaders
			if w.endStream {
				flags |= h2FlagEndStream
			}
			if len(w.prio) > 0 {
				flags |= h2FlagPriority
				extra = len(w.prio)
				room -= extra
			}
		}
		n := min(room, len(block))
		if n == len(block) {
			flags |= h2FlagEndHeaders
		}
		size := n + extra
		w.out = append(w.out, byte(size>>16), byte(size>>8), byte(size), typ, flags)
		w.out = binary.BigEndian.AppendUint32(w.out, w.stream)
		if extra > 0 {
			w.out = append(w.out, w.prio...)
		}
		w.out = append(w.out, block[:n]...)
		block = block[n:]
	}
	return nil
}

// repairPath returns p with every '%' of its path (before any '?') that is
// not followed by two hexadecimal digits escaped as "%25", when p is a path
// net/http would refuse and the repaired one is accepted.
func repairPath(p string) (string, bool) {
	if _, err := url.ParseRequestURI(p); err == nil {
		return "", false
	}
	path, query, hasQuery := strings.Cut(p, "?")
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] == '%' && (i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2])) {
			b.WriteString("%25")
			continue
		}
		b.WriteByte(path[i])
	}
	if hasQuery {
		b.WriteByte('?')
		b.WriteString(query)
	}
	fixed := b.String()
	if _, err := url.ParseRequestURI(fixed); err != nil {
		return "", false
	}
	return fixed, true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
