package sqlstore

import (
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"switchyard/internal/store"
)

// TestBilledDays: saved days read back per channel and window, in order,
// and a later save of the same days replaces them.
func TestBilledDays(t *testing.T) {
	for _, driver := range drivers() {
		t.Run(driver, func(t *testing.T) {
			s := OpenTestStore(t, driver)
			ctx := t.Context()
			day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
			save := func(days ...store.BilledDay) {
				t.Helper()
				if err := s.SaveBilledDays(ctx, days); err != nil {
					t.Fatal(err)
				}
			}
			save(store.BilledDay{Channel: "bedrock-us", Day: day(2), CostUSD: 9.9, Bill: "aws"},
				store.BilledDay{Channel: "bedrock-us", Day: day(1).Add(13 * time.Hour), CostUSD: 4.2, Bill: "aws"}, // kept as its day
				store.BilledDay{Channel: "bedrock-eu", Day: day(1), CostUSD: 1, Bill: "aws"},
				store.BilledDay{Channel: "bedrock-us", Day: day(3), CostUSD: 0, Bill: "aws"})
			save(store.BilledDay{Channel: "bedrock-us", Day: day(2), CostUSD: 9.5, Bill: "aws"}) // a corrected bill
			got, err := s.BilledDays(ctx, "bedrock-us", day(1), day(3))
			if err != nil {
				t.Fatal(err)
			}
			want := []store.BilledDay{{Channel: "bedrock-us", Day: day(1), CostUSD: 4.2, Bill: "aws"},
				{Channel: "bedrock-us", Day: day(2), CostUSD: 9.5, Bill: "aws"}}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("billed days (-want +got):\n%s", diff)
			}
		})
	}
}
