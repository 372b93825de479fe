package app

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"switchyard/internal/telemetry"
)

// BenchmarkAccessLog measures one request's access-log line through the
// Middleware, the redacting handler and the JSON handler into a file
// (/dev/null, so each write is a real system call): held and written in
// batches (the default), and written line by line; and held without the
// redacting handler, for its share.
func BenchmarkAccessLog(b *testing.B) {
	for _, tc := range []struct {
		name     string
		every    time.Duration
		noRedact bool
	}{{"held_100ms", 100 * time.Millisecond, false}, {"each_line", -1, false}, {"held_unredacted", 100 * time.Millisecond, true}} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			lw := telemetry.NewLogWriter(f, tc.every)
			defer lw.Close()
			log := telemetry.NewBufferedLogger(lw, 0)
			if !tc.noRedact {
				log = redacting(log)
			}
			h := telemetry.Middleware(log, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				in := telemetry.InfoFrom(r.Context())
				in.Dialect, in.Tenant, in.KeyID, in.Model, in.Provider = "openai", "acme", "key_0123456789", "gpt-4o-mini", "openai-direct"
				in.Route, in.Input, in.Output, in.CostUSD = "priority", 14, 12, 0.0000093
			}))
			r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}
