// Package config owns switchyard.yaml: the documented struct tree, its
// defaults, loading and validation. Validation reports every problem at
// once, each with its path, and has no side effects; secrets never appear
// in the file, only the names of the environment variables that hold them.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole switchyard.yaml.
type Config struct {
	// Listen is the client-facing address: every front door on one port,
	// HTTP/1.1 and HTTP/2 (h2c in plain text, or negotiated by ALPN when
	// server.tls is set). Default: 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// Admin configures the admin API, metrics and dashboard listener.
	Admin Admin `yaml:"admin"`
	// Store selects where tenants, keys, usage and state are kept.
	Store Store `yaml:"store"`
	// Limits selects where rate-limit counters are kept.
	Limits Limits `yaml:"limits"`
	// Server tunes the client-facing HTTP server.
	Server Server `yaml:"server"`
	// Sessions configures the stateful runtime (stored responses and
	// conversations).
	Sessions Sessions `yaml:"sessions"`
	// Ledger configures how long raw usage rows are kept.
	Ledger Ledger `yaml:"ledger"`
	// Log tunes how the log is written.
	Log Log `yaml:"log"`
	// Telemetry configures distributed tracing.
	Telemetry Telemetry `yaml:"telemetry"`
	// Process tunes the gateway process itself.
	Process Process `yaml:"process"`
	// Providers are the channels: one entry per account or endpoint.
	Providers []Provider `yaml:"providers"`
	// Models are the names clients use, each offered on one or more
	// channels.
	Models []Model `yaml:"models"`
	// Contracts constrain which channels may carry which traffic.
	Contracts []Contract `yaml:"contracts"`
	// Breaker tunes the circuit breaker every channel has: when failures
	// take a channel out of service, and how it is brought back.
	Breaker Breaker `yaml:"breaker"`
	// Prices overrides the built-in price catalogue.
	Prices Prices `yaml:"prices"`
	// Alerts sends events (budget thresholds, commitment pace, breakers
	// opening, compliance violations, keys about to expire) to webhooks.
	Alerts Alerts `yaml:"alerts"`
}

// Prices configures where list prices come from. An offering's own price
// wins over File, and File over the catalogue built into the binary.
type Prices struct {
	// File is a price catalogue in the built-in catalogue's JSON form (as
	// `switchyard prices update` writes it); its entries replace the
	// built-in ones of the same model and region and add new ones. Read
	// when the configuration is loaded. Empty: the built-in catalogue
	// alone.
	File string `yaml:"file"`
}

// Admin is the admin listener.
type Admin struct {
	// Listen is the admin address. Default: 127.0.0.1:8081. "off"
	// disables the admin listener.
	Listen string `yaml:"listen"`
	// TokenEnv names the environment variable holding the admin bearer
	// token. Default: SWITCHYARD_ADMIN_TOKEN (unless token_file is set).
	TokenEnv string `yaml:"token_env"`
	// TokenFile names a file holding the admin bearer token instead (a
	// mounted Kubernetes secret): its content, less one trailing newline,
	// at most 64 KiB. Read at start and again on every reload, so a
	// rotated token takes effect with a reload (a reload that would leave
	// it empty is refused); exclusive with token_env.
	TokenFile string `yaml:"token_file"`
	// TLS serves the admin listener over https, optionally requiring
	// client certificates. Default: plain HTTP.
	TLS AdminTLS `yaml:"tls"`
	// OIDC signs people in through an OpenID Connect provider (Keycloak,
	// Okta, Entra ID, ...): the console offers "Sign in with single
	// sign-on", the admin API accepts the provider's ID tokens as bearer
	// tokens and `switchyard login` obtains one for the CLI. Absent: sign-in
	// with the admin token (and scoped admin tokens) only.
	OIDC *OIDC `yaml:"oidc"`
}

