package api

import (
	"strconv"
	"testing"
	"time"
)

// TestAppendReset_MatchesDuration checks that reset durations written
// without time.Duration's String read as OpenAI writes them: milliseconds
// under a second, and time.Duration's own form of the whole seconds
// otherwise.
func TestAppendReset_MatchesDuration(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, 0, time.Millisecond, 20 * time.Millisecond, 999 * time.Millisecond,
		time.Second, 1499 * time.Millisecond, 1500 * time.Millisecond, 59 * time.Second, time.Minute, 6 * time.Minute,
		6*time.Minute + 30*time.Second, time.Hour - time.Millisecond, time.Hour, 25*time.Hour + 61*time.Second,
		31 * 24 * time.Hour} {
		want := d.Round(time.Second).String()
		if d < time.Second {
			want = strconv.FormatInt(d.Milliseconds(), 10) + "ms"
		}
		if got := string(appendReset(nil, d)); got != want {
			t.Errorf("appendReset(%v) = %q, want %q", d, got, want)
		}
	}
}
