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
