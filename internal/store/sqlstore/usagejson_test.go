package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"switchyard/internal/store"
)

// trickyStrings are strings whose JSON renderings differ between encoders
// or that a JSON round trip could change.
var trickyStrings = []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\rcr\bbs\fff", "\x00nul\x01\x1f\x7f",
	"<html> & 'apos'", "unicode é 中文 🚀", "\u2028line\u2029para", "bad utf8 \xff\xfe end", "trunc \xe2\x82", "\xed\xa0\x80 surrogate",
	`{"json":"inside"}`, "\u00e9\u0301", "/slash/"}

func randomString(r *rand.Rand) string {
	const alphabet = "aZ09 \"\\/<>&\t\n\x00\x1f\x7f\xc3\xa9\xe2\x80\xa8\xff\xf0\x9f\x9a\x80"
	b := make([]byte, r.IntN(24))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func TestAppendList_MatchesEncodeList(t *testing.T) {
	for _, l := range [][]string{nil, {}, {"one"}, {"a", "b"}, trickyStrings} {
		want, err := encodeList(l)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendList(nil, l); string(got) != want {
			t.Errorf("appendList(%q) = %s, encodeList = %s", l, got, want)
		}
	}
}

func TestAppendDetail_MatchesJSONMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pick := func() string {
		if r.IntN(3) == 0 {
			return ""
		}
		if r.IntN(2) == 0 {
			return trickyStrings[r.IntN(len(trickyStrings))]
		}
		return randomString(r)
	}
	recs := []store.UsageRecord{{}, {Strategy: "priority"}, {Candidates: []store.RouteCandidate{{}}}, {AttemptLog: []store.Attempt{{}}},
		{Strategy: "cost", Candidates: []store.RouteCandidate{{Channel: "a", UpstreamModel: "m"}, {Channel: "b", UpstreamModel: "m", Skipped: "breaker_open", Detail: "cooling <down>"}},
			AttemptLog: []store.Attempt{{Channel: "a", UpstreamModel: "m", Status: 503, ErrorKind: "upstream", Duration: -5, Fallback: "upstream"}, {Channel: "b", Status: 200, Duration: time.Hour}}}}
	for range 2000 {
		var rec store.UsageRecord
		rec.Strategy = pick()
		for range r.IntN(3) {
			rec.Candidates = append(rec.Candidates, store.RouteCandidate{Channel: pick(), UpstreamModel: pick(), Skipped: pick(), Detail: pick()})
		}
		for range r.IntN(3) {
			rec.AttemptLog = append(rec.AttemptLog, store.Attempt{Channel: pick(), UpstreamModel: pick(), Status: r.IntN(600) - 1,
				ErrorKind: pick(), Duration: time.Duration(r.Int64() - r.Int64()), Fallback: pick()})
		}
		recs = append(recs, rec)
	}
	for i := range recs {
		rec := &recs[i]
		want := ""
		if rec.Strategy != "" || len(rec.Candidates) > 0 || len(rec.AttemptLog) > 0 {
			b, err := json.Marshal(usageDetail{Strategy: rec.Strategy, Candidates: rec.Candidates, Attempts: rec.AttemptLog})
			if err != nil {
				t.Fatal(err)
			}
			want = string(b)
		}
		if got := encodeDetail(rec); got != want {
			t.Errorf("encodeDetail = %s\njson.Marshal = %s", got, want)
		}
	}
}

