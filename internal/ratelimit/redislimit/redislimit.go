// Package redislimit keeps the gateway's rate limits and budget counters in
// Redis, so that every replica sharing one Redis sees the same ones. Limiter
// implements ratelimit.Limiter with one Lua script per call, atomic across
// all of a request's scopes; Spend implements ratelimit.Spend with integer
// nano-USD counters per scope and period. Limiter also implements
// ratelimit.BudgetLimiter on the counters of the Spend with the same
// Options.Prefix: its acquire script checks a request's budgets and its
// settle script adds the request's spend, so a governed request costs two
// round trips to Redis, and less under load: the scripts of concurrent
// requests share pipelines (see batcher).
//
// Like every ratelimit backend it takes time only from its callers (the now
// passed to each call), never from Redis TIME, so tests are deterministic;
// replicas' clocks must agree to well within the limits' one-minute window,
// which NTP provides. Every key starts with Options.Prefix and carries a
// TTL, so nothing outlives its use. The scripts touch several scopes' keys
// at once, so Redis must be a single primary (or a Cluster with a hash tag
// in Prefix, such as "{switchyard}:", which puts every key in one slot).
//
// This package is the only one that imports go-redis.
package redislimit

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"switchyard/internal/ratelimit"
)

var (
	//go:embed acquire.lua
	acquireLua    string
	acquireScript = newScript(acquireLua)
	//go:embed done.lua
	doneLua    string
	doneScript = newScript(doneLua)
	//go:embed renew.lua
	renewLua    string
	renewScript = newScript(renewLua)
	//go:embed add.lua
	addLua    string
	addScript = newScript(addLua)
)

// DefaultPrefix starts every key when Options.Prefix is empty.
const DefaultPrefix = "switchyard:"

// DefaultReservationTTL is Options.ReservationTTL's default.
const DefaultReservationTTL = 2 * time.Minute

// DefaultTimeout is Options.Timeout's default.
const DefaultTimeout = 100 * time.Millisecond

// Options tunes a Limiter or a Spend. The zero value is usable.
type Options struct {
	// Prefix starts every key; replicas that share limits use the same
	// one. Default: DefaultPrefix.
	Prefix string
	// ReservationTTL is how long a running request's token estimate and
	// stream slot outlive the process holding them. A live holder renews
	// them every third of it, so they last as long as the request; those
	// of a replica that crashed are released at most this long after.
	// Default: DefaultReservationTTL.
	ReservationTTL time.Duration
	// Timeout bounds every step of a command: dialing, waiting for a
	// pooled connection, writing it and reading the reply; a caller's
	// earlier ctx deadline bounds it further. It replaces the go-redis
	// URL options dial_timeout, read_timeout, write_timeout and
	// pool_timeout, whose defaults (seconds) would hold a request for as
	// long as a silent Redis is silent. Default: DefaultTimeout.
	Timeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.ReservationTTL <= 0 {
		o.ReservationTTL = DefaultReservationTTL
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// newClient connects lazily: an unreachable Redis is reported by the calls,
// where ratelimit.Resilient applies the configured fail mode, and the
// limiter recovers when Redis returns.
func newClient(url string, timeout time.Duration) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parsing redis url: %w", err)
	}
	// A Redis that swallows packets must cost a request milliseconds, not
	// go-redis's default seconds: every step has the short timeout, and
	// the callers' ctx deadlines count too (without ContextTimeoutEnabled
	// go-redis ignores them).
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = timeout, timeout, timeout, timeout
	opt.ContextTimeoutEnabled = true
	// The scripts and counters are not idempotent: a command retried
	// after a lost reply would count a request twice.
	opt.MaxRetries = -1
	// One dial per call: while Redis is down, ratelimit.Resilient's
	// probe must get its answer fast.
	opt.DialerRetries = 1
	redis.SetLogger(clientLogger{})
	return redis.NewClient(opt), nil
}

// clientLogger sends go-redis's own log lines to slog at debug level. They
// repeat errors that the calls return too (a failed dial, on every probe
// during an outage), which ratelimit.Resilient logs once per incident.
// go-redis has one logger per process; this package is its only user.
type clientLogger struct{}

