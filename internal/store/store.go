// Package store defines the gateway's persistent domain: tenants, their
// client keys and the usage ledger, plus the sentinel errors every store
// implementation returns. It holds no SQL; implementations live in
// subpackages (sqlstore) and consumers declare the small interfaces they
// need.
package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned when the requested tenant, key or record does not
// exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a write would break a uniqueness rule: a
// duplicate tenant name, key ID, key hash or AWS access key ID.
var ErrConflict = errors.New("conflict")

// ErrInvalid is returned when a value to be written breaks a rule of the
// domain, such as a tenant without a name or an unknown budget period.
var ErrInvalid = errors.New("invalid")

// Budget periods. An empty period means the budget, if any, never resets.
const (
	PeriodDay   = "day"
	PeriodMonth = "month"
)

// Usage groupings accepted by SumUsage. GroupNone sums everything into one
// summary.
const (
	GroupNone     = ""
	GroupTenant   = "tenant"
	GroupKey      = "key"
	GroupModel    = "model"
	GroupProvider = "provider"
	// GroupContract groups by routing contract: a request under several
	// contracts counts once under each of them, and a request under none
	// counts under the empty name.
	GroupContract = "contract"
	// GroupLine groups by tenant, key, channel and model at once: the
	// lines of a chargeback. The Group value joins the four with
	// LineSep; SplitLine takes it apart.
	GroupLine = "line"
)

// LineSep separates the parts of a GroupLine value: the ASCII unit
// separator, which no ID or name the gateway accepts contains.
const LineSep = "\x1f"

// SplitLine returns the tenant ID, key ID, channel and model of a
// GroupLine value.
func SplitLine(group string) (tenantID, keyID, provider, model string) {
	parts := strings.SplitN(group, LineSep, 4)
	for len(parts) < 4 {
		parts = append(parts, "")
	}
	return parts[0], parts[1], parts[2], parts[3]
}

// Tenant is a customer of the gateway. It owns keys, limits and a budget.
type Tenant struct {
	// ID is the stable identifier ("ten_…"); generated on create when empty.
	ID string
	// Name is unique across tenants.
	Name     string
	Disabled bool
	// Metadata holds the tenant's labels (cost_centre=cc-42): chargeback
	// groups by them, and a key's own label wins over its tenant's.
	Metadata  map[string]string
	CreatedAt time.Time
	UpdatedAt time.Time
	// AllowedCIDRs are the networks (CIDR prefixes, IPv4 or IPv6) the
	// tenant's keys may be used from; empty allows every address.
	AllowedCIDRs []string

	// RPM, TPM and MaxStreams limit the whole tenant: requests per minute,
	// tokens per minute and concurrent streams. Zero means no limit.
	RPM, TPM, MaxStreams int
	// BudgetUSD caps the tenant's spend per BudgetPeriod. Zero means none.
	BudgetUSD    float64
	BudgetPeriod string
}

// Key is a client API key. Only the SHA-256 hash of its secret is stored;
// the secret itself is shown once, when the key is created.
type Key struct {
	// ID is the stable identifier ("key_…"); generated on create when empty.
	ID       string
	TenantID string
	Name     string
	// Hash is the SHA-256 of the secret; unique across keys.
	Hash []byte
	// Prefix is the first characters of the secret, for display
	// (for example "sk-sy-AbCd").
	Prefix    string
	CreatedAt time.Time
	// ExpiresAt and RevokedAt are nil when the key never expires or has not
	// been revoked.
	ExpiresAt *time.Time
	RevokedAt *time.Time
	// AllowedModels holds glob patterns of client-facing model names the
	// key may use; empty allows every model.
	AllowedModels []string
	// Metadata holds the key's labels (team=search), which chargeback
	// groups by and listings filter on.
	Metadata map[string]string
	// AllowedCIDRs are the networks (CIDR prefixes, IPv4 or IPv6) the key
	// may be used from, within its tenant's; empty allows every address.
	AllowedCIDRs []string
	// LastUsedAt is when the key last authenticated a request, to within
	// the minute its users coalesce writes over; nil when never used.
	LastUsedAt *time.Time
	// RotatedAt is when the key's secret was last replaced; nil when it
	// never was.
	RotatedAt *time.Time
	// Previous is the secret the last rotation replaced, while its grace
	// window lasts; nil when there is none. It authenticates as the key
	// itself, so limits, budgets and usage stay with the key.
	Previous *PreviousSecret

	// RPM, TPM, MaxStreams, BudgetUSD and BudgetPeriod apply to this key
	// alone, within the tenant's own limits. Zero means no limit.
	RPM, TPM, MaxStreams int
	BudgetUSD            float64
	BudgetPeriod         string

	// AWSAccessKeyID identifies the key to clients that sign requests with
	// SigV4 (the Bedrock front door); empty when the key has none. It is
	// unique across keys.
	AWSAccessKeyID string
	// AWSSecretSealed is the SigV4 secret, encrypted by auth.Sealer. The
	// plaintext is never stored.
	AWSSecretSealed []byte
}

