package ratelimit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Budget periods. Periods are calendar periods in UTC; the lifetime period
// never resets.
const (
	PeriodDay      = "day"
	PeriodMonth    = "month"
	PeriodLifetime = ""
)

// periods lists every period a spend counter is kept for.
var periods = [...]string{PeriodDay, PeriodMonth, PeriodLifetime}

// Budget caps a scope's spend in USD per period.
type Budget struct {
	Scope string
	// LimitUSD is the cap; it must be positive. Requests are admitted while
	// the spend is below it.
	LimitUSD float64
	// Period is PeriodDay, PeriodMonth or PeriodLifetime.
	Period string
}

// Validate checks b against the API's rules; the error wraps ErrInvalid.
func (b Budget) Validate() error {
	switch {
	case b.Scope == "":
		return fmt.Errorf("%w: budget has an empty scope", ErrInvalid)
	case !validPeriod(b.Period):
		return fmt.Errorf("%w: budget of %q has unknown period %q", ErrInvalid, b.Scope, b.Period)
	case !(b.LimitUSD > 0) || math.IsInf(b.LimitUSD, 1) || b.LimitUSD > maxUSD:
		return fmt.Errorf("%w: budget of %q has limit %v; it must be positive and finite", ErrInvalid, b.Scope, b.LimitUSD)
	}
	return nil
}

// Spend keeps shared spend counters per scope and period, which budgets are
// checked against. A request is admitted while every budget it falls under
// has room, and its cost is added once it has finished, so a budget is never
// overspent by more than the cost of the requests already running when it
// ran out. Implementations are safe for concurrent use.
type Spend interface {
	// Check reports whether every budget still has room (spent < limit)
	// at now. When one has none, ok is false and exhausted is the
	// exhausted budget whose period ends last (the one a retry has to wait
	// for).
	Check(ctx context.Context, now time.Time, budgets []Budget) (ok bool, exhausted *Budget, err error)
	// Add records usd of spend for each of scopes in the periods holding
	// now (UTC day, UTC month and lifetime).
	Add(ctx context.Context, now time.Time, scopes []string, usd float64) error
	// Seed sets the spend of b's scope in b's period holding now, unless
	// that counter is already known (another replica seeded it, or spend
	// was added). It is called at startup, before serving, with the sum
	// from the usage ledger, so a restart forgets nothing.
	Seed(ctx context.Context, now time.Time, b Budget, usd float64) error
}

// maxUSD keeps nano-USD amounts within an int64.
const maxUSD = math.MaxInt64 / 1e9

// NanoUSD converts an amount in USD to the whole nano-USD that spend
// counters keep, so that sums are exact. It is for Spend implementations;
// the error wraps ErrInvalid for a negative, NaN or huge amount.
func NanoUSD(usd float64) (int64, error) {
	if !(usd >= 0) || usd > maxUSD {
		return 0, fmt.Errorf("%w: amount %v USD; it must be zero or positive and finite", ErrInvalid, usd)
	}
	return int64(math.Round(usd * 1e9)), nil
}