func (clientLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// Limiter is a ratelimit.Limiter backed by Redis, safe for concurrent use.
// Close it when done.
type Limiter struct {
	c        *redis.Client
	b        batcher // sends the acquire and settle scripts
	prefix   string
	ttl      time.Duration // reservations
	keyTTL   any           // milliseconds, for PEXPIRE (a string, boxed once)
	instance string        // makes reservation ids unique across replicas
	seq      atomic.Uint64
	clock    atomic.Int64 // the largest now given to Acquire, microseconds

	cacheMu   sync.RWMutex
	scopes    map[string]*scopeKeys      // see keysOf
	spendKeys map[periodScope]counterKey // see spendKeyOf

	mu     sync.Mutex
	live   map[*reservation]struct{} // reservations being renewed
	closed bool
	renews sync.WaitGroup
}

var (
	_ ratelimit.Limiter          = (*Limiter)(nil)
	_ ratelimit.Abandoner        = (*reservation)(nil)
	_ ratelimit.BudgetLimiter    = (*Limiter)(nil)
	_ ratelimit.SpendReservation = (*reservation)(nil)
)

// New returns a Limiter for the Redis at url ("redis://host:6379/0" or
// "rediss://..."; go-redis URL options apply, except the timeouts: see
// Options.Timeout). It does not connect: see Ping.
func New(url string, opts Options) (*Limiter, error) {
	opts = opts.withDefaults()
	c, err := newClient(url, opts.Timeout)
	if err != nil {
		return nil, fmt.Errorf("creating redis limiter: %w", err)
	}
	var id [6]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	// Keys stay while a reservation may still be renewed, and as long as
	// a window after.
	keyTTL := ratelimit.Window + opts.ReservationTTL + time.Minute
	l := &Limiter{
		c:         c,
		prefix:    opts.Prefix,
		ttl:       opts.ReservationTTL,
		keyTTL:    strconv.FormatInt(keyTTL.Milliseconds(), 10),
		instance:  hex.EncodeToString(id[:]),
		scopes:    make(map[string]*scopeKeys),
		spendKeys: make(map[periodScope]counterKey),
		live:      make(map[*reservation]struct{}),
	}
	l.b.c = c
	return l, nil
}

// Ping checks that Redis answers.
func (l *Limiter) Ping(ctx context.Context) error {
	if err := l.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("pinging redis: %w", err)
	}
	return nil
}

// Close stops renewing the reservations still held, which Redis then
// releases after their TTL, and closes the connections.
func (l *Limiter) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	for r := range l.live {
		r.timer.Stop()
	}
	clear(l.live)
	l.mu.Unlock()
	l.renews.Wait()
	return l.c.Close()
}

// key names one of a scope's keys; kind is a single letter, so a key maps
// back to exactly one scope whatever the scope contains.
func (l *Limiter) key(kind byte, scope string) string {
	return l.prefix + "rl:" + string(kind) + ":" + scope
}

// scopeKeys are the keys of one scope that the scripts take (see
// acquire.lua), each boxed once for their commands.
type scopeKeys struct{ requests, settled, deadlines, hash any }

// periodScope names a budget's spend counter, whatever the period's
// start.
type periodScope struct{ scope, period string }

// counterKey is the key of one scope's spend counter in the period
// starting at start (see spendKey), boxed once.
type counterKey struct {
	start time.Time
	key   any
}

// maxCachedScopes bounds Limiter.scopes and Limiter.spendKeys: a cache
// that reaches it starts again empty. A gateway has a few scopes for
// every key and tenant in use; this bounds what a great many of them keep
// (a few hundred bytes each, about a MiB in all).
const maxCachedScopes = 1 << 12

// keysOf returns scope's keys, built and boxed once for all the calls of
// the scope rather than on each.
func (l *Limiter) keysOf(scope string) *scopeKeys {
	l.cacheMu.RLock()
	k := l.scopes[scope]
	l.cacheMu.RUnlock()
	if k != nil {
		return k
	}
	k = &scopeKeys{l.key('r', scope), l.key('t', scope), l.key('i', scope), l.key('h', scope)}
	l.cacheMu.Lock()
	if len(l.scopes) >= maxCachedScopes {
		clear(l.scopes)
	}
	l.scopes[scope] = k
	l.cacheMu.Unlock()
	return k
}