// TestInsertUsage_StoresValuesExactly checks that every column holds the
// record's value as it is, with SQL types a parameter would give it:
// strings byte for byte (control characters, quotes, invalid UTF-8
// included), integers at their limits, a NULL request ID, in batches of
// many sizes and with a payload (the transaction path).
func TestInsertUsage_StoresValuesExactly(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			s := OpenTestStore(t, driver)
			created := time.Date(2026, 12, 7, 22, 0, 0, 123456000, time.UTC)
			var recs []store.UsageRecord
			for i, str := range trickyStrings {
				if driver == DriverPostgres && (strings.ContainsRune(str, 0) || !isUTF8(str)) {
					continue // Postgres text holds neither NUL nor invalid UTF-8
				}
				recs = append(recs, store.UsageRecord{
					RequestID: fmt.Sprintf("req_%d", i), TenantID: str, KeyID: "key_" + str, Model: str, Provider: str, UpstreamModel: str,
					Dialect: str, Endpoint: str, Traffic: str, Stream: i%2 == 0, InputTokens: 1 << 62, OutputTokens: -1,
					CachedInputTokens: int64(i), CacheWriteTokens: 255, ReasoningTokens: 256, CostUSD: 9.2e9, Latency: time.Duration(1<<63 - 1),
					TTFB: -time.Second, Status: 200 + i, ErrorKind: str, Attempts: i, Route: str, Contracts: []string{str, "c"},
					CreatedAt: created, TraceID: str, Error: str, Strategy: str,
					AttemptLog: []store.Attempt{{Channel: str, Status: 200, Duration: time.Millisecond}},
				})
			}
			recs = append(recs, store.UsageRecord{TenantID: "no-id", CreatedAt: created})
			recs = append(recs, store.UsageRecord{RequestID: "with-payload", TenantID: "p", CreatedAt: created,
				Payload: &store.Payload{Request: `{"a":1}`, Response: "x", RequestBytes: 7, ResponseBytes: 1}})
			for at := 0; at < len(recs); {
				n := min(1+at%3, len(recs)-at)
				if err := s.InsertUsage(t.Context(), recs[at:at+n]); err != nil {
					t.Fatal(err)
				}
				at += n
			}
			// A retried batch adds nothing.
			if err := s.InsertUsage(t.Context(), recs[:3]); err != nil {
				t.Fatal(err)
			}
			q := s.d.rebind(`SELECT request_id, ` + strings.TrimPrefix(usageColumns, "request_id, ") + ` FROM usage_records ORDER BY tenant_id, request_id`)
			rs, err := s.r.QueryContext(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			defer rs.Close()
			got := map[string][]any{}
			n := 0
			for rs.Next() {
				var (
					id                                                                                 sql.NullString
					tenant, key, model, provider, upstream, dialect, endpoint, traffic, errKind, route string
					contracts, traceID, errMsg, detail                                                 string
					stream                                                                             bool
					in, out, cached, cacheW, reasoning, cost, lat, ttfb, status, attempts              int64
					createdAt                                                                          any
				)
				if err := rs.Scan(&id, &tenant, &key, &model, &provider, &upstream, &dialect, &endpoint, &traffic, &stream,
					&in, &out, &cached, &cacheW, &reasoning, &cost, &lat, &ttfb, &status, &errKind, &attempts, &route, &contracts,
					&createdAt, &traceID, &errMsg, &detail); err != nil {
					t.Fatal(err)
				}
				n++
				got[id.String+"|"+tenant] = []any{id.Valid, key, model, provider, upstream, dialect, endpoint, traffic, stream,
					in, out, cached, cacheW, reasoning, cost, lat, ttfb, status, errKind, attempts, route, contracts, traceID, errMsg, detail}
			}
			if err := rs.Err(); err != nil {
				t.Fatal(err)
			}
			if n != len(recs) {
				t.Fatalf("%d rows stored, want %d", n, len(recs))
			}
			for i := range recs {
				r := &recs[i]
				contracts, _ := encodeList(r.Contracts)
				want := []any{r.RequestID != "", r.KeyID, r.Model, r.Provider, r.UpstreamModel, r.Dialect, r.Endpoint, r.Traffic, r.Stream,
					r.InputTokens, r.OutputTokens, r.CachedInputTokens, r.CacheWriteTokens, r.ReasoningTokens, int64(r.CostUSD * nanoUSD),
					int64(r.Latency), int64(r.TTFB), int64(r.Status), r.ErrorKind, int64(r.Attempts), r.Route, contracts, r.TraceID, r.Error,
					encodeDetail(r)}
				g, ok := got[r.RequestID+"|"+r.TenantID]
				if !ok {
					t.Errorf("record %q (tenant %q) not stored", r.RequestID, r.TenantID)
					continue
				}
				if fmt.Sprintf("%#v", g) != fmt.Sprintf("%#v", want) {
					t.Errorf("record %q stored as\n%#v\nwant\n%#v", r.RequestID, g, want)
				}
			}
			if driver == DriverSQLite {
				var bad int
				if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM usage_records WHERE typeof(tenant_id) <> 'text'
					OR typeof(input_tokens) <> 'integer' OR typeof(stream) <> 'integer' OR typeof(created_at) <> 'integer'
					OR typeof(cost_nano_usd) <> 'integer' OR (request_id IS NOT NULL AND typeof(request_id) <> 'text')`).Scan(&bad); err != nil {
					t.Fatal(err)
				}
				if bad != 0 {
					t.Errorf("%d rows hold a value of the wrong SQL type", bad)
				}
			}
			for _, r := range recs[:3] {
				g, err := s.GetRequest(t.Context(), r.RequestID)
				if err != nil {
					t.Fatal(err)
				}
				if !g.CreatedAt.Equal(r.CreatedAt) || g.Strategy != r.Strategy || fmt.Sprint(g.AttemptLog) != fmt.Sprint(r.AttemptLog) {
					t.Errorf("GetRequest(%q) = created %v, strategy %q, attempts %v; want %v, %q, %v", r.RequestID, g.CreatedAt,
						g.Strategy, g.AttemptLog, r.CreatedAt, r.Strategy, r.AttemptLog)
				}
			}
		})
	}
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// TestInsertUsage_SQLiteAllocationsPerBatch checks that a SQLite batch
// costs a few allocations whatever its size, not some per row: binding
// 27 parameters a row cost about 18 a row.
func TestInsertUsage_SQLiteAllocationsPerBatch(t *testing.T) {
	s := OpenTestStore(t, DriverSQLite)
	seq := 0
	const rows = 256
	batches := make([][]store.UsageRecord, 12)
	for i := range batches {
		batches[i] = benchUsage(rows, &seq)
	}
	next := 0
	allocs := testing.AllocsPerRun(len(batches)-2, func() {
		if err := s.InsertUsage(t.Context(), batches[next]); err != nil {
			t.Fatal(err)
		}
		next++
	})
	if allocs > 64 {
		t.Errorf("a batch of %d rows made %.0f allocations, want at most 64", rows, allocs)
	}
}