// PreviousSecret is a key's replaced secret, still accepted until Until.
type PreviousSecret struct {
	// Hash is the SHA-256 of the old secret, Prefix its display prefix.
	Hash   []byte
	Prefix string
	// AWSAccessKeyID and AWSSecretSealed are the old SigV4 pair, empty
	// when the key had none.
	AWSAccessKeyID  string
	AWSSecretSealed []byte
	// Until is the end of the grace window: from then on the old secret
	// is refused.
	Until time.Time
}

// Rotation replaces a key's secret (and SigV4 pair) with a new one.
type Rotation struct {
	// Hash, Prefix, AWSAccessKeyID and AWSSecretSealed are the new
	// secret's, as in Key.
	Hash            []byte
	Prefix          string
	AWSAccessKeyID  string
	AWSSecretSealed []byte
	// At is when the rotation happens.
	At time.Time
	// GraceUntil, when after At, keeps the current secret working until
	// then as the key's Previous; otherwise it stops working at once. A
	// secret already in its grace window is dropped either way.
	GraceUntil time.Time
}

// Sealed is one stored secret sealed under the master key: which row and
// column holds it, and its sealed bytes.
type Sealed struct {
	// Table, ID and Column locate the value ("api_keys", "key_…",
	// "aws_secret_sealed").
	Table, ID, Column string
	Value             []byte
}

// Revoked reports whether the key was revoked at or before now.
func (k *Key) Revoked(now time.Time) bool {
	return k.RevokedAt != nil && !k.RevokedAt.After(now)
}

// Expired reports whether the key has expired at now.
func (k *Key) Expired(now time.Time) bool {
	return k.ExpiresAt != nil && !k.ExpiresAt.After(now)
}

// UsageRecord is one row of the usage ledger: a single client request after
// all its attempts.
type UsageRecord struct {
	// RequestID identifies the request. The ledger keeps at most one record
	// per non-empty RequestID, so a retried batch never counts twice.
	RequestID string
	TenantID  string
	KeyID     string
	// Model is the client-facing model name.
	Model string
	// Provider is the channel that served the request; UpstreamModel is the
	// model ID sent to it.
	Provider      string
	UpstreamModel string
	// Dialect is the client's API dialect: "openai", "anthropic" or
	// "bedrock".
	Dialect string
	// Endpoint is the client-facing operation: "chat", "embeddings",
	// "responses", "messages" or "converse".
	Endpoint string
	// Traffic is "stateless" or "stateful".
	Traffic string
	Stream  bool

	InputTokens       int64
	OutputTokens      int64
	CachedInputTokens int64
	CacheWriteTokens  int64
	ReasoningTokens   int64
	// CostUSD is the request's cost; stores keep it to the nano-dollar.
	CostUSD float64

	// Latency is the whole request's duration; TTFB the time to its first
	// byte (streams) or zero.
	Latency time.Duration
	TTFB    time.Duration
	// Status is the HTTP status returned to the client.
	Status int
	// ErrorKind classifies a failure (a provider.Kind name); empty on
	// success.
	ErrorKind string
	// Attempts counts upstream attempts, fallbacks included.
	Attempts int
	// Route is the routing decision, as JSON.
	Route string
	// Contracts names the routing contracts that applied.
	Contracts []string
	CreatedAt time.Time

	// TraceID is the W3C trace id of the request when it was traced;
	// empty otherwise.
	TraceID string
	// Error is the failure's message as the client was told it; empty on
	// success. It never holds upstream detail or secrets.
	Error string
	// Strategy is the routing strategy of the model; empty when the
	// request never routed (an unknown model).
	Strategy string
	// Candidates are the offerings routing considered, in configured
	// order, with why each one left out was skipped.
	Candidates []RouteCandidate
	// AttemptLog holds every upstream attempt in order; Attempts is its
	// length.
	AttemptLog []Attempt
	// Payload is the captured request and response; nil unless payload
	// capture chose this request. Stores keep it apart from the record,
	// under its own retention.
	Payload *Payload
}

// RouteCandidate is one offering routing considered for a request.
type RouteCandidate struct {
	Channel       string `json:"channel"`
	UpstreamModel string `json:"upstream_model"`
	// Skipped is why the offering was left out of the order (a
	// route.Reason such as "breaker_open"); empty when it was in it.
	Skipped string `json:"skipped,omitempty"`
	// Detail says more about a skip, for people.
	Detail string `json:"detail,omitempty"`
}

// Attempt is one upstream attempt of a request.
type Attempt struct {
	Channel       string        `json:"channel"`
	UpstreamModel string        `json:"upstream_model"`
	Status        int           `json:"status"`
	ErrorKind     string        `json:"error_kind,omitempty"`
	Duration      time.Duration `json:"duration_ns"`
	// Fallback is why the next channel was tried after this one failed
	// (its error kind); empty when no other attempt followed.
	Fallback string `json:"fallback,omitempty"`
}