// OIDC is the single sign-on provider and how its users map to roles.
// The provider's discovery document is fetched when the gateway starts,
// within 10 seconds; if the issuer cannot be reached the gateway starts
// anyway (client traffic and the admin token work) and retries in the
// background, refusing single sign-on until discovery succeeds.
type OIDC struct {
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document names it (https://keycloak.example.com/realms/main,
	// https://example.okta.com, https://login.microsoftonline.com/TENANT/v2.0).
	// Required.
	Issuer string `yaml:"issuer"`
	// ClientID is the gateway's client at the provider. ID tokens must
	// name it as their audience, the admin API's bearer tokens included.
	// Required.
	ClientID string `yaml:"client_id"`
	// ClientSecretEnv names the environment variable holding the client
	// secret. Neither it nor client_secret_file: a public client (PKCE
	// alone).
	ClientSecretEnv string `yaml:"client_secret_env"`
	// ClientSecretFile names a file holding the client secret instead;
	// exclusive with client_secret_env.
	ClientSecretFile string `yaml:"client_secret_file"`
	// Scopes are asked for at sign-in; "openid" is always added. Add
	// offline_access (or the provider's equivalent) to get refresh tokens:
	// a console session then outlives its ID token. Default: openid,
	// email, profile.
	Scopes []string `yaml:"scopes"`
	// GroupsClaim is the ID token claim that lists the user's groups: an
	// array of strings or one string; a dotted path reaches into objects
	// (Keycloak's realm_access.roles). Default: groups.
	GroupsClaim string `yaml:"groups_claim"`
	// RedirectURL is where the provider sends the browser back, and must be
	// registered with it. Default: derived from each sign-in request as
	// http(s)://HOST/ui/sso/callback, HOST being the host the browser used
	// for the admin listener (https when it speaks TLS). Set it when a
	// proxy terminates TLS in front of the admin listener.
	RedirectURL string `yaml:"redirect_url"`
	// Roles map groups or claims to roles. Every rule that matches counts
	// and the highest role wins (admin > operator > tenant-admin >
	// viewer); a tenant admin gets the tenants of every tenant-admin rule
	// that matched. A user whom no rule matches is refused sign-in.
	// Required.
	Roles []OIDCRole `yaml:"roles"`
}

// OIDCRole is one mapping rule: exactly one of group or claim.
type OIDCRole struct {
	// Group matches a user whose groups claim holds this group.
	Group string `yaml:"group"`
	// Claim matches a user whose ID token has this claim (a dotted path)
	// equal to value, or holding value when it is an array.
	Claim string `yaml:"claim"`
	// Value is what claim must be or hold. Required with claim.
	Value string `yaml:"value"`
	// Role is viewer, tenant-admin, operator or admin. Required.
	Role string `yaml:"role"`
	// Tenants scope a tenant-admin: the tenants (by name) it manages.
	// Required for tenant-admin, refused for every other role.
	Tenants []string `yaml:"tenants"`
}

// TLS is a listener's certificate. With both files set the listener
// speaks only https (TLS 1.2 or later) and offers HTTP/2 and HTTP/1.1 by
// ALPN; with neither it speaks plain HTTP. The files are read when the
// gateway starts (a missing or bad pair stops it), checked again on every
// handshake (a change of size or modification time re-reads them) and
// re-read on SIGHUP or an admin reload: a renewed certificate is served
// to new connections without a restart, while open connections keep the
// one they began with. A pair that does not load (a key that does not
// match, a half-written file) is logged and the previous pair stays in
// service. The paths themselves are read at start only.
type TLS struct {
	// CertFile is a PEM file holding the certificate followed by any
	// intermediates.
	CertFile string `yaml:"cert_file"`
	// KeyFile is a PEM file holding the certificate's private key.
	KeyFile string `yaml:"key_file"`
}

// AdminTLS is the admin listener's certificate and, optionally, the
// authorities its clients' certificates must come from.
type AdminTLS struct {
	// CertFile is a PEM file holding the certificate followed by any
	// intermediates (see server.tls).
	CertFile string `yaml:"cert_file"`
	// KeyFile is a PEM file holding the certificate's private key.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile, when set, is a PEM file of certificate authorities:
	// every admin client must then present a certificate one of them
	// issued, or the handshake fails before any request is read. The
	// bearer token is still required. Reloaded with the certificate.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Store is the persistent store.
type Store struct {
	// Driver is "sqlite" (default) or "postgres".
	Driver string `yaml:"driver"`
	// DSN is a file path for sqlite, a URL for postgres. Default:
	// ./switchyard.db. A sqlite database keeps at most about 5 MiB of its
	// pages in the gateway's memory (1 MiB for each of its five
	// connections: one writer, four readers) and leaves the rest to the
	// operating system's file cache.
	DSN string `yaml:"dsn"`
	// DSNEnv names an environment variable holding the DSN instead, for
	// postgres URLs with passwords.
	DSNEnv string `yaml:"dsn_env"`
	// DSNFile names a file holding the DSN instead (a mounted Kubernetes
	// secret): its content, less one trailing newline, at most 64 KiB.
	// Read at start only: a new DSN means a new connection pool, which
	// takes a restart; exclusive with dsn_env.
	DSNFile string `yaml:"dsn_file"`
	// Outage says how clients are authenticated while the store cannot be
	// reached. "cached" (default) keeps accepting keys that a successful
	// lookup resolved within the last OutageMaxStale, and refuses every
	// other key with 503; "closed" refuses with 503 every key whose
	// one-second cache entry has expired. An outage begins when three
	// store calls in a row fail or miss Timeout; from then on no request
	// waits for the store (lookups are answered from the cache or with
	// 503 at once) while a background probe asks it once a second, and the
	// gateway recovers by itself when it answers. Either way the outage is
	// logged once when it starts and once when it ends. A key
	// revoked or a tenant disabled during the outage keeps working from the
	// cache in "cached" mode until the store answers again. Usage rows are
	// kept in memory meanwhile (see ledger.queue_size) and written when the
	// store returns; stateful Responses and Conversations calls, which need
	// the store, fail with 503.
	Outage string `yaml:"outage"`
	// OutageMaxStale bounds how old a cached key lookup may be and still
	// authenticate during an outage in "cached" mode. Default: 10m.
	OutageMaxStale Duration `yaml:"outage_max_stale"`
	// Timeout bounds each store call made while a client request waits:
	// key lookups, the Responses and Conversations state, a budget's
	// first read of the ledger. A store that has not answered by then is
	// treated as failing (see Outage). Background work (ledger writes,
	// maintenance) has longer deadlines of its own. Between 1ms and 10s.
	// Default: 250ms.
	Timeout Duration `yaml:"timeout"`
}

// Limits is the rate-limit backend.
type Limits struct {
	// Backend is "memory" (default) or "redis".
	Backend string `yaml:"backend"`
	// RedisURL is the Redis URL for the redis backend
	// (redis://[user:password@]host:port/db, or rediss:// for TLS).
	RedisURL string `yaml:"redis_url"`
	// RedisURLEnv names an environment variable holding the Redis URL
	// instead, for a URL that carries a password. It wins over redis_url
	// when both are set.
	RedisURLEnv string `yaml:"redis_url_env"`
	// RedisURLFile names a file holding the Redis URL instead (a mounted
	// Kubernetes secret): its content, less one trailing newline, at most
	// 64 KiB. Read at start; it wins over redis_url like redis_url_env,
	// and is exclusive with redis_url_env.
	RedisURLFile string `yaml:"redis_url_file"`
	// RateLimitsFail says what happens to requests while the limits
	// backend cannot be reached: "open" (default) admits them unlimited,
	// "closed" refuses them with 503. Either way the outage is logged once
	// and the gateway recovers by itself when the backend answers.
	RateLimitsFail string `yaml:"rate_limits_fail"`
	// BudgetsFail is the same choice for budget checks: "closed"
	// (default) refuses requests that carry a budget with 503 and
	// Retry-After: 1, "open" admits them (their spend is still metered in
	// the ledger).
	BudgetsFail string `yaml:"budgets_fail"`
	// Timeout bounds each call to the redis backend (dialing, waiting for
	// a connection, the command and its reply): rate-limit checks and
	// settlements, budget checks and spend. Three calls in a row that fail
	// or miss it start an outage: from then on requests do not wait for
	// Redis at all (RateLimitsFail and BudgetsFail apply) while a
	// background probe asks it once a second. Between 1ms and 10s.
	// Default: 100ms.
	Timeout Duration `yaml:"timeout"`
}

// Server tunes the client-facing server.
type Server struct {
	// MaxBodyBytes bounds a request body. Default: 10 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ShutdownTimeout bounds the drain of in-flight requests and streams
	// on shutdown. Default: 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// StreamIdleTimeout ends a stream whose upstream sends nothing for
	// this long. Default: 5m.
	StreamIdleTimeout Duration `yaml:"stream_idle_timeout"`
	// MaxStreamBytes caps the content of one streamed answer (text,
	// reasoning and tool calls, not the framing), in bytes. A stream that
	// would pass it is cut there with the client's dialect's error event
	// (an OpenAI error chunk, an Anthropic error event, a Bedrock
	// modelStreamErrorException, a Responses response.failed) and metered
	// on what was delivered. It also bounds what the gateway holds for a
	// stream: tool call arguments checked at the end, a Responses answer
	// to be stored. Default: 16 MiB, many times the longest answers models
	// give (128k output tokens are about half a MiB of text).
	MaxStreamBytes int64 `yaml:"max_stream_bytes"`
	// ReadHeaderTimeout bounds reading a request's line and headers, on
	// both listeners; a connection that takes longer is closed. Default:
	// 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading one whole request, headers and body, on
	// both listeners (for HTTP/2, from the stream's headers to the end of
	// its body). A body still arriving when it passes is refused (408 in
	// the client's dialect) and the connection closed, so a slow sender
	// cannot hold a connection. It does not limit how long a response or
	// a stream takes. Default: 30s.
	ReadTimeout Duration `yaml:"read_timeout"`
	// IdleTimeout closes a keep-alive connection (HTTP/1.1) or an HTTP/2
	// connection without open streams after this long, on both
	// listeners. Default: 120s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds a request's line and headers (names, values
	// and line ends, as HTTP/1.1 sends them) on both listeners. Past it a
	// client request gets 431 in its dialect. Go's own parser stops at
	// twice this (plus 4 KiB) and closes the connection with a 431, also
	// rendered in the dialect the path tells over HTTP/1.1. Default:
	// 64 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxConnections caps the client listener's open connections. A
	// connection accepted past the cap is closed at once, before anything
	// is read (clients see a reset and retry), so it never waits in the
	// kernel's backlog or holds memory. Default: three quarters of the
	// process's open-file limit (ulimit -n) at start, at most 100000 and
	// at least 64, keeping the rest for upstream connections, the store
	// and the admin listener.
	MaxConnections int `yaml:"max_connections"`
	// AdminMaxConnections caps the admin listener's open connections, in
	// the same way. Default: 256.
	AdminMaxConnections int `yaml:"admin_max_connections"`
	// MaxModelNameBytes bounds the model name a client sends (the body's
	// model, a Bedrock model id). A longer name is refused with 400 in
	// the client's dialect before it is looked up, logged or echoed.
	// Default: 256.
	MaxModelNameBytes int `yaml:"max_model_name_bytes"`
	// BedrockRegions are the regions the Bedrock front door answers for:
	// a SigV4 signature scoped to another region is refused with
	// InvalidSignatureException, as AWS does. "*" accepts every region.
	// Default: the regions of the configured Bedrock channels, plus
	// us-east-1.
	BedrockRegions []string `yaml:"bedrock_regions"`
	// TrustedProxies are the networks (CIDR prefixes, IPv4 or IPv6) of
	// the load balancers and reverse proxies in front of the client
	// listener. A request whose connection comes from one of them is
	// taken to come from the address its X-Forwarded-For header names:
	// the nearest address in it, reading from the right, that is not
	// itself a trusted proxy. From any other peer the header is ignored,
	// since a client can send whatever it likes. This source address is
	// what key and tenant IP allow-lists are checked against. Default:
	// none (the connection's own address is the source).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TLS serves the client listener over https. Default: plain HTTP.
	// Over https every front door works as it does in plain text: HTTP/2
	// is negotiated by ALPN (as the AWS SDKs expect of Bedrock), and the
	// connection cap, the timeouts and the header limit apply alike; a
	// plain-HTTP request sent to the https port gets a 400 in the OpenAI
	// shape saying so.
	TLS TLS `yaml:"tls"`
	// Admission bounds how much work the gateway takes on at once; past
	// it, requests are refused at once with 503 (529 for Anthropic
	// clients) and Retry-After, instead of queueing. Health, readiness and
	// metrics are never refused.
	Admission Admission `yaml:"admission"`
}

// Admission is the gateway's admission control on the model endpoints of
// every front door. Per-key rate limits and budgets are separate (429s).
type Admission struct {
	// Mode is "adaptive" (default): the in-flight limit moves between
	// min_in_flight and max_in_flight with the gateway's own added delay
	// (a request's time in the gateway minus its time waiting on
	// channels), shrinking when the gateway itself runs short of CPU;
	// "fixed": the limit is max_in_flight; "off": no admission control.
	// Either way a request holds an in-flight slot only while the gateway
	// works on it: while an attempt waits on its channel (until the
	// answer is in hand, or a stream's first event) the slot is parked,
	// lent to the next request, and taken back afterwards without a
	// queue or a refusal. So a burst of slow LLM calls is admitted up to
	// max_requests, and the limit and queue only bind CPU contention.
	Mode string `yaml:"mode"`
	// MinInFlight is the floor of the adaptive limit: enough requests for
	// the gateway to keep two cores busy however noisy its delay reads.
	// Default: 32.
	MinInFlight int `yaml:"min_in_flight"`
	// MaxInFlight bounds requests the gateway works on at once (not
	// counting requests parked on a channel or open streams): the ceiling
	// of the adaptive limit, or the fixed limit. Default: 4096.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxRequests bounds the requests admitted at once, working or parked
	// on a channel (not counting open streams), for memory: past it a
	// request waits in the queue as if over the in-flight limit. In
	// adaptive mode the bound in force falls below it (to min_in_flight at
	// the least) while goroutines wait for a CPU longer than target_delay,
	// and climbs back by half each 100 ms window once they do not: slow
	// channels' calls are admitted by the thousand while the CPU keeps up,
	// and a fast channel's many short ones are refused at once when it
	// does not. Default: 4096.
	MaxRequests int `yaml:"max_requests"`
	// TargetDelay is the gateway's own added delay the adaptive limit
	// keeps under, judged over 100 ms windows as the greater of the median
	// request's time in the gateway less its time on channels, and the
	// time goroutines waited for a CPU (75th percentile of the Go
	// scheduler's latency): above it the limit falls in proportion, below
	// it (while requests queue) it grows. Default: 5ms.
	TargetDelay Duration `yaml:"target_delay"`
	// MaxStreams bounds streams, being set up or open. A request is
	// admitted against the in-flight limit and max_requests before its
	// body is read; once the body shows a stream, it takes a stream slot
	// and gives its in-flight slot back, so that its set-up (routing, the
	// wait for its first upstream event) and its life count against this
	// limit alone. A burst of stream openings is thus not refused by the
	// adaptive cap while the CPU is busy with the streams already open,
	// and a flood of unary requests is refused as before (stream requests
	// with it: they are not told apart before admission). Default: 10000.
	MaxStreams int `yaml:"max_streams"`
	// Queue bounds the requests waiting for an in-flight slot; -1: no
	// queue. Default: 512.
	Queue int `yaml:"queue"`
	// QueueTimeout bounds a wait in the queue. Once the queue has not been
	// empty for 100ms, new waiters get 5ms at most (CoDel), so sustained
	// overload is refused, not queued; then a request is queued only if
	// its turn would come within those 5ms at the rate requests were
	// admitted over the last 100ms, and is otherwise refused at once
	// (reason queue_full), without holding a timer. Default: 50ms.
	QueueTimeout Duration `yaml:"queue_timeout"`
}

// Sessions configures the stateful runtime.
type Sessions struct {
	// ResponseTTL is how long a stored response (and so a conversation
	// turn that can be continued from it) stays readable. Continuing a
	// chain gives every response in it the new response's expiry, since
	// the new turn's history is made of them: a chain expires ResponseTTL
	// after its last turn. A tenant can delete any response at any time.
	// Default: 720h.
	ResponseTTL Duration `yaml:"response_ttl"`
}

// Ledger configures the usage ledger's upkeep.
type Ledger struct {
	// Retention is how long raw usage rows are kept once rolled up into
	// hourly and daily aggregates, which are kept for good. The raw rows
	// are the request log (GET /admin/v1/requests), so this is its
	// retention too; captured payloads have their own
	// (log.payloads.retention). Default: 720h.
	Retention Duration `yaml:"retention"`
	// MaintenanceInterval is how often the gateway rolls up the ledger,
	// prunes it and purges expired responses. Default: 1m.
	MaintenanceInterval Duration `yaml:"maintenance_interval"`
	// QueueSize bounds the usage rows held in memory waiting to be written
	// (a row takes about half a KiB). While the store is reachable but slow,
	// a request that finds the queue full waits for room; while the store is
	// unreachable, failed batches are retried with backoff (100ms doubling
	// to 5s) and rows past this cap are dropped, counted and logged once per
	// outage. Default: 16384.
	QueueSize int `yaml:"queue_size"`
}

// Breaker tunes the channels' circuit breakers. A breaker opens on a
// channel's failure ratio over a sliding window, not on a short run of
// failures, so that a flaky channel stays in service: one failing 20% of
// its requests meets a run of five failures about once in 4,000 requests.
// Only failures that say something about the channel count: server
// errors, timeouts, refused connections and broken answers. A client's
// bad request or departure does not, and neither does a rate limit
// (429), which only cools the channel down.
//
// An open breaker keeps its channel out of plans for cool_off, then
// half-opens: the next request to the channel is its probe, even when a
// contract allows no other channel (until then such traffic is refused
// with 503 and a Retry-After for the end of the cool-off). A probe that
// answers (for a stream: its first event) closes the breaker; one that
// fails opens it again for twice as long, up to max_cool_off.
type Breaker struct {
	// ErrorRate opens a channel's breaker when at least this fraction of
	// its requests in Window failed, once there were MinRequests of them.
	// Default: 0.5.
	ErrorRate float64 `yaml:"error_rate"`
	// MinRequests is how many requests Window must hold before its error
	// rate is trusted. A dead channel trips on this many failures when
	// its traffic fills the window. A channel failing 20% of its requests
	// reaches a 50% ratio in a window of exactly 20 requests with a chance
	// of 0.26%, in one of 40 with 0.002%: raise it for channels that see
	// about this many requests a window. Default: 20.
	MinRequests int `yaml:"min_requests"`
	// Window is the sliding span the error rate is measured over.
	// Default: 30s.
	Window Duration `yaml:"window"`
	// ConsecutiveFailures opens a breaker after this many failures in a
	// row, however far apart: it trips a dead channel whose traffic is
	// too thin to fill min_requests in a window. A flaky channel does not
	// reach it: at 20% failures a run of 20 has a chance of 10^-14, and
	// even at 50% one of about 10^-6. Default: 20.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// CoolOff is how long a breaker stays open after its first trip; each
	// failed probe, or a trip soon after closing, doubles it up to
	// MaxCoolOff. Default: 10s.
	CoolOff Duration `yaml:"cool_off"`
	// MaxCoolOff caps the doubled cool-off. Default: 5m.
	MaxCoolOff Duration `yaml:"max_cool_off"`
	// Probes is how many requests a half-open breaker lets through at
	// once. Default: 1.
	Probes int `yaml:"probes"`
	// ProbeTimeout is how long a probe may go without a verdict (a slow
	// answer, a hung attempt) before the half-open breaker lets another
	// request through as a probe, so that traffic a contract keeps on the
	// channel is never refused for much longer than the cool-off while the
	// channel may have recovered. Default: cool_off.
	ProbeTimeout Duration `yaml:"probe_timeout"`
	// RateLimitCoolDown keeps a channel out of plans after a 429 that did
	// not say for how long (no Retry-After); a 429 that did is honoured
	// as it asks. Default: 1s.
	RateLimitCoolDown Duration `yaml:"rate_limit_cool_down"`
}

// Log configures the log written to standard error (JSON lines: one per
// request, plus warnings and errors).
type Log struct {
	// FlushInterval is how long a request's access-log line may wait in
	// memory, so that under load one write carries many lines instead of
	// one write each. Warnings and errors are never held: each is written
	// at once, after any access lines waiting, so the order is kept. At
	// most 64 KiB of lines wait; a shutdown writes them all. A crash
	// (SIGKILL, out of memory) loses at most this interval's access lines;
	// the usage ledger still has a row for each of those requests. A
	// negative value writes every line at once. At most 10s. Default: 100ms.
	FlushInterval Duration `yaml:"flush_interval"`
	// Payloads turns on payload capture for the request log: the request
	// body and the answer of chosen requests, redacted, kept apart from
	// the log lines and metrics (only GET /admin/v1/requests/{id} and
	// `switchyard requests show` return them). Off unless a rule with a
	// sample rate above 0 matches.
	Payloads Payloads `yaml:"payloads"`
}

// Payloads configures payload capture. A request is captured when its
// tenant is not in never_tenants and the first rule that matches it (in
// file order) draws it at its sample rate; a request no rule matches is
// not captured. So a rule with sample_rate 0 placed before a broader one
// keeps what it matches out (a key inside a captured tenant, say).
//
// Before anything is stored, the request and the answer are redacted:
// built-in patterns replace API keys and tokens ("sk-..." keys of OpenAI,
// Anthropic and the gateway, Google "AIza..." keys, GitHub and Slack
// tokens), AWS access key IDs and secret access keys, bearer tokens,
// JWTs, card numbers that pass the Luhn check, email addresses and phone
// numbers with "[REDACTED:kind]", then each of redact's patterns with
// "[REDACTED]". Each is then cut to max_bytes, and the record says so.
// The request is stored as the client sent it. The answer is stored as
// the client got it when the gateway passed the channel's bytes through
// (same dialect: the JSON body, or a stream's events as sent), and
// otherwise as its text (a stream's reassembled), tool calls included.
// Embeddings keep the request only.
type Payloads struct {
	// Rules choose the requests to capture; the first that matches
	// decides.
	Rules []PayloadRule `yaml:"rules"`
	// NeverTenants names tenants whose requests are never captured,
	// whatever the rules say.
	NeverTenants []string `yaml:"never_tenants"`
	// MaxBytes caps each of a captured request and answer, in bytes,
	// after redaction. At most 1 MiB. Default: 65536.
	MaxBytes int `yaml:"max_bytes"`
	// Retention is how long captured payloads are kept; the maintenance
	// round (ledger.maintenance_interval) deletes older ones. Default:
	// 168h.
	Retention Duration `yaml:"retention"`
	// Redact holds extra regular expressions (RE2 syntax) whose matches
	// are replaced before storing, after the built-in patterns.
	Redact []string `yaml:"redact"`
}

// PayloadRule matches requests by tenant, key and model; a field left
// empty matches every request.
type PayloadRule struct {
	// Tenant is a tenant name.
	Tenant string `yaml:"tenant"`
	// Key is a key ID ("key_...").
	Key string `yaml:"key"`
	// Model is a glob over the model name the client asked for
	// ("gpt-*").
	Model string `yaml:"model"`
	// SampleRate is the fraction of matching requests captured, from 0
	// (none) to 1 (all).
	SampleRate float64 `yaml:"sample_rate"`
}

// Telemetry configures what the gateway reports to an observability
// backend besides its log and the Prometheus metrics on the admin
// listener.
type Telemetry struct {
	// Tracing exports OpenTelemetry traces over OTLP.
	Tracing Tracing `yaml:"tracing"`
}

// Tracing exports a span for every client request and one for every
// attempt on a channel, per the OpenTelemetry GenAI semantic conventions,
// to an OTLP collector (HTTP or gRPC). A client's W3C traceparent is
// continued, and every call to a channel carries the trace on. The
// standard OTEL_* environment variables configure what this block leaves
// empty (OTEL_EXPORTER_OTLP_ENDPOINT and _TRACES_ENDPOINT,
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_PROTOCOL,
// OTEL_TRACES_SAMPLER and _ARG, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_SERVICE_NAME, OTEL_BSP_*); a field set here wins over its
// variable. Message content is never put on spans.
type Tracing struct {
	// Enabled turns tracing on. Default: off, and then tracing costs a
	// request nothing, whatever the OTEL_* variables say.
	Enabled bool `yaml:"enabled"`
	// Protocol is "http/protobuf" or "grpc". Default:
	// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL,
	// else http/protobuf.
	Protocol string `yaml:"protocol"`
	// Endpoint is the collector's base URL: http://host:4318 for
	// http/protobuf (/v1/traces is added), http://host:4317 for grpc;
	// https for TLS. Default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
	// OTEL_EXPORTER_OTLP_ENDPOINT, else localhost on the protocol's port.
	Endpoint string `yaml:"endpoint"`
	// SampleRatio is the fraction of new traces kept, above 0 and at most
	// 1; a client's own sampling decision (the traceparent's flag) is
	// followed. Default: OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG,
	// else every trace.
	SampleRatio float64 `yaml:"sample_ratio"`
	// HeadersEnv names an environment variable holding headers sent with
	// every export, as "key=value,key2=value2" (an authorization token,
	// say); they replace OTEL_EXPORTER_OTLP_HEADERS. Default: none, and
	// the exporter reads OTEL_EXPORTER_OTLP_HEADERS itself.
	HeadersEnv string `yaml:"headers_env"`
}

// Alerts configures the events the gateway sends to webhooks. Each alert
// is recorded in the store before it is sent, under a key made of its
// kind, subject, threshold and period, so that it is sent once however
// many replicas see it and across restarts: the replica whose record wins
// delivers it, and one left undelivered (a restart, a replica that died
// mid-delivery) is taken over by any replica once its lease lapses.
// Delivery runs in the background, never while a client waits. Read at
// start; a change takes a restart.
type Alerts struct {
	// Endpoints are the webhooks alerts are sent to. None: each alert is
	// only logged, once per gateway process.
	Endpoints []AlertEndpoint `yaml:"endpoints"`
	// BudgetThresholds are the percentages of a tenant's or key's budget
	// whose crossing raises a budget alert, once per threshold per budget
	// period. Each is above 0 and at most 1000. Default: [50, 80, 100].
	BudgetThresholds []float64 `yaml:"budget_thresholds"`
	// KeyExpiryNotice is how long before a key expires it raises a
	// reminder, once per key and expiry time; a negative value (-1s) turns
	// reminders off. Default: 168h (7 days).
	KeyExpiryNotice Duration `yaml:"key_expiry_notice"`
	// CommitmentBehind and CommitmentAhead are the pace ratios (spend over
	// the spend due by now at an even pace) below and above which a
	// commitment raises an alert, once per kind per commitment period, and
	// only after CommitmentGrace of the period has passed (early in a
	// period a single request moves the ratio a lot). Defaults: 0.8 and
	// 1.25, like the shipped Prometheus rules.
	CommitmentBehind float64 `yaml:"commitment_behind"`
	CommitmentAhead  float64 `yaml:"commitment_ahead"`
	// CommitmentGrace is the fraction of a commitment's period that must
	// pass before its pace is judged, between 0 and 1. Default: 0.1.
	CommitmentGrace float64 `yaml:"commitment_grace"`
	// BreakerEvery bounds breaker alerts: at most one per channel per
	// window of this length (clock-aligned, shared by every replica, whose
	// breakers are their own). Default: 1h.
	BreakerEvery Duration `yaml:"breaker_every"`
	// CheckInterval is how often budgets, commitments, compliance and key
	// expiry are checked, and undelivered alerts looked for. Default: 1m.
	CheckInterval Duration `yaml:"check_interval"`
	// Timeout bounds one delivery attempt (connect to response). Default:
	// 10s.
	Timeout Duration `yaml:"timeout"`
	// MaxAttempts bounds the attempts to deliver one alert to one
	// endpoint; between attempts the wait doubles from 1s up to 5m, with
	// jitter. Default: 8.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxElapsed bounds the time spent delivering one alert to one
	// endpoint, from its first attempt; after it (or MaxAttempts) the
	// alert is given up and logged. Default: 1h.
	MaxElapsed Duration `yaml:"max_elapsed"`
	// Concurrency is the number of deliveries in flight at once. Default:
	// 4.
	Concurrency int `yaml:"concurrency"`
	// Queue bounds the deliveries waiting for a worker; past it an alert
	// stays recorded and is picked up by a later check. Default: 256.
	Queue int `yaml:"queue"`
}

// AlertEndpoint is one webhook.
type AlertEndpoint struct {
	// Name identifies the endpoint in the store and the log. Required,
	// unique.
	Name string `yaml:"name"`
	// URL is the webhook's http or https URL. A Slack incoming-webhook URL
	// is a secret: prefer url_env or url_file, which win over url.
	URL string `yaml:"url"`
	// URLEnv names an environment variable holding the URL.
	URLEnv string `yaml:"url_env"`
	// URLFile names a file holding the URL (a mounted secret), less one
	// trailing newline; exclusive with url_env.
	URLFile string `yaml:"url_file"`
	// Format is "standard" (default): a JSON body {"type", "timestamp",
	// "data"} signed per the Standard Webhooks specification (headers
	// webhook-id, webhook-timestamp and webhook-signature
	// "v1,<base64 HMAC-SHA256 of id.timestamp.body>"); or "slack": a
	// Slack-compatible {"text", "blocks"} body, unsigned.
	Format string `yaml:"format"`
	// SecretEnv and SecretFile name where the signing secret of a
	// standard endpoint is read: "whsec_" followed by base64 (the
	// Standard Webhooks form); required for standard, exclusive.
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// Events limits the endpoint to these alert kinds: budget_threshold,
	// commitment_behind, commitment_ahead, breaker_open,
	// compliance_violation, key_expiring. Empty: every kind.
	Events []string `yaml:"events"`
}

// Process configures the gateway process.
type Process struct {
	// MemoryLimitMiB is a soft limit on the Go runtime's memory, in MiB
	// (runtime/debug.SetMemoryLimit): near it the garbage collector runs
	// more often and returns freed memory to the system sooner. It is not
	// a cap: a live heap larger than the limit is still served, with the
	// collector using up to half the CPU. 0 (the default) sets nine tenths
	// of the container's memory limit (the cgroup's memory.max), and none
	// outside a container or without one; a negative value sets none. The
	// GOMEMLIMIT environment variable, when set, takes precedence. Read
	// when the gateway starts (a reload does not change it).
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
}

// Channel authentication (Provider.Auth).
const (
	AuthAPIKey = "api_key"
	AuthEntra  = "entra"
)

// Provider types.
const (
	TypeOpenAI           = "openai"
	TypeAzure            = "azure"
	TypeBedrock          = "bedrock"
	TypeAnthropic        = "anthropic"
	TypeGemini           = "gemini"
	TypeVertex           = "vertex"
	TypeOpenAICompatible = "openai-compatible"
	TypeFake             = "fake"
)

// Provider is one channel.
type Provider struct {
	// Name identifies the channel in models, contracts, metrics and
	// headers. Required, unique.
	Name string `yaml:"name"`
	// Type is one of openai, azure, bedrock, anthropic, gemini, vertex,
	// openai-compatible, fake.
	Type string `yaml:"type"`
	// BaseURL is the base URL the vendor's own SDK takes: OpenAI and
	// OpenAI-compatible end in /v1, Azure is the resource root, Anthropic
	// has no /v1, Bedrock is the endpoint without /model, Gemini has no
	// /v1beta, Vertex is the host before /v1/projects. Required for azure
	// and openai-compatible; defaults to the vendor's public endpoint
	// otherwise (for Vertex, the endpoint of region).
	BaseURL string `yaml:"base_url"`
	// APIKeyEnv names the environment variable holding the API key.
	APIKeyEnv string `yaml:"api_key_env"`
	// APIKeyFile names a file holding the API key instead (a mounted
	// Kubernetes secret): its content, less one trailing newline, at most
	// 64 KiB. Read at start and again on every reload, so a rotated
	// secret takes effect with a reload; exclusive with api_key_env.
	APIKeyFile string `yaml:"api_key_file"`
	// Auth is how an azure channel authenticates: api_key (the default,
	// the api-key header from api_key_env) or entra (Microsoft Entra ID
	// bearer tokens from azidentity's default credential chain: the
	// AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET environment,
	// workload identity, managed identity or the Azure CLI; leave
	// api_key_env unset).
	Auth string `yaml:"auth"`
	// APIVersion is Azure's api-version (default 2024-10-21; "v1" selects
	// the v1 path form) or Anthropic's anthropic-version (default
	// 2023-06-01).
	APIVersion string `yaml:"api_version"`
	// Region is the cloud region, used by Bedrock for signing and
	// endpoints, by Vertex as the location ("us-east5", "europe-west1",
	// "global", or the multi-regions "us" and "eu"), by contracts for
	// residency and by the price catalogue where prices differ by region.
	// Required for bedrock and vertex.
	Region string `yaml:"region"`
	// Location is Vertex's own word for Region, accepted as its alias;
	// set one of them.
	Location string `yaml:"location"`
	// Project is the Google Cloud project id a vertex channel calls
	// (and is billed to). Required for vertex.
	Project string `yaml:"project"`
	// CredentialsFile is a Google credentials file for a vertex channel:
	// a service-account key, or an authorized_user, external_account
	// (workload identity federation) or impersonated_service_account file.
	// Empty: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
	// gcloud's application-default file, or the metadata server of GKE
	// workload identity and Compute Engine). Access tokens are cached and
	// refreshed before they expire.
	CredentialsFile string `yaml:"credentials_file"`
	// AccessKeyIDEnv and SecretAccessKeyEnv name environment variables
	// with static AWS credentials (Bedrock); SessionTokenEnv optionally
	// names a session token. Without them, the standard AWS chain is used.
	AccessKeyIDEnv     string `yaml:"access_key_id_env"`
	SecretAccessKeyEnv string `yaml:"secret_access_key_env"`
	SessionTokenEnv    string `yaml:"session_token_env"`
	// AccessKeyIDFile, SecretAccessKeyFile and SessionTokenFile name
	// files holding the same credentials instead (mounted Kubernetes
	// secrets): each file's content, less one trailing newline, at most
	// 64 KiB. Read at start and on every reload; each is exclusive with
	// its _env form.
	AccessKeyIDFile     string `yaml:"access_key_id_file"`
	SecretAccessKeyFile string `yaml:"secret_access_key_file"`
	SessionTokenFile    string `yaml:"session_token_file"`
	// Headers are extra headers sent upstream on every request.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds a whole non-streaming upstream call and the wait for
	// a stream's first byte. Default: 120s.
	Timeout Duration `yaml:"timeout"`
	// Fake configures a provider of type fake: a simulated cloud served
	// in-process.
	Fake *Fake `yaml:"fake"`
	// Price holds terms that apply to every offering of the channel.
	Price ChannelPrice `yaml:"price"`
}

// ChannelPrice holds a channel's pricing terms.
type ChannelPrice struct {
	// DiscountPct is a negotiated discount, in percent (0 to 100), off
	// every offering's price on the channel: its own price when it sets
	// one, else its list price. An offering's own discount_pct, when set,
	// replaces it. Costs, budgets, commitments and lowest_cost all use the
	// discounted price; usage export shows list, configured and discount
	// side by side.
	DiscountPct float64 `yaml:"discount_pct"`
}

// Fake is an in-process simulated cloud.
type Fake struct {
	// Cloud is the simulated vendor: openai, azure, anthropic, bedrock or
	// gemini. Default: openai.
	Cloud string `yaml:"cloud"`
	// Latency before the first byte.
	Latency Duration `yaml:"latency"`
	// TokensPerSecond paces streams; 0 is as fast as possible.
	TokensPerSecond float64 `yaml:"tokens_per_second"`
	// FailRate is the fraction (0..1) of requests that fail with
	// FailStatus (default 500).
	FailRate   float64 `yaml:"fail_rate"`
	FailStatus int     `yaml:"fail_status"`
	// HangRate is the fraction (0..1) of requests that are never answered
	// until the client gives up.
	HangRate float64 `yaml:"hang_rate"`
	// CutStreamAfter, when positive, cuts every stream after that many
	// content events.
	CutStreamAfter int `yaml:"cut_stream_after"`
}

// Model is a client-facing model name and where it is offered.
type Model struct {
	// Name is what clients send as "model". Required, unique.
	Name string `yaml:"name"`
	// Aliases are other names clients may use for the same model (for
	// example Bedrock model ids such as anthropic.claude-v2:1).
	Aliases []string `yaml:"aliases"`
	// Offerings are the channels that serve this model. At least one.
	Offerings []Offering `yaml:"offerings"`
	// Route chooses among offerings.
	Route Route `yaml:"route"`
}

// Offering is one channel's offer of a model.
type Offering struct {
	// Provider names a configured provider. Required.
	Provider string `yaml:"provider"`
	// UpstreamModel is the model id on that channel (the deployment name
	// on Azure). Default: the model's name.
	UpstreamModel string `yaml:"upstream_model"`
	// Price is USD per million tokens; used for cost, budgets and
	// lowest_cost. When omitted, the list price of the upstream model (or
	// of the model's name) on the channel's type and region is used: from
	// prices.file, else from the dated catalogue built into the binary
	// (`switchyard prices list` shows which). An offering no list prices
	// costs $0, which validate warns about unless the price says free.
	Price Price `yaml:"price"`
	// Weight is the share of traffic under the weighted strategy.
	// Default: 1.
	Weight float64 `yaml:"weight"`
}

// Price is USD per million tokens.
type Price struct {
	InputPerMTok       float64 `yaml:"input_per_mtok"`
	OutputPerMTok      float64 `yaml:"output_per_mtok"`
	CachedInputPerMTok float64 `yaml:"cached_input_per_mtok"`
	CacheWritePerMTok  float64 `yaml:"cache_write_per_mtok"`
	ReasoningPerMTok   float64 `yaml:"reasoning_per_mtok"`
	// Free marks an offering that costs nothing on purpose (a
	// self-hosted model), so that validate does not warn that it is
	// unpriced. It excludes the rates and the discount.
	Free bool `yaml:"free"`
	// DiscountPct is a negotiated discount, in percent (0 to 100), off
	// this offering's price: the rates above when set, else the list
	// price. When set it replaces the channel's price.discount_pct.
	DiscountPct float64 `yaml:"discount_pct"`
}

// Route strategies.
const (
	StrategyPriority     = "priority"
	StrategyWeighted     = "weighted"
	StrategyLeastLatency = "least_latency"
	StrategyLowestCost   = "lowest_cost"
)

// Route chooses among a model's offerings.
type Route struct {
	// Strategy is priority (default), weighted, least_latency or
	// lowest_cost.
	Strategy string `yaml:"strategy"`
	// MaxAttempts bounds the attempts of one request across offerings.
	// Default: the number of offerings, at most 3.
	MaxAttempts int `yaml:"max_attempts"`
	// AttemptTimeout bounds one attempt on one channel (for a stream: the
	// wait for its first event), so a slow channel falls back in time.
	// Default: the channel's own timeout.
	AttemptTimeout Duration `yaml:"attempt_timeout"`
}

// Contract constrains routing: exclusivity (Match + Allow) or a spend
// commitment.
type Contract struct {
	// Name identifies the contract in headers, logs and reports.
	Name string `yaml:"name"`
	// Match selects the traffic the contract applies to; empty matches
	// everything.
	Match Match `yaml:"match"`
	// Allow lists the channels that may carry matching traffic.
	Allow *Allow `yaml:"allow"`
	// Commitment prefers a channel while its spend is behind the pacing
	// line.
	Commitment *Commitment `yaml:"commitment"`
}

// Match selects traffic.
type Match struct {
	// Models are globs over client-facing model names.
	Models []string `yaml:"models"`
	// Traffic is "stateless", "stateful" or empty for both.
	Traffic string `yaml:"traffic"`
	// Tenants are tenant names.
	Tenants []string `yaml:"tenants"`
}

// Allow lists allowed channels; an offering is allowed when it matches any
// non-empty list.
type Allow struct {
	Providers     []string `yaml:"providers"`
	ProviderTypes []string `yaml:"provider_types"`
	// Regions are globs over provider regions, such as "eu-*".
	Regions []string `yaml:"regions"`
}

// Commitment is a spend commitment with one channel.
type Commitment struct {
	Provider  string  `yaml:"provider"`
	AmountUSD float64 `yaml:"amount_usd"`
	// Period is "day", "week", "month", "quarter" or "year".
	Period string `yaml:"period"`
	// Pacing is "even" (default).
	Pacing string `yaml:"pacing"`
	// BurnDown is what the commitment's progress is reported on: "ledger"
	// (default), the gateway's own metered cost; or "billed", the cloud's
	// billed amounts for the days a cost export saved with `reconcile
	// -save` covers, and the ledger's estimate for the days after. Routing
	// paces on the ledger either way, since bills arrive days late.
	BurnDown string `yaml:"burn_down"`
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: invalid duration %q", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Std returns the time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Default returns a configuration with every default filled in and no
// providers or models.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Listen, "127.0.0.1:8080")
	def(&c.Admin.Listen, "127.0.0.1:8081")
	if c.Admin.TokenFile == "" {
		def(&c.Admin.TokenEnv, "SWITCHYARD_ADMIN_TOKEN")
	}
	if o := c.Admin.OIDC; o != nil {
		if len(o.Scopes) == 0 {
			o.Scopes = []string{"openid", "email", "profile"}
		}
		def(&o.GroupsClaim, "groups")
	}
	def(&c.Store.Driver, "sqlite")
	if c.Store.Driver == "sqlite" {
		def(&c.Store.DSN, "./switchyard.db")
	}
	def(&c.Store.Outage, "cached")
	if c.Store.OutageMaxStale == 0 {
		c.Store.OutageMaxStale = Duration(10 * time.Minute)
	}
	if c.Store.Timeout == 0 {
		c.Store.Timeout = Duration(250 * time.Millisecond)
	}
	if c.Ledger.QueueSize == 0 {
		c.Ledger.QueueSize = 16384
	}
	def(&c.Limits.Backend, "memory")
	def(&c.Limits.RateLimitsFail, "open")
	def(&c.Limits.BudgetsFail, "closed")
	if c.Limits.Timeout == 0 {
		c.Limits.Timeout = Duration(100 * time.Millisecond)
	}
	if c.Server.MaxBodyBytes == 0 {
		c.Server.MaxBodyBytes = 10 << 20
	}
	if c.Server.ShutdownTimeout == 0 {
		c.Server.ShutdownTimeout = Duration(30 * time.Second)
	}
	if c.Server.StreamIdleTimeout == 0 {
		c.Server.StreamIdleTimeout = Duration(5 * time.Minute)
	}
	if c.Server.MaxStreamBytes == 0 {
		c.Server.MaxStreamBytes = 16 << 20
	}
	a := &c.Server.Admission
	def(&a.Mode, "adaptive")
	if a.MinInFlight == 0 {
		a.MinInFlight = 32
	}
	if a.MaxInFlight == 0 {
		a.MaxInFlight = 4096
	}
	if a.MaxRequests == 0 {
		a.MaxRequests = 4096
	}
	if a.TargetDelay == 0 {
		a.TargetDelay = Duration(5 * time.Millisecond)
	}
	if a.MaxStreams == 0 {
		a.MaxStreams = 10000
	}
	if a.Queue == 0 {
		a.Queue = 512
	}
	if a.QueueTimeout == 0 {
		a.QueueTimeout = Duration(50 * time.Millisecond)
	}
	if c.Server.ReadHeaderTimeout == 0 {
		c.Server.ReadHeaderTimeout = Duration(10 * time.Second)
	}
	if c.Server.ReadTimeout == 0 {
		c.Server.ReadTimeout = Duration(30 * time.Second)
	}
	if c.Server.IdleTimeout == 0 {
		c.Server.IdleTimeout = Duration(120 * time.Second)
	}
	if c.Server.MaxHeaderBytes == 0 {
		c.Server.MaxHeaderBytes = 64 << 10
	}
	if c.Server.MaxConnections == 0 {
		c.Server.MaxConnections = defaultMaxConnections(openFileLimit())
	}
	if c.Server.AdminMaxConnections == 0 {
		c.Server.AdminMaxConnections = 256
	}
	if c.Server.MaxModelNameBytes == 0 {
		c.Server.MaxModelNameBytes = 256
	}
	if len(c.Server.BedrockRegions) == 0 {
		c.Server.BedrockRegions = c.defaultBedrockRegions()
	}
	if c.Log.FlushInterval == 0 {
		c.Log.FlushInterval = Duration(100 * time.Millisecond)
	}
	if c.Log.Payloads.MaxBytes == 0 {
		c.Log.Payloads.MaxBytes = 64 << 10
	}
	if c.Log.Payloads.Retention == 0 {
		c.Log.Payloads.Retention = Duration(168 * time.Hour)
	}
	if c.Sessions.ResponseTTL == 0 {
		c.Sessions.ResponseTTL = Duration(720 * time.Hour)
	}
	if c.Ledger.Retention == 0 {
		c.Ledger.Retention = Duration(720 * time.Hour)
	}
	c.Alerts.applyDefaults()
	if c.Ledger.MaintenanceInterval == 0 {
		c.Ledger.MaintenanceInterval = Duration(time.Minute)
	}
	b := &c.Breaker
	if b.ErrorRate == 0 {
		b.ErrorRate = 0.5
	}
	if b.MinRequests == 0 {
		b.MinRequests = 20
	}
	if b.Window == 0 {
		b.Window = Duration(30 * time.Second)
	}
	if b.ConsecutiveFailures == 0 {
		b.ConsecutiveFailures = 20
	}
	if b.CoolOff == 0 {
		b.CoolOff = Duration(10 * time.Second)
	}
	if b.MaxCoolOff == 0 {
		b.MaxCoolOff = Duration(5 * time.Minute)
	}
	if b.Probes == 0 {
		b.Probes = 1
	}
	if b.ProbeTimeout == 0 {
		b.ProbeTimeout = b.CoolOff
	}
	if b.RateLimitCoolDown == 0 {
		b.RateLimitCoolDown = Duration(time.Second)
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		if p.Timeout == 0 {
			p.Timeout = Duration(120 * time.Second)
		}
		if p.Type == TypeFake && p.Fake == nil {
			p.Fake = &Fake{}
		}
		if p.Fake != nil {
			def(&p.Fake.Cloud, "openai")
		}
		if p.Type == TypeVertex {
			def(&p.Region, p.Location)
		}
	}
	for i := range c.Models {
		m := &c.Models[i]
		def(&m.Route.Strategy, StrategyPriority)
		for j := range m.Offerings {
			o := &m.Offerings[j]
			def(&o.UpstreamModel, m.Name)
			if o.Weight == 0 {
				o.Weight = 1
			}
		}
		if m.Route.MaxAttempts == 0 {
			m.Route.MaxAttempts = min(len(m.Offerings), 3)
		}
	}
	for i := range c.Contracts {
		if cm := c.Contracts[i].Commitment; cm != nil {
			def(&cm.Pacing, "even")
			def(&cm.BurnDown, "ledger")
		}
	}
}

// Load reads, defaults and validates a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(data)
}

// Parse decodes YAML (unknown fields are errors), applies defaults and
// validates the result. The returned error lists every problem found.
func Parse(data []byte) (*Config, error) {
	var c Config
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	// Unknown fields and values of the wrong type leave the rest decoded:
	// they are reported, by YAML path, together with every validation
	// error.
	doc := walkDocument(&root)
	decodeErrs := doc.unknown
	if err := root.Decode(&c); err != nil && root.Kind != 0 {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("parsing config: %w", err)
		}
		for _, e := range te.Errors {
			if msg, ok := doc.restate(e); ok {
				decodeErrs = append(decodeErrs, errors.New(msg))
			}
		}
	}
	c.applyDefaults()
	if err := errors.Join(append(decodeErrs, c.Validate())...); err != nil {
		return nil, err
	}
	return &c, nil
}