// spendKeyOf returns spendKey(l.prefix, now, scope, period), built and
// boxed once for the period's calls of the scope rather than on each.
func (l *Limiter) spendKeyOf(now time.Time, scope, period string) any {
	start := ratelimit.PeriodStart(now, period)
	ps := periodScope{scope, period}
	l.cacheMu.RLock()
	k, ok := l.spendKeys[ps]
	l.cacheMu.RUnlock()
	if ok && k.start.Equal(start) {
		return k.key
	}
	k = counterKey{start: start, key: spendKey(l.prefix, now, scope, period)}
	l.cacheMu.Lock()
	if len(l.spendKeys) >= maxCachedScopes {
		clear(l.spendKeys)
	}
	l.spendKeys[ps] = k
	l.cacheMu.Unlock()
	return k.key
}

// windowArg is the window in microseconds, boxed once.
var windowArg any = ratelimit.Window.Microseconds()

// values per scope in the acquire script's reply.
const stateValues = 10

// Acquire implements ratelimit.Limiter.
func (l *Limiter) Acquire(ctx context.Context, now time.Time, reqs []ratelimit.Request) (ratelimit.Decision, ratelimit.Reservation, error) {
	d, _, res, err := l.acquire(ctx, now, reqs, nil)
	return d, res, err
}

// AcquireBudgets implements ratelimit.BudgetLimiter: the acquire script
// reads the budgets' spend counters (those a Spend with the same
// Options.Prefix keeps) before it admits anything, so a request costs one
// round trip where Spend.Check and Acquire cost two. Its reservations
// implement ratelimit.SpendReservation.
func (l *Limiter) AcquireBudgets(ctx context.Context, now time.Time, reqs []ratelimit.Request, budgets []ratelimit.Budget) (ratelimit.Decision, *ratelimit.Budget, ratelimit.Reservation, error) {
	for _, b := range budgets {
		if err := b.Validate(); err != nil {
			return ratelimit.Decision{}, nil, nil, err
		}
	}
	return l.acquire(ctx, now, reqs, budgets)
}

func (l *Limiter) acquire(ctx context.Context, now time.Time, reqs []ratelimit.Request, budgets []ratelimit.Budget) (ratelimit.Decision, *ratelimit.Budget, ratelimit.Reservation, error) {
	if err := ratelimit.ValidateRequests(reqs); err != nil {
		return ratelimit.Decision{}, nil, nil, err
	}
	budgetNow := now
	at := now.UnixMicro()
	now = time.UnixMicro(at)

	var id any = l.instance + "." + strconv.FormatUint(l.seq.Add(1), 36)
	tracked := make([]int, 0, len(reqs))
	for i, r := range reqs {
		if r.Tracked() {
			tracked = append(tracked, i)
		}
	}
	numKeys := 4*len(tracked) + len(budgets)
	cmd := acquireScript.command(numKeys, numKeys+6+5*len(tracked)+len(budgets))
	for _, i := range tracked {
		k := l.keysOf(reqs[i].Scope)
		cmd = append(cmd, k.requests, k.settled, k.deadlines, k.hash)
	}
	for _, b := range budgets {
		cmd = append(cmd, l.spendKeyOf(budgetNow, b.Scope, b.Period))
	}
	cmd = append(cmd, at, windowArg, at+l.ttl.Microseconds(), l.keyTTL, id, len(tracked))
	for _, i := range tracked {
		r := reqs[i]
		stream := 0
		if r.Stream {
			stream = 1
		}
		cmd = append(cmd, r.Limits.RPM, r.Limits.TPM, r.Limits.MaxStreams, r.EstTokens, stream)
	}
	for _, b := range budgets {
		// The limit in nano-USD, as Tightest rounds it.
		cmd = append(cmd, strconv.FormatInt(int64(math.Round(b.LimitUSD*1e9)), 10))
	}
	states := make([]ratelimit.ScopeState, len(reqs))
	if numKeys == 0 {
		l.advance(at)
		return ratelimit.Decide(now, reqs, states), nil, ratelimit.NopReservation{}, nil
	}

	// A budget's spend comes back as a decimal string, which Int64Slice
	// reads too.
	v, err := l.b.run(ctx, acquireScript, cmd).Int64Slice()
	if err != nil {
		l.advance(at)
		return ratelimit.Decision{}, nil, nil, fmt.Errorf("running acquire script: %w", err)
	}
	if len(v) > 0 && v[0] == -1 {
		// A request a budget refuses is never given to the limits: their
		// clock stays where it was.
		if len(v) != 1+len(budgets) {
			return ratelimit.Decision{}, nil, nil, fmt.Errorf("running acquire script: %d values for %d budgets", len(v), len(budgets))
		}
		exhausted := ratelimit.Tightest(budgetNow, budgets, v[1:])
		if exhausted == nil {
			// The script and Tightest apply the same rule; this is a bug.
			return ratelimit.Decision{}, nil, nil, fmt.Errorf("acquire script found a budget spent but none is: %v", v[1:])
		}
		return ratelimit.Decision{}, exhausted, ratelimit.NopReservation{}, nil
	}
	l.advance(at)
	if len(v) != 1+stateValues*len(tracked) {
		return ratelimit.Decision{}, nil, nil, fmt.Errorf("running acquire script: %d values for %d scopes", len(v), len(tracked))
	}
	for j, i := range tracked {
		states[i] = decode(reqs[i], v[1+stateValues*j:1+stateValues*(j+1)])
	}
	d := ratelimit.Decide(now, reqs, states)
	if admitted := v[0] == 1; d.Allowed != admitted {
		// The script and Decide apply the same rules; this is a bug.
		return ratelimit.Decision{}, nil, nil, fmt.Errorf("acquire script admitted=%v but the decision is %+v", admitted, d)
	}
	if !d.Allowed {
		return d, nil, ratelimit.NopReservation{}, nil
	}

	res := &reservation{l: l, id: id, at: at, start: time.Now(),
		keys: make([]any, 0, 3*len(tracked)), tokens: make([]any, 0, len(tracked))}
	for _, i := range tracked {
		r := reqs[i]
		if !r.Holds() {
			continue
		}
		k := l.keysOf(r.Scope)
		res.keys = append(res.keys, k.settled, k.deadlines, k.hash)
		flag := "0"
		if r.Limits.TPM > 0 {
			flag = "1"
		}
		res.tokens = append(res.tokens, flag)
	}
	if len(res.keys) == 0 {
		return d, nil, ratelimit.NopReservation{}, nil
	}
	l.track(res)
	return d, nil, res, nil
}

