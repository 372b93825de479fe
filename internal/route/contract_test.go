package route

import (
	"strings"
	"testing"
	"time"
)

func TestPeriod_Bounds(t *testing.T) {
	d := func(y int, m time.Month, day, h int) time.Time { return time.Date(y, m, day, h, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		period     Period
		at         time.Time
		start, end time.Time
	}{
		{PeriodDay, d(2025, 5, 14, 12), d(2025, 5, 14, 0), d(2025, 5, 15, 0)},
		{PeriodDay, d(2025, 12, 31, 23), d(2025, 12, 31, 0), d(2026, 1, 1, 0)},
		{PeriodWeek, d(2025, 5, 14, 12), d(2025, 5, 12, 0), d(2025, 5, 19, 0)}, // Wednesday → Monday
		{PeriodWeek, d(2025, 5, 12, 0), d(2025, 5, 12, 0), d(2025, 5, 19, 0)},  // Monday itself
		{PeriodWeek, d(2025, 5, 18, 23), d(2025, 5, 12, 0), d(2025, 5, 19, 0)}, // Sunday
		{PeriodWeek, d(2026, 1, 1, 5), d(2025, 12, 29, 0), d(2026, 1, 5, 0)},   // across a year
		{PeriodMonth, d(2025, 2, 28, 23), d(2025, 2, 1, 0), d(2025, 3, 1, 0)},
		{PeriodQuarter, d(2025, 5, 14, 12), d(2025, 4, 1, 0), d(2025, 7, 1, 0)},
		{PeriodQuarter, d(2025, 12, 31, 1), d(2025, 10, 1, 0), d(2026, 1, 1, 0)},
		{PeriodQuarter, d(2025, 1, 1, 0), d(2025, 1, 1, 0), d(2025, 4, 1, 0)},
		{PeriodYear, d(2025, 5, 14, 12), d(2025, 1, 1, 0), d(2026, 1, 1, 0)},
		{"fortnight", d(2025, 5, 14, 12), time.Time{}, time.Time{}},
	} {
		start, end := tc.period.Bounds(tc.at)
		if !start.Equal(tc.start) || !end.Equal(tc.end) {
			t.Errorf("%s at %v: [%v, %v), want [%v, %v)", tc.period, tc.at, start, end, tc.start, tc.end)
		}
	}
	// Bounds are UTC whatever the zone of t.
	tokyo := time.FixedZone("JST", 9*3600)
	start, _ := PeriodDay.Bounds(time.Date(2025, 5, 15, 3, 0, 0, 0, tokyo)) // 18:00 UTC on the 14th
	if !start.Equal(d(2025, 5, 14, 0)) {
		t.Errorf("day of 03:00 JST on the 15th starts %v", start)
	}
}

func FuzzPeriodBounds(f *testing.F) {
	f.Add(int64(1747224000), uint8(0))
	f.Add(int64(0), uint8(3))
	f.Add(int64(-86400*365*30), uint8(1))
	periods := []Period{PeriodDay, PeriodWeek, PeriodMonth, PeriodQuarter, PeriodYear}
	f.Fuzz(func(t *testing.T, sec int64, pi uint8) {
		sec %= 1 << 40 // keep years within time.Time's comfortable range
		p := periods[int(pi)%len(periods)]
		at := time.Unix(sec, 0)
		start, end := p.Bounds(at)
		if at.Before(start) || !at.Before(end) {
			t.Fatalf("%s: %v not in [%v, %v)", p, at, start, end)
		}
		if again, _ := p.Bounds(start); !again.Equal(start) {
			t.Fatalf("%s: period of its own start %v begins %v", p, start, again)
		}
		if next, _ := p.Bounds(end); !next.Equal(end) {
			t.Fatalf("%s: period after %v begins %v", p, end, next)
		}
		if h, m, s := start.Clock(); h != 0 || m != 0 || s != 0 {
			t.Fatalf("%s: start %v is not midnight", p, start)
		}
		if p == PeriodWeek && start.Weekday() != time.Monday {
			t.Fatalf("week starts on %v", start.Weekday())
		}
	})
}

func TestContract_Check(t *testing.T) {
	allow := &Allow{Providers: []string{"a"}}
	commit := &Commitment{Provider: "a", AmountUSD: 10, Period: PeriodMonth}
	for _, tc := range []struct {
		name string
		c    Contract
		want []string // substrings of the error; nil: valid
	}{
		{"exclusivity", Contract{Name: "x", Allow: allow}, nil},
		{"commitment", Contract{Name: "x", Commitment: commit}, nil},
		{"even_pacing", Contract{Name: "x", Commitment: &Commitment{Provider: "a", AmountUSD: 1, Period: PeriodDay, Pacing: "even"}}, nil},
		{"neither", Contract{Name: "x"}, []string{"exactly one of allow and commitment"}},
		{"both", Contract{Name: "x", Allow: allow, Commitment: commit}, []string{"exactly one of allow and commitment"}},
		{"every_problem", Contract{
			Match: Match{Models: []string{"gpt-["}, Traffic: "batch"},
			Allow: &Allow{Regions: []string{"eu-["}},
		}, []string{"name required", `invalid model glob "gpt-["`, `unknown traffic class "batch"`, `invalid region glob "eu-["`}},
		{"empty_allow", Contract{Name: "x", Allow: &Allow{}}, []string{"allow lists nothing"}},
		{"bad_commitment", Contract{Name: "x", Commitment: &Commitment{AmountUSD: -1, Period: "fortnight", Pacing: "front"}},
			[]string{"commitment without provider", "amount must be positive", `unknown commitment period "fortnight"`, `unknown pacing "front"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.check()
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestNew_RejectsContracts(t *testing.T) {
	cat, err := NewCatalog([]Model{{Name: "m", Offerings: []Offering{off("a", "", "")}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{Catalog: cat, Contracts: []Contract{
		{Name: "x", Allow: &Allow{Providers: []string{"a"}}},
		{Name: "x", Allow: &Allow{Providers: []string{"a"}}},
		{Name: "y"},
	}})
	for _, w := range []string{`contract "x": defined twice`, `contract "y": exactly one`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without a catalog succeeded")
	}
}

func TestAllow_Allows(t *testing.T) {
	for _, tc := range []struct {
		name  string
		allow Allow
		o     Offering
		want  bool
	}{
		{"provider", Allow{Providers: []string{"azure-eu"}}, off("azure-eu", "azure", "westeurope"), true},
		{"other_provider", Allow{Providers: []string{"azure-eu"}}, off("azure-us", "azure", "eastus"), false},
		{"type", Allow{ProviderTypes: []string{"azure"}}, off("azure-us", "azure", "eastus"), true},
		{"other_type", Allow{ProviderTypes: []string{"azure"}}, off("aws", "bedrock", "us-east-1"), false},
		{"region_glob", Allow{Regions: []string{"eu-*"}}, off("aws", "bedrock", "eu-central-1"), true},
		{"region_glob_miss", Allow{Regions: []string{"eu-*"}}, off("aws", "bedrock", "us-east-1"), false},
		{"region_glob_is_not_substring", Allow{Regions: []string{"eu-*"}}, off("aws", "bedrock", "ap-eu-1"), false},
		{"region_exact", Allow{Regions: []string{"westeurope"}}, off("az", "azure", "westeurope"), true},
		{"no_region_never_resident", Allow{Regions: []string{"*"}}, off("openai", "openai", ""), false},
		{"any_item", Allow{Providers: []string{"x"}, ProviderTypes: []string{"y"}, Regions: []string{"eu-*"}}, off("aws", "bedrock", "eu-west-3"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.allow.Allows(&tc.o); got != tc.want {
				t.Errorf("allows = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	m := &Model{Name: "gpt-5", Aliases: []string{"openai.gpt-5-v1:0"}}
	for _, tc := range []struct {
		name            string
		match           Match
		tenant, traffic string
		want            bool
	}{
		{"empty_matches_all", Match{}, "", Stateful, true},
		{"model_glob", Match{Models: []string{"gpt-*"}}, "", Stateless, true},
		{"alias_glob", Match{Models: []string{"openai.*"}}, "", Stateless, true},
		{"model_miss", Match{Models: []string{"claude-*"}}, "", Stateless, false},
		{"traffic", Match{Traffic: Stateless}, "", Stateless, true},
		{"traffic_miss", Match{Traffic: Stateless}, "", Stateful, false},
		{"tenant", Match{Tenants: []string{"acme", "acme-eu"}}, "acme-eu", Stateless, true},
		{"tenant_miss", Match{Tenants: []string{"acme"}}, "acme-eu", Stateless, false},
		{"all_fields", Match{Models: []string{"gpt-5"}, Traffic: Stateful, Tenants: []string{"acme"}}, "acme", Stateful, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.match.matchesModel(m) && tc.match.matchesRequest(tc.tenant, tc.traffic)
			if got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
}
