package route

import (
	"math"
	"strconv"
	"time"
)

// text collects the human-readable parts of one decision (the Why lines
// and the candidates' Removed reasons) in one buffer, so that a plan
// allocates its explanations once instead of once per phrase. Fixed texts
// worked out when the router was built are kept as they are. The buffer
// is the plan's pooled scratch: a plan whose explanations are all fixed
// texts (the common case: healthy channels, no contracts) allocates no
// text at all, and one that writes some copies them out once, exactly
// sized.
type text struct {
	b   []byte
	lo  int     // start of the piece being written
	why []piece // the Why lines, in order
	rem []piece // the Removed reasons, parallel to the candidates
}

// piece is a fixed text, or a span of the buffer when lit is empty.
type piece struct {
	lit    string
	lo, hi int
}

func (p piece) set() bool { return p.lit != "" || p.hi > p.lo }

// init sets the buffer the texts are written in and the slices the
// pieces go in: why empty, rem one per candidate.
func (t *text) init(buf []byte, why, rem []piece) {
	t.b, t.why, t.rem = buf[:0], why, rem
	clear(t.rem)
}

// open starts a piece; the writes up to the next close make it.
func (t *text) open() { t.lo = len(t.b) }

// closeWhy ends the open piece as a Why line.
func (t *text) closeWhy() { t.why = append(t.why, piece{lo: t.lo, hi: len(t.b)}) }

// closeRemoved ends the open piece as candidate i's Removed reason.
func (t *text) closeRemoved(i int) { t.rem[i] = piece{lo: t.lo, hi: len(t.b)} }

// whyLit adds a fixed Why line.
func (t *text) whyLit(s string) { t.why = append(t.why, piece{lit: s}) }

// removedLit sets candidate i's Removed reason to a fixed text.
func (t *text) removedLit(i int, s string) { t.rem[i] = piece{lit: s} }

// finish stores the texts in d, the Why lines in room when they fit.
func (t *text) finish(d *Decision, room []string) {
	s := string(t.b) // the buffer goes back to the pool: copy out
	str := func(p piece) string {
		if p.lit != "" {
			return p.lit
		}
		return s[p.lo:p.hi]
	}
	if n := len(t.why); n <= cap(room) {
		d.Why = room[:n:n]
	} else {
		d.Why = make([]string, n)
	}
	for i, p := range t.why {
		d.Why[i] = str(p)
	}
	for i, p := range t.rem {
		if p.set() {
			d.Candidates[i].Removed = str(p)
		}
	}
}

func (t *text) str(s string) { t.b = append(t.b, s...) }

func (t *text) quote(s string) { t.b = strconv.AppendQuote(t.b, s) }

func (t *text) int(n int64) { t.b = strconv.AppendInt(t.b, n, 10) }

func (t *text) float(v float64) { t.b = strconv.AppendFloat(t.b, v, 'f', -1, 64) }

// usd writes an amount rounded to a millionth of a dollar.
func (t *text) usd(v float64) {
	t.b = append(t.b, '$')
	t.float(math.Round(v*1e6) / 1e6)
}

// cents writes a dollar amount to the cent.
func (t *text) cents(v float64) { t.b = appendCents(t.b, v) }

// formatCents renders a dollar amount to the cent, such as "$1250.00".
func formatCents(v float64) string { return string(appendCents(nil, v)) }

func appendCents(b []byte, v float64) []byte {
	c := int64(math.Round(v * 100))
	if c < 0 {
		b = append(b, '-')
		c = -c
	}
	b = append(b, '$')
	b = strconv.AppendInt(b, c/100, 10)
	return append(b, '.', byte('0'+c%100/10), byte('0'+c%10))
}

func (t *text) time(v time.Time) { t.b = v.UTC().AppendFormat(t.b, time.RFC3339) }

// ms writes d in milliseconds, to a tenth.
func (t *text) ms(d time.Duration) {
	t.float(float64(d.Round(100*time.Microsecond)) / float64(time.Millisecond))
	t.str("ms")
}

// list writes the providers of the candidates idx, comma-separated.
func (t *text) list(m *Model, idx []int) {
	for k, i := range idx {
		if k > 0 {
			t.str(", ")
		}
		t.str(m.Offerings[i].Provider)
	}
}

// contracts writes `contract "a"` or `contracts "a" and "b"`.
func (t *text) contracts(names []string) {
	if len(names) == 1 {
		t.str("contract ")
	} else {
		t.str("contracts ")
	}
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			t.str(" and ")
		default:
			t.str(", ")
		}
		t.quote(n)
	}
}