// PeriodStart returns the start, in UTC, of the budget period holding now:
// midnight for PeriodDay, the first of the month for PeriodMonth, and the
// zero Time (the beginning of all spend) for PeriodLifetime or an unknown
// period.
func PeriodStart(now time.Time, period string) time.Time {
	u := now.UTC()
	switch period {
	case PeriodDay:
		return time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	case PeriodMonth:
		return time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// PeriodEnd returns the end (the next period's start) of the budget period
// holding now, or the zero Time for a period that never ends.
func PeriodEnd(now time.Time, period string) time.Time {
	start := PeriodStart(now, period)
	switch period {
	case PeriodDay:
		return start.AddDate(0, 0, 1)
	case PeriodMonth:
		return start.AddDate(0, 1, 0)
	}
	return time.Time{}
}

func validPeriod(p string) bool {
	return p == PeriodDay || p == PeriodMonth || p == PeriodLifetime
}

// endsLater reports whether a period ending at a ends after one ending at
// b, where the zero Time means never.
func endsLater(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() && !b.IsZero()
	}
	return a.After(b)
}

// Tightest returns the exhausted budget a caller has to wait for longest:
// the one whose period ends last. It is for Spend implementations;
// spent[i] is budgets[i]'s spend in nano-USD at now.
func Tightest(now time.Time, budgets []Budget, spent []int64) *Budget {
	var worst *Budget
	var worstEnd time.Time
	for i := range budgets {
		b := &budgets[i]
		limit := int64(math.Round(b.LimitUSD * 1e9))
		if spent[i] < limit {
			continue
		}
		end := PeriodEnd(now, b.Period)
		if worst == nil || endsLater(end, worstEnd) {
			worst, worstEnd = b, end
		}
	}
	if worst == nil {
		return nil
	}
	w := *worst
	return &w
}

// MemorySpend is an in-process Spend, safe for concurrent use. It keeps one
// counter per scope and period and forgets the counters of periods that
// have ended.
type MemorySpend struct {
	mu       sync.Mutex
	counters map[spendKey]spendCounter
	// swept is the start of the day whose ended counters were last
	// forgotten, in microseconds.
	swept int64
}

var _ Spend = (*MemorySpend)(nil)

type spendKey struct{ scope, period string }

type spendCounter struct {
	start int64 // period start, microseconds
	nanos int64
}

// InProcess marks the spend as in-process (see InProcess).
func (m *MemorySpend) InProcess() {}

// NewMemorySpend returns an in-process Spend with no spend recorded.
func NewMemorySpend() *MemorySpend {
	return &MemorySpend{counters: make(map[spendKey]spendCounter)}
}

// Check implements Spend.
func (m *MemorySpend) Check(_ context.Context, now time.Time, budgets []Budget) (bool, *Budget, error) {
	for _, b := range budgets {
		if err := b.Validate(); err != nil {
			return false, nil, err
		}
	}
	var buf [4]int64
	spent := buf[:0]
	m.mu.Lock()
	for _, b := range budgets {
		var n int64
		if c, ok := m.counters[spendKey{b.Scope, b.Period}]; ok && c.start == periodStartMicro(now, b.Period) {
			n = c.nanos
		}
		spent = append(spent, n)
	}
	m.mu.Unlock()
	if b := Tightest(now, budgets, spent); b != nil {
		return false, b, nil
	}
	return true, nil, nil
}

// Add implements Spend. Spend stamped in a period that has already been
// replaced by a later one (a caller's clock lagging behind another's across
// midnight) belongs to a period no budget is checked against any more, and
// is not counted in it.
func (m *MemorySpend) Add(_ context.Context, now time.Time, scopes []string, usd float64) error {
	n, err := NanoUSD(usd)
	if err != nil {
		return err
	}
	if err := ValidateScopes(scopes); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	for _, s := range scopes {
		for _, p := range periods {
			k, start := spendKey{s, p}, periodStartMicro(now, p)
			switch c, ok := m.counters[k]; {
			case !ok || c.start < start:
				m.counters[k] = spendCounter{start, n}
			case c.start == start:
				c.nanos += n
				m.counters[k] = c
			}
		}
	}
	return nil
}

// Seed implements Spend.
func (m *MemorySpend) Seed(_ context.Context, now time.Time, b Budget, usd float64) error {
	if err := b.Validate(); err != nil {
		return err
	}
	n, err := NanoUSD(usd)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k, start := spendKey{b.Scope, b.Period}, periodStartMicro(now, b.Period)
	if c, ok := m.counters[k]; !ok || c.start < start {
		m.counters[k] = spendCounter{start, n}
	}
	return nil
}

// sweep forgets, once a day, the counters of periods that have ended.
func (m *MemorySpend) sweep(now time.Time) {
	day := periodStartMicro(now, PeriodDay)
	if day <= m.swept {
		return
	}
	m.swept = day
	for k, c := range m.counters {
		if c.start < periodStartMicro(now, k.period) {
			delete(m.counters, k)
		}
	}
}

func periodStartMicro(now time.Time, period string) int64 {
	if period == PeriodLifetime {
		return math.MinInt64
	}
	return PeriodStart(now, period).UnixMicro()
}

// ValidateScopes checks the scopes given to Spend.Add: none empty, none
// twice. The error wraps ErrInvalid. It is for Spend implementations.
func ValidateScopes(scopes []string) error {
	for i, s := range scopes {
		if s == "" {
			return fmt.Errorf("%w: empty scope", ErrInvalid)
		}
		for _, p := range scopes[:i] {
			if p == s {
				return fmt.Errorf("%w: scope %q given twice", ErrInvalid, s)
			}
		}
	}
	return nil
}