// advance makes at the latest time given to Acquire, unless a later one
// was.
func (l *Limiter) advance(at int64) {
	for c := l.clock.Load(); at > c && !l.clock.CompareAndSwap(c, at); c = l.clock.Load() {
	}
}

// decode reads one scope's state from the acquire script's reply.
func decode(r ratelimit.Request, v []int64) ratelimit.ScopeState {
	rc, rNewest, rFree, used, inFlight, settled, tNewest, tFound, tFree, streams :=
		v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]
	st := ratelimit.ScopeState{Requests: int(rc), Tokens: used, InFlight: inFlight, Streams: int(streams)}
	if rc > 0 {
		st.RequestsNewest = time.UnixMicro(rNewest)
	}
	if r.Limits.RPM > 0 && rc >= int64(r.Limits.RPM) {
		st.RequestsFree = time.UnixMicro(rFree)
	}
	if settled > 0 {
		st.SettledNewest = time.UnixMicro(tNewest)
	}
	if tFound == 1 {
		st.TokensFree = time.UnixMicro(tFree)
	}
	return st
}

// track starts renewing res until it is done or the limiter closed.
func (l *Limiter) track(res *reservation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return // nothing renews it; its TTL releases it
	}
	l.live[res] = struct{}{}
	res.timer = time.AfterFunc(l.ttl/3, res.renew)
}

type reservation struct {
	l      *Limiter
	id     any       // a string
	at     int64     // admission, microseconds of the caller's clock
	start  time.Time // admission, by this process's monotonic clock
	keys   []any     // three per scope held: settled log, deadlines, hash
	tokens []any     // per scope held: "1" if it counts tokens
	done   atomic.Bool
	timer  *time.Timer // guarded by l.mu
}

// Done implements ratelimit.Reservation. It settles even when ctx is
// canceled (the client went away): a reservation left behind would hold its
// tokens and stream slot until its TTL. It keeps ctx's deadline, though.
func (r *reservation) Done(ctx context.Context, actualTokens int64) error {
	if !r.release() {
		return nil
	}
	return r.settle(ctx, actualTokens, nil, nil)
}

