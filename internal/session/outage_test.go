package session_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/outage"
	"switchyard/internal/session"
	"switchyard/internal/store"
)

// silentStore is a store that swallows every call: each hangs until its
// ctx ends. It counts the calls that reach it.
type silentStore struct {
	session.Store // nil: calls the test does not expect panic
	calls         atomic.Int64
}

func (s *silentStore) hang(ctx context.Context) error {
	s.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

func (s *silentStore) ResponseHistory(ctx context.Context, _, _ string, _ time.Time) ([]store.Item, error) {
	return nil, s.hang(ctx)
}

func (s *silentStore) SaveResponse(ctx context.Context, _ *store.Response) error { return s.hang(ctx) }

func (s *silentStore) ResponseByID(ctx context.Context, _, _ string, _ time.Time) (*store.Response, error) {
	return nil, s.hang(ctx)
}

// TestRuntime_SilentStore: with a breaker, every call to a store that
// does not answer ends within the breaker's deadline with an error wrapping
// outage.ErrUnavailable (never a not-found), even when the caller's ctx has
// no deadline; once the breaker is open the calls no longer reach the
// store.
func TestRuntime_SilentStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &silentStore{}
		b := outage.New(outage.Options{Name: "store", Timeout: 200 * time.Millisecond,
			Probe: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }})
		defer b.Close()
		rt := session.New(session.Options{Store: st, Breaker: b})
		ctx := context.Background()
		base := &llm.Request{Model: "m"}
		input := []store.Item{{Type: store.ItemMessage, Role: "user", Content: []store.Content{{Type: store.ContentInputText, Text: "hi"}}}}

		calls := []func() error{
			func() error {
				_, err := rt.Begin(ctx, session.Turn{TenantID: "t", PreviousResponseID: "resp_1", Input: input}, base)
				return err
			},
			func() error {
				p, err := rt.Begin(ctx, session.Turn{TenantID: "t", Input: input, Store: true}, base)
				if err != nil {
					return err
				}
				_, err = rt.Finish(ctx, p, session.Outcome{Status: store.ResponseCompleted})
				return err
			},
			func() error { _, err := rt.Response(ctx, "t", "resp_1"); return err },
		}
		for i := range 10 {
			err := calls[i%len(calls)]()
			var nf *session.NotFoundError
			if !errors.Is(err, outage.ErrUnavailable) || errors.As(err, &nf) {
				t.Fatalf("call %d: %v, want outage.ErrUnavailable", i, err)
			}
		}
		if n := st.calls.Load(); n != outage.DefaultTrip {
			t.Errorf("%d calls reached the silent store, want %d", n, outage.DefaultTrip)
		}
		// The breaker is open: a turn that needs the store is refused
		// before its upstream call; one that does not goes ahead.
		before := time.Now()
		if _, err := rt.Begin(ctx, session.Turn{TenantID: "t", Input: input, Store: true}, base); !errors.Is(err, outage.ErrUnavailable) {
			t.Errorf("stored turn with the breaker open: %v, want outage.ErrUnavailable", err)
		}
		if _, err := rt.Begin(ctx, session.Turn{TenantID: "t", Input: input}, base); err != nil {
			t.Errorf("stateless turn with the breaker open: %v", err)
		}
		if time.Since(before) != 0 {
			t.Error("a turn waited for the store while its breaker was open")
		}
	})
}
