package sqlstore

import (
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"switchyard/internal/store"
)

// TestInsertUsage_Literals stores records whose text holds everything an
// array literal gives a meaning to (quotes, backslashes, braces, commas,
// the word NULL, blanks, newlines) and extreme numbers and times, and
// reads every field back as it was: on Postgres the batch travels as
// array literals (see pgArray), on SQLite as plain parameters.
func TestInsertUsage_Literals(t *testing.T) {
	tricky := []string{``, `NULL`, `null`, `"`, `\`, `\"`, `"\\"`, `{}`, `{a,b}`, `a,b`, ` lead and trail `, "line\nbreak\ttab",
		`}{"`, `é ünïcödé 日本 🚀`, strings.Repeat(`\"{,}`, 300)}
	loc := time.FixedZone("UTC-7", -7*3600)
	base := time.Date(2026, 3, 4, 5, 6, 7, 123456789, loc)
	var recs []store.UsageRecord
	for i, s := range tricky {
		recs = append(recs, store.UsageRecord{
			RequestID: "req-" + s + "-" + string(rune('a'+i)), TenantID: s, KeyID: s, Model: s, Provider: s,
			UpstreamModel: s, Dialect: s, Endpoint: s, Traffic: s, Stream: i%2 == 0,
			InputTokens: int64(i) * 1_000_000_007, OutputTokens: -int64(i), CachedInputTokens: 1 << 62, CacheWriteTokens: 0,
			ReasoningTokens: int64(i), CostUSD: float64(int64(i)*1_000_000_001) / 1e9, Latency: time.Duration(i) * time.Hour, TTFB: time.Nanosecond,
			Status: 200 + i, ErrorKind: s, Attempts: i, Route: s, Contracts: []string{s, "c"}, TraceID: s, Error: s,
			CreatedAt: base.Add(time.Duration(i) * time.Minute),
		})
	}
	// Records without a request ID are kept, each of them.
	recs = append(recs, store.UsageRecord{TenantID: "t", Model: "m", CreatedAt: base}, store.UsageRecord{TenantID: "t", Model: "m", CreatedAt: base})
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			s := OpenTestStore(t, driver)
			if err := s.InsertUsage(t.Context(), recs); err != nil {
				t.Fatal(err)
			}
			// A retried batch adds nothing but the records without an ID.
			if err := s.InsertUsage(t.Context(), recs[:3]); err != nil {
				t.Fatal(err)
			}
			var got []store.UsageRecord
			f := store.UsageFilter{Since: base.Add(-time.Hour), Until: base.Add(time.Hour)}
			if err := s.ScanUsage(t.Context(), f, func(r store.UsageRecord) error { got = append(got, r); return nil }); err != nil {
				t.Fatal(err)
			}
			byID := map[string]store.UsageRecord{}
			noID := 0
			for _, r := range got {
				if r.RequestID == "" {
					noID++
					continue
				}
				byID[r.RequestID] = r
			}
			if len(byID) != len(tricky) || noID != 2 {
				t.Fatalf("read back %d records with an ID and %d without; want %d and 2", len(byID), noID, len(tricky))
			}
			for _, want := range recs[:len(tricky)] {
				want.CreatedAt = want.CreatedAt.Truncate(time.Microsecond).UTC()
				if diff := gocmp.Diff(want, byID[want.RequestID]); diff != "" {
					t.Errorf("record %q (-stored +read):\n%s", want.RequestID, diff)
				}
			}
		})
	}
}

// TestPGArray writes a literal of every kind of element and checks it,
// and that the sizing pass counted its length exactly: the writing pass
// then never grows its buffer.
func TestPGArray(t *testing.T) {
	var a pgArray
	for _, sizing := range []bool{true, false} {
		a.start(sizing)
		a.str(`plain`)
		a.str(`q"b\e`)
		a.str(``)
		a.null()
		a.int(-42)
		a.bool(true)
		a.bool(false)
		a.time(time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", 3600)))
	}
	got := a.String()
	want := `{"plain","q\"b\\e","",NULL,-42,t,f,2026-01-02T02:04:05.000006Z}`
	if got != want {
		t.Errorf("literal\n got %s\nwant %s", got, want)
	}
	if len(got) != a.size {
		t.Errorf("sizing pass counted %d bytes for a literal of %d", a.size, len(got))
	}
	var empty pgArray
	empty.start(true)
	empty.start(false)
	if got := empty.String(); got != "{}" || empty.size != 2 {
		t.Errorf("empty literal %q, sized %d", got, empty.size)
	}
}
