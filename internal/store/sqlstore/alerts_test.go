package sqlstore

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchyard/internal/store"
)

func TestAlertOutbox(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			s := OpenTestStore(t, driver)
			ctx := t.Context()
			now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
			a := store.Alert{Key: "budget_threshold|tenant:t1|80|2026-12|ops", Endpoint: "ops", Kind: "budget_threshold",
				Subject: "tenant:t1", Body: `{"type":"budget_threshold"}`, CreatedAt: now}

			// Eight concurrent inserts of one alert: exactly one wins.
			var wins atomic.Int32
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					b := a
					ok, err := s.InsertAlert(ctx, &b, []string{"r1", "r2"}[i%2], now.Add(time.Minute))
					if err != nil {
						t.Error(err)
					}
					if ok {
						wins.Add(1)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d inserts won, want 1", wins.Load())
			}
			all, err := s.ListAlerts(ctx, 10)
			if err != nil || len(all) != 1 {
				t.Fatalf("ListAlerts = %v, %v", all, err)
			}
			id := all[0].ID
			// Leased: nobody claims it until the lease lapses.
			if got, err := s.ClaimAlerts(ctx, "r3", now.Add(30*time.Second), now.Add(2*time.Minute), 10); err != nil || len(got) != 0 {
				t.Fatalf("claim under lease = %v, %v", got, err)
			}
			got, err := s.ClaimAlerts(ctx, "r3", now.Add(61*time.Second), now.Add(2*time.Minute), 10)
			if err != nil || len(got) != 1 || got[0].ID != id || got[0].Body != a.Body {
				t.Fatalf("claim after lapse = %+v, %v", got, err)
			}
			// The former owner's writes no longer take effect.
			for _, owner := range []string{"r1", "r2"} {
				if held, err := s.RenewAlert(ctx, id, owner, now.Add(time.Hour), 1, "x"); err != nil || held {
					t.Fatalf("renew by %s = %v, %v", owner, held, err)
				}
				if err := s.AlertDelivered(ctx, id, owner, now, 1); err != nil {
					t.Fatal(err)
				}
			}
			if as, _ := s.ListAlerts(ctx, 1); as[0].DeliveredAt != nil {
				t.Fatal("a former owner marked the alert delivered")
			}
			// Released: claimable at once.
			if err := s.ReleaseAlert(ctx, id, "r3", 2, "503"); err != nil {
				t.Fatal(err)
			}
			got, err = s.ClaimAlerts(ctx, "r4", now.Add(62*time.Second), now.Add(5*time.Minute), 10)
			if err != nil || len(got) != 1 || got[0].Attempts != 2 || got[0].LastError != "503" {
				t.Fatalf("claim after release = %+v, %v", got, err)
			}
			if held, err := s.RenewAlert(ctx, id, "r4", now.Add(10*time.Minute), 3, "timeout"); err != nil || !held {
				t.Fatalf("renew by owner = %v, %v", held, err)
			}
			if err := s.AlertDelivered(ctx, id, "r4", now.Add(time.Minute), 4); err != nil {
				t.Fatal(err)
			}
			as, _ := s.ListAlerts(ctx, 1)
			if as[0].DeliveredAt == nil || as[0].Attempts != 4 || as[0].LastError != "" {
				t.Fatalf("delivered alert = %+v", as[0])
			}
			// Delivered: never claimed again, and recording it again is a no-op.
			if got, _ := s.ClaimAlerts(ctx, "r5", now.Add(time.Hour), now.Add(2*time.Hour), 10); len(got) != 0 {
				t.Fatalf("claimed a delivered alert: %+v", got)
			}
			b := a
			if ok, err := s.InsertAlert(ctx, &b, "r5", now.Add(time.Hour)); err != nil || ok {
				t.Fatalf("re-insert = %v, %v", ok, err)
			}
			// Given up: never claimed again either.
			c := a
			c.Key += "-2"
			if ok, err := s.InsertAlert(ctx, &c, "r6", now); err != nil || !ok {
				t.Fatalf("insert = %v, %v", ok, err)
			}
			if err := s.AlertGaveUp(ctx, c.ID, "r6", now, 8, "410 Gone"); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.ClaimAlerts(ctx, "r7", now.Add(time.Hour), now.Add(2*time.Hour), 10); len(got) != 0 {
				t.Fatalf("claimed a given-up alert: %+v", got)
			}
			if _, err := s.InsertAlert(ctx, &store.Alert{}, "r", now); err == nil {
				t.Error("an empty alert was inserted")
			}
		})
	}
}
