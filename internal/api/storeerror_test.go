package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"switchyard/internal/store"
)

// A store that fails is a 503 the client may retry; a conflict is a 409;
// a cancelled request is not the store's failure.
func TestSessionError_StoreFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
	}{
		{"unreachable", fmt.Errorf("loading history: %w", errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")), http.StatusServiceUnavailable},
		{"conflict", fmt.Errorf("saving: %w", store.ErrConflict), http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := classify(sessionError(tc.err, ""))
			if e.Status != tc.status {
				t.Errorf("status %d, want %d (%+v)", e.Status, tc.status, e)
			}
			if tc.status == http.StatusServiceUnavailable && e.RetryAfter <= 0 {
				t.Error("no Retry-After on a store outage")
			}
			if e.Message == "" || e.Message == tc.err.Error() {
				t.Errorf("message %q shows the store's own words", e.Message)
			}
		})
	}
	if err := sessionError(context.Canceled, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled request became %v", err)
	}
}