// ProviderByName returns the provider called name, or nil.
func (c *Config) ProviderByName(name string) *Provider {
	for i := range c.Providers {
		if c.Providers[i].Name == name {
			return &c.Providers[i]
		}
	}
	return nil
}

// defaultMaxConnections is three quarters of the open-file limit, within
// [64, 100000]; 0 (the limit is unknown) gives 4096.
func defaultMaxConnections(fdLimit uint64) int {
	if fdLimit == 0 {
		return 4096
	}
	return int(min(max(fdLimit/4*3, 64), 100000))
}

// defaultBedrockRegions lists us-east-1 and the region of every Bedrock
// channel, each once.
func (c *Config) defaultBedrockRegions() []string {
	out := []string{"us-east-1"}
	for _, p := range c.Providers {
		if p.Type == TypeBedrock && p.Region != "" && !slices.Contains(out, p.Region) {
			out = append(out, p.Region)
		}
	}
	return out
}

func (a *Alerts) applyDefaults() {
	if a.BudgetThresholds == nil {
		a.BudgetThresholds = []float64{50, 80, 100}
	}
	durs := []struct {
		d *Duration
		v time.Duration
	}{{&a.KeyExpiryNotice, 168 * time.Hour}, {&a.BreakerEvery, time.Hour}, {&a.CheckInterval, time.Minute},
		{&a.Timeout, 10 * time.Second}, {&a.MaxElapsed, time.Hour}}
	for _, f := range durs {
		if *f.d == 0 {
			*f.d = Duration(f.v)
		}
	}
	if a.CommitmentBehind == 0 {
		a.CommitmentBehind = 0.8
	}
	if a.CommitmentAhead == 0 {
		a.CommitmentAhead = 1.25
	}
	if a.CommitmentGrace == 0 {
		a.CommitmentGrace = 0.1
	}
	if a.MaxAttempts == 0 {
		a.MaxAttempts = 8
	}
	if a.Concurrency == 0 {
		a.Concurrency = 4
	}
	if a.Queue == 0 {
		a.Queue = 256
	}
	for i := range a.Endpoints {
		if a.Endpoints[i].Format == "" {
			a.Endpoints[i].Format = "standard"
		}
	}
}
