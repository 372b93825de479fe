package bedrock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestEventEncoder_RoundTrip(t *testing.T) {
	var buf bytes.Buffer
	enc := NewEventEncoder(&buf)
	if err := enc.Event("messageStart", []byte(`{"role":"assistant"}`)); err != nil {
		t.Fatal(err)
	}
	if err := enc.Event("contentBlockDelta", []byte(`{"contentBlockIndex":0,"delta":{"text":"Hi"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := enc.Exception("throttlingException", []byte(`{"message":"slow down"}`)); err != nil {
		t.Fatal(err)
	}
	if err := enc.Error("InternalFailure", "boom"); err != nil {
		t.Fatal(err)
	}
	want := []Frame{
		{MessageType: "event", EventType: "messageStart", Payload: []byte(`{"role":"assistant"}`)},
		{MessageType: "event", EventType: "contentBlockDelta", Payload: []byte(`{"contentBlockIndex":0,"delta":{"text":"Hi"}}`)},
		{MessageType: "exception", ExceptionType: "throttlingException", Payload: []byte(`{"message":"slow down"}`)},
		{MessageType: "error", ErrorCode: "InternalFailure", ErrorMessage: "boom"},
	}
	// A reader returning one byte at a time proves frames are reassembled
	// across short reads, as they arrive from a chunked HTTP body.
	dec := NewEventDecoder(iotest.OneByteReader(bytes.NewReader(buf.Bytes())))
	var got []Frame
	for {
		f, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got = append(got, f)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
}

func TestEventEncoder_OneWritePerFrame(t *testing.T) {
	w := &countingWriter{}
	enc := NewEventEncoder(w)
	for range 3 {
		if err := enc.Event("contentBlockStop", []byte(`{"contentBlockIndex":0}`)); err != nil {
			t.Fatal(err)
		}
	}
	if w.writes != 3 {
		t.Errorf("writes = %d, want 3 (one per frame)", w.writes)
	}
}

type countingWriter struct{ writes int }

func (w *countingWriter) Write(p []byte) (int, error) { w.writes++; return len(p), nil }

// frame builds a raw frame with correct CRCs around headers and payload.
func frame(headers, payload []byte) []byte {
	total := uint32(minFrameSize + len(headers) + len(payload))
	b := binary.BigEndian.AppendUint32(nil, total)
	b = binary.BigEndian.AppendUint32(b, uint32(len(headers)))
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	b = append(b, headers...)
	b = append(b, payload...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// stringHeader encodes one header of type 7 (string).
func stringHeader(name, value string) []byte {
	b := append([]byte{byte(len(name))}, name...)
	b = append(b, 7)
	b = binary.BigEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...)
}

func TestEventDecoder_Errors(t *testing.T) {
	good := frame(stringHeader(":message-type", "event"), []byte(`{}`))
	badPreludeCRC := bytes.Clone(good)
	badPreludeCRC[9] ^= 0xff
	badMessageCRC := bytes.Clone(good)
	badMessageCRC[len(badMessageCRC)-1] ^= 0xff
	badPayload := bytes.Clone(good)
	badPayload[len(badPayload)-5] ^= 0xff

	withPrelude := func(total, headersLen uint32) []byte {
		b := binary.BigEndian.AppendUint32(nil, total)
		b = binary.BigEndian.AppendUint32(b, headersLen)
		b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
		return append(b, make([]byte, 64)...)
	}
	intHeader := append([]byte{byte(len(":event-type"))}, ":event-type"...)
	intHeader = append(intHeader, 4, 0, 0, 0, 1)

	for _, tc := range []struct {
		name       string
		in         []byte
		unexpected bool // the error must be io.ErrUnexpectedEOF
	}{
		{"truncated_prelude", good[:5], true},
		{"truncated_payload", good[:len(good)-3], true},
		{"bad_prelude_crc", badPreludeCRC, false},
		{"bad_message_crc", badMessageCRC, false},
		{"bad_payload", badPayload, false},
		{"length_below_minimum", withPrelude(8, 0), false},
		{"length_above_maximum", withPrelude(MaxFrameSize+1, 0), false},
		{"headers_longer_than_frame", withPrelude(40, 30), false},
		{"truncated_header", frame(stringHeader(":message-type", "event")[:9], nil), true},
		{"non_string_header", frame(intHeader, nil), false},
		{"unknown_header_type", frame([]byte{1, 'x', 42}, nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewEventDecoder(bytes.NewReader(tc.in)).Next()
			if err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("Next() error = %v, want a decoding error", err)
			}
			if tc.unexpected && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("Next() error = %v, want io.ErrUnexpectedEOF", err)
			}
		})
	}
}

func TestEventDecoder_CleanEOF(t *testing.T) {
	good := frame(stringHeader(":message-type", "event"), nil)
	dec := NewEventDecoder(bytes.NewReader(good))
	if _, err := dec.Next(); err != nil {
		t.Fatalf("first Next: %v", err)
	}
	if _, err := dec.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("second Next error = %v, want io.EOF", err)
	}
	if _, err := NewEventDecoder(bytes.NewReader(nil)).Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("empty input: Next error = %v, want io.EOF", err)
	}
}

func TestEventDecoder_LargeFrameNotPinned(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 2*reuseFrameSize)
	var buf bytes.Buffer
	enc := NewEventEncoder(&buf)
	if err := enc.Event("contentBlockDelta", big); err != nil {
		t.Fatal(err)
	}
	if err := enc.Event("contentBlockStop", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	dec := NewEventDecoder(&buf)
	f1, err := dec.Next()
	if err != nil {
		t.Fatal(err)
	}
	f2, err := dec.Next()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f1.Payload, big) || string(f2.Payload) != `{}` {
		t.Errorf("payloads corrupted: len %d, %q", len(f1.Payload), f2.Payload)
	}
	if cap(dec.buf) > reuseFrameSize {
		t.Errorf("decoder kept a %d-byte buffer", cap(dec.buf))
	}
}

func FuzzEventDecoder(f *testing.F) {
	var buf bytes.Buffer
	enc := NewEventEncoder(&buf)
	_ = enc.Event("contentBlockDelta", []byte(`{"contentBlockIndex":0,"delta":{"text":"Hi"}}`))
	_ = enc.Exception("throttlingException", []byte(`{"message":"x"}`))
	_ = enc.Error("code", "message")
	f.Add(buf.Bytes())
	f.Add(frame(nil, nil))
	f.Add(frame([]byte{1, 'x', 42}, nil))
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := NewEventDecoder(bytes.NewReader(data))
		for range 64 {
			if _, err := dec.Next(); err != nil {
				return
			}
		}
	})
}

// frameReader hands out its frames per to a read.
type frameReader struct {
	frames [][]byte
	per    int
}

func (r *frameReader) Read(p []byte) (int, error) {
	if len(r.frames) == 0 {
		return 0, io.EOF
	}
	n := 0
	for i := 0; i < r.per && len(r.frames) > 0 && len(r.frames[0]) <= len(p)-n; i++ {
		n += copy(p[n:], r.frames[0])
		r.frames = r.frames[1:]
	}
	return n, nil
}

func TestEventDecoder_Ready(t *testing.T) {
	var frames [][]byte
	for i := range 4 {
		var b bytes.Buffer
		if err := NewEventEncoder(&b).Event("contentBlockDelta", []byte(fmt.Sprintf(`{"i":%d}`, i))); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, b.Bytes())
	}
	for _, tc := range []struct {
		name string
		per  int // frames a read
		want []bool
	}{
		{"frames together", 4, []bool{true, true, true, false}},
		{"frames apart", 1, []bool{false, false, false, false}},
		{"two a read", 2, []bool{true, false, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewEventDecoder(&frameReader{frames: slices.Clone(frames), per: tc.per})
			var got []bool
			for range frames {
				if _, err := d.Next(); err != nil {
					t.Fatal(err)
				}
				got = append(got, d.Ready())
			}
			if _, err := d.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the last frame: %v, want io.EOF", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Ready after each frame (-want +got):\n%s", diff)
			}
		})
	}
}