// Payload is a captured request and response, already redacted and cut to
// the capture's size cap.
type Payload struct {
	// Request is the request body as the client sent it.
	Request string `json:"request"`
	// Response is what the client got: the bytes as sent when the gateway
	// passed the channel's answer through (a unary body, or a stream's
	// events), otherwise the answer's text (a stream's reassembled), tool
	// calls included.
	Response string `json:"response"`
	// RequestBytes and ResponseBytes are the sizes before truncation.
	RequestBytes  int64 `json:"request_bytes"`
	ResponseBytes int64 `json:"response_bytes"`
	// Truncated is true when either was cut at the size cap.
	Truncated bool `json:"truncated"`
}

// RequestFilter selects request log records. Zero fields do not filter;
// Since is inclusive and Until exclusive.
type RequestFilter struct {
	Since, Until time.Time
	TenantID     string
	KeyID        string
	Model        string
	Provider     string
	// Status matches the HTTP status exactly.
	Status int
	// Cursor continues a listing after the last record of the previous
	// page; empty starts at the newest record.
	Cursor string
	// Limit is the page size; stores cap it at MaxRequestPage.
	Limit int
}

// MaxRequestPage is the largest page ListRequests returns.
const MaxRequestPage = 1000

// Failed reports whether the record counts as an error in summaries: an
// error kind is set or the status is 400 or above.
func (r *UsageRecord) Failed() bool { return r.ErrorKind != "" || r.Status >= 400 }

// UsageFilter selects usage records. Zero fields do not filter. Since is
// inclusive and Until exclusive.
type UsageFilter struct {
	Since, Until time.Time
	TenantID     string
	KeyID        string
	Model        string
	Provider     string
}

// UsageSummary aggregates usage records sharing one Group value (a tenant
// ID, key ID, model or provider, depending on the grouping; empty when not
// grouped).
type UsageSummary struct {
	Group             string  `json:"group"`
	Requests          int64   `json:"requests"`
	InputTokens       int64   `json:"input_tokens"`
	OutputTokens      int64   `json:"output_tokens"`
	CachedInputTokens int64   `json:"cached_input_tokens"`
	CacheWriteTokens  int64   `json:"cache_write_tokens"`
	ReasoningTokens   int64   `json:"reasoning_tokens"`
	CostUSD           float64 `json:"cost_usd"`
	// Errors counts the records for which UsageRecord.Failed is true.
	Errors int64 `json:"errors"`
}

// HourUsage sums the usage records created in one clock hour (UTC).
// Its Group is empty.
type HourUsage struct {
	// Hour is the start of the hour.
	Hour time.Time
	UsageSummary
}

// DayUsage sums the usage records created in one UTC day. Its Group is
// empty.
type DayUsage struct {
	// Day is the start (midnight UTC) of the day.
	Day time.Time
	UsageSummary
}

// RouteUsage counts the usage records that share a tenant, client-facing
// model, traffic class, serving channel, route decision (UsageRecord.Route)
// and contract list: everything a compliance check reads of a record but
// its identity, time and status.
type RouteUsage struct {
	TenantID  string
	Model     string
	Traffic   string
	Provider  string
	Route     string
	Contracts []string
	Requests  int64
}

// ValidPeriod reports whether p is a budget period a store accepts.
func ValidPeriod(p string) bool {
	return p == "" || p == PeriodDay || p == PeriodMonth
}

// PeriodStart returns the start, in UTC, of the budget period containing
// now: midnight UTC for PeriodDay, the first of the month for PeriodMonth,
// and the zero time (all history) for the empty period.
func PeriodStart(period string, now time.Time) (time.Time, error) {
	now = now.UTC()
	switch period {
	case "":
		return time.Time{}, nil
	case PeriodDay:
		return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC), nil
	case PeriodMonth:
		return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC), nil
	}
	return time.Time{}, fmt.Errorf("unknown budget period %q", period)
}

// UsageHour sums the usage records of one clock hour (UTC) that share a
// tenant, client-facing model, channel, traffic class and contract list:
// the finest grouping the hourly rollup keeps that routing depends on.
type UsageHour struct {
	// Hour is the start of the hour.
	Hour     time.Time
	TenantID string
	Model    string
	// Provider is the channel that served the records.
	Provider  string
	Traffic   string
	Contracts []string

	Requests          int64
	Errors            int64
	InputTokens       int64
	OutputTokens      int64
	CachedInputTokens int64
	CacheWriteTokens  int64
	ReasoningTokens   int64
	CostUSD           float64
	// Latency is the sum of the records' latencies.
	Latency time.Duration
}

// BilledDay is a channel's billed spend on one UTC day, from a cloud's
// cost export.
type BilledDay struct {
	Channel string
	// Day is the day's start (UTC midnight).
	Day     time.Time
	CostUSD float64
	// Bill is the export's format (aws, azure, gcp, openai, anthropic).
	Bill string
}