// DoneSpend implements ratelimit.SpendReservation: the settle script adds
// the spend too, so a request costs one round trip where Done and
// Spend.Add cost two. Like Done, it runs even when ctx is canceled.
func (r *reservation) DoneSpend(ctx context.Context, actualTokens int64, now time.Time, scopes []string, usd float64) error {
	n, err := ratelimit.NanoUSD(usd)
	if err == nil {
		err = ratelimit.ValidateScopes(scopes)
	}
	if err != nil {
		scopes = nil // settle, and report the invalid spend
	}
	if n == 0 {
		scopes = nil
	}
	var spendKeys, spendArgs []any
	if len(scopes) > 0 {
		spendKeys = make([]any, 0, len(scopes)*len(periods))
		spendArgs = make([]any, 1, 1+len(scopes)*len(periods))
		spendArgs[0] = n
		for _, scope := range scopes {
			for _, period := range periods {
				spendKeys = append(spendKeys, r.l.spendKeyOf(now, scope, period))
				spendArgs = append(spendArgs, ttl(now, period).Milliseconds())
			}
		}
	}
	var serr error
	if r.release() {
		serr = r.settle(ctx, actualTokens, spendKeys, spendArgs)
	} else if len(spendKeys) > 0 {
		dctx, cancel := withoutCancel(ctx)
		serr = addSpend(dctx, r.l.c, spendKeys, spendArgs)
		cancel()
	}
	if serr != nil {
		return serr
	}
	return err
}

// settle runs the settle script, adding spend to spendKeys when there are
// any (spendArgs: the amount, then a TTL per key).
func (r *reservation) settle(ctx context.Context, actualTokens int64, spendKeys, spendArgs []any) error {
	l := r.l
	var invalid error
	if actualTokens < 0 {
		invalid = fmt.Errorf("%w: negative actual token count %d", ratelimit.ErrInvalid, actualTokens)
		actualTokens = 0
	}
	numKeys := len(r.keys) + len(spendKeys)
	cmd := doneScript.command(numKeys, numKeys+5+len(r.tokens)+len(spendArgs))
	cmd = append(cmd, r.keys...)
	cmd = append(cmd, spendKeys...)
	cmd = append(cmd, max(r.at, l.clock.Load()), l.keyTTL, r.id, actualTokens, len(r.tokens))
	cmd = append(cmd, r.tokens...)
	cmd = append(cmd, spendArgs...)
	dctx, cancel := withoutCancel(ctx)
	defer cancel()
	if err := l.b.run(dctx, doneScript, cmd).Err(); err != nil {
		if len(spendKeys) > 0 {
			return fmt.Errorf("settling reservation and adding spend: %w", err)
		}
		return fmt.Errorf("settling reservation: %w", err)
	}
	return invalid
}

// withoutCancel returns ctx without its cancellation but with its
// deadline.
func withoutCancel(ctx context.Context) (context.Context, context.CancelFunc) {
	dctx := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(dctx, d)
	}
	return dctx, func() {}
}

// Abandon implements ratelimit.Abandoner: it stops renewing the
// reservation, without settling it in Redis, which releases it within
// Options.ReservationTTL. Done after Abandon does nothing.
func (r *reservation) Abandon() { r.release() }

// release marks the reservation done and stops its renewal; it reports
// whether this was the first call.
func (r *reservation) release() bool {
	if !r.done.CompareAndSwap(false, true) {
		return false
	}
	l := r.l
	l.mu.Lock()
	if r.timer != nil {
		r.timer.Stop()
	}
	delete(l.live, r)
	l.mu.Unlock()
	return true
}

// renew pushes the reservation's deadline a TTL past the caller's clock
// as this process estimates it now (admission time plus the time elapsed
// since). A failed renewal is tried again a third of a TTL later; if Redis
// stays away, the calls report the outage.
func (r *reservation) renew() {
	l := r.l
	l.mu.Lock()
	if l.closed || r.done.Load() {
		l.mu.Unlock()
		return
	}
	l.renews.Add(1)
	l.mu.Unlock()
	defer l.renews.Done()

	deadline := r.at + time.Since(r.start).Microseconds() + l.ttl.Microseconds()
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
	cmd := renewScript.command(len(r.keys), len(r.keys)+3)
	cmd = append(cmd, r.keys...)
	cmd = append(cmd, deadline, l.keyTTL, r.id)
	_ = renewScript.run(ctx, l.c, cmd).Err()
	cancel()

	l.mu.Lock()
	if !l.closed && !r.done.Load() {
		r.timer.Reset(l.ttl / 3)
	}
	l.mu.Unlock()
}
