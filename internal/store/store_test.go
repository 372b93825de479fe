package store

import (
	"testing"
	"time"
)

func TestPeriodStart(t *testing.T) {
	// 00:30 on March 1st in UTC+2 is still February 28th in UTC.
	east := time.FixedZone("UTC+2", 2*3600)
	for _, tc := range []struct {
		name    string
		period  string
		now     time.Time
		want    time.Time
		wantErr bool
	}{
		{"none", "", time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC), time.Time{}, false},
		{"day", PeriodDay, time.Date(2025, 3, 14, 15, 9, 26, 5, time.UTC), time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC), false},
		{"day_at_midnight", PeriodDay, time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC), false},
		{"day_other_zone", PeriodDay, time.Date(2025, 3, 1, 0, 30, 0, 0, east), time.Date(2025, 2, 28, 0, 0, 0, 0, time.UTC), false},
		{"month", PeriodMonth, time.Date(2025, 3, 31, 23, 59, 59, 0, time.UTC), time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), false},
		{"month_other_zone", PeriodMonth, time.Date(2025, 3, 1, 0, 30, 0, 0, east), time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), false},
		{"unknown", "week", time.Now(), time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PeriodStart(tc.period, tc.now)
			if (err != nil) != tc.wantErr {
				t.Fatalf("PeriodStart error = %v, want error: %v", err, tc.wantErr)
			}
			if !got.Equal(tc.want) {
				t.Errorf("PeriodStart(%q, %v) = %v, want %v", tc.period, tc.now, got, tc.want)
			}
		})
	}
}

func TestValidPeriod(t *testing.T) {
	for p, want := range map[string]bool{"": true, "day": true, "month": true, "week": false, "Day": false} {
		if got := ValidPeriod(p); got != want {
			t.Errorf("ValidPeriod(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestKey_RevokedAndExpired(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	for _, tc := range []struct {
		name             string
		key              Key
		revoked, expired bool
	}{
		{"active", Key{}, false, false},
		{"revoked_before", Key{RevokedAt: at(-time.Second)}, true, false},
		{"revoked_now", Key{RevokedAt: at(0)}, true, false},
		{"revocation_scheduled", Key{RevokedAt: at(time.Second)}, false, false},
		{"expired_before", Key{ExpiresAt: at(-time.Second)}, false, true},
		{"expires_now", Key{ExpiresAt: at(0)}, false, true},
		{"expires_later", Key{ExpiresAt: at(time.Hour)}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.key.Revoked(now); got != tc.revoked {
				t.Errorf("Revoked = %v, want %v", got, tc.revoked)
			}
			if got := tc.key.Expired(now); got != tc.expired {
				t.Errorf("Expired = %v, want %v", got, tc.expired)
			}
		})
	}
}

func TestUsageRecord_Failed(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  UsageRecord
		want bool
	}{
		{"ok", UsageRecord{Status: 200}, false},
		{"client_error", UsageRecord{Status: 400}, true},
		{"upstream_error", UsageRecord{Status: 502, ErrorKind: "unavailable"}, true},
		{"stream_broken_after_200", UsageRecord{Status: 200, ErrorKind: "timeout"}, true},
		{"no_status", UsageRecord{}, false},
	} {
		if got := tc.rec.Failed(); got != tc.want {
			t.Errorf("%s: Failed = %v, want %v", tc.name, got, tc.want)
		}
	}
}
