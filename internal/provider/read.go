package provider

import (
	"errors"
	"fmt"
	"io"
)

// MaxErrorBody bounds how much of an upstream's error answer adapters
// read: enough for any error document, not enough to exhaust memory.
const MaxErrorBody = 64 << 10

// ErrTooLarge marks an upstream body that holds more than its read limit.
var ErrTooLarge = errors.New("upstream body too large")

// ReadCapped reads r to its end, holding at most limit bytes, so that a
// hostile or broken upstream cannot exhaust memory. A body longer than
// limit yields its first limit bytes and an error wrapping ErrTooLarge; a
// read error yields what was read before it and that error.
func ReadCapped(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return b[:limit], fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

// ReadCappedLen is ReadCapped for a body that announced its length
// (Content-Length; -1 when unknown): the buffer is sized for it at once
// instead of grown from 512 bytes. A body longer or shorter than announced
// is still read whole, up to limit.
func ReadCappedLen(r io.Reader, size, limit int64) ([]byte, error) {
	if size <= 0 || size > limit {
		return ReadCapped(r, limit)
	}
	lr := io.LimitReader(r, limit+1)
	b := make([]byte, 0, size+1) // the extra byte sees EOF without a grow
	for {
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
	if int64(len(b)) > limit {
		return b[:limit], fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}
