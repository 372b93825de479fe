package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Validate reports every problem in c at once, each prefixed with its path
// (for example `providers[1].type`). It does not change c.
func (c *Config) Validate() error {
	var errs []error
	bad := func(p, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{p}, args...)...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "invalid address %q", c.Listen)
	}
	if c.Admin.Listen != "off" {
		if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			bad("admin.listen", "invalid address %q (use \"off\" to disable)", c.Admin.Listen)
		}
	}
	switch c.Store.Driver {
	case "sqlite":
		if c.Store.DSN == "" && c.Store.DSNEnv == "" && c.Store.DSNFile == "" {
			bad("store.dsn", "required")
		}
	case "postgres":
		if c.Store.DSN == "" && c.Store.DSNEnv == "" && c.Store.DSNFile == "" {
			bad("store.dsn", "required for postgres (or store.dsn_env or store.dsn_file)")
		}
	default:
		bad("store.driver", "must be sqlite or postgres, got %q", c.Store.Driver)
	}
	c.validateSecretForms(bad)
	if c.Store.Outage != "cached" && c.Store.Outage != "closed" {
		bad("store.outage", "must be cached or closed, got %q", c.Store.Outage)
	}
	if c.Store.OutageMaxStale < 0 {
		bad("store.outage_max_stale", "must not be negative")
	}
	for _, f := range []struct {
		name string
		v    Duration
	}{{"store.timeout", c.Store.Timeout}, {"limits.timeout", c.Limits.Timeout}} {
		if f.v.Std() < time.Millisecond || f.v.Std() > 10*time.Second {
			bad(f.name, "must be between 1ms and 10s, got %v", f.v.Std())
		}
	}
	if c.Ledger.QueueSize < 0 {
		bad("ledger.queue_size", "must not be negative")
	}
	switch c.Limits.Backend {
	case "memory":
	case "redis":
		switch {
		case c.Limits.RedisURLEnv != "" || c.Limits.RedisURLFile != "":
		case c.Limits.RedisURL == "":
			bad("limits.redis_url", "required for the redis backend (or limits.redis_url_env or limits.redis_url_file)")
		default:
			if err := CheckRedisURL(c.Limits.RedisURL); err != nil {
				bad("limits.redis_url", "%v", err)
			}
		}
	default:
		bad("limits.backend", "must be memory or redis, got %q", c.Limits.Backend)
	}
	for _, f := range []struct{ name, v string }{{"limits.rate_limits_fail", c.Limits.RateLimitsFail}, {"limits.budgets_fail", c.Limits.BudgetsFail}} {
		if f.v != "open" && f.v != "closed" {
			bad(f.name, "must be open or closed, got %q", f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    Duration
	}{{"sessions.response_ttl", c.Sessions.ResponseTTL}, {"ledger.retention", c.Ledger.Retention}, {"ledger.maintenance_interval", c.Ledger.MaintenanceInterval}} {
		if f.v < 0 {
			bad(f.name, "must not be negative")
		}
	}
	if c.Server.MaxBodyBytes < 0 {
		bad("server.max_body_bytes", "must not be negative")
	}
	c.validatePayloads(bad)
	c.validateAlerts(bad)
	if c.Server.MaxStreamBytes < 0 {
		bad("server.max_stream_bytes", "must not be negative")
	}
	c.validateBreaker(bad)
	if a := c.Server.Admission; a.Mode != "off" {
		if a.Mode != "adaptive" && a.Mode != "fixed" {
			bad("server.admission.mode", "must be adaptive, fixed or off, got %q", a.Mode)
		}
		for _, f := range []struct {
			name string
			v    int
		}{{"min_in_flight", a.MinInFlight}, {"max_in_flight", a.MaxInFlight}, {"max_requests", a.MaxRequests}, {"max_streams", a.MaxStreams}} {
			if f.v < 0 {
				bad("server.admission."+f.name, "must not be negative")
			}
		}
		if a.MinInFlight > a.MaxInFlight {
			bad("server.admission.min_in_flight", "must not exceed max_in_flight (%d)", a.MaxInFlight)
		}
		if a.Queue < -1 {
			bad("server.admission.queue", "must be -1 (no queue) or more")
		}
		if a.TargetDelay < 0 {
			bad("server.admission.target_delay", "must not be negative")
		}
		if a.QueueTimeout < 0 {
			bad("server.admission.queue_timeout", "must not be negative")
		}
	}
	for _, f := range []struct {
		name string
		v    Duration
	}{{"server.read_header_timeout", c.Server.ReadHeaderTimeout}, {"server.read_timeout", c.Server.ReadTimeout}, {"server.idle_timeout", c.Server.IdleTimeout}} {
		if f.v < 0 {
			bad(f.name, "must not be negative")
		}
	}
	if c.Server.MaxHeaderBytes < 0 {
		bad("server.max_header_bytes", "must not be negative")
	} else if c.Server.MaxHeaderBytes > 0 && c.Server.MaxHeaderBytes < 4<<10 {
		bad("server.max_header_bytes", "must be at least 4096 (SDKs send a few KiB of headers)")
	}
	if c.Server.MaxConnections < 0 {
		bad("server.max_connections", "must not be negative")
	}
	if c.Server.AdminMaxConnections < 0 {
		bad("server.admin_max_connections", "must not be negative")
	}
	tlsPair := func(path, cert, key string) {
		switch {
		case cert != "" && key == "":
			bad(path+".key_file", "required with cert_file")
		case cert == "" && key != "":
			bad(path+".cert_file", "required with key_file")
		}
	}
	tlsPair("server.tls", c.Server.TLS.CertFile, c.Server.TLS.KeyFile)
	tlsPair("admin.tls", c.Admin.TLS.CertFile, c.Admin.TLS.KeyFile)
	c.validateOIDC(bad)
	if c.Admin.TLS.ClientCAFile != "" && c.Admin.TLS.CertFile == "" {
		bad("admin.tls.client_ca_file", "needs admin.tls.cert_file and key_file: client certificates are asked for over https only")
	}
	if c.Server.MaxModelNameBytes < 0 {
		bad("server.max_model_name_bytes", "must not be negative")
	}
	for i, r := range c.Server.BedrockRegions {
		if r == "*" {
			if len(c.Server.BedrockRegions) > 1 {
				bad(fmt.Sprintf("server.bedrock_regions[%d]", i), `"*" accepts every region and must be the only entry`)
			}
			continue
		}
		if !validRegion(r) {
			bad(fmt.Sprintf("server.bedrock_regions[%d]", i), "%q is not a region name (lowercase letters, digits and '-', e.g. us-east-1)", r)
		}
	}
	for i, p := range c.Server.TrustedProxies {
		if pr, err := netip.ParsePrefix(p); err != nil || pr != pr.Masked() {
			bad(fmt.Sprintf("server.trusted_proxies[%d]", i), "%q is not a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32", p)
		}
	}
	if c.Log.FlushInterval > Duration(10*time.Second) {
		bad("log.flush_interval", "must be at most 10s (a crash loses up to this much of the access log)")
	}
	{
		t := c.Telemetry.Tracing
		switch t.Protocol {
		case "", "http/protobuf", "grpc":
		default:
			bad("telemetry.tracing.protocol", "must be http/protobuf or grpc, got %q", t.Protocol)
		}
		if t.Endpoint != "" {
			if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("telemetry.tracing.endpoint", "must be an http:// or https:// URL such as http://collector:4318, got %q", t.Endpoint)
			}
		}
		if t.SampleRatio < 0 || t.SampleRatio > 1 {
			bad("telemetry.tracing.sample_ratio", "must be above 0 and at most 1 (or unset), got %v", t.SampleRatio)
		}
	}

	providers := map[string]*Provider{}
	for i := range c.Providers {
		p := &c.Providers[i]
		at := fmt.Sprintf("providers[%d]", i)
		if p.Name == "" {
			bad(at+".name", "required")
		} else if _, dup := providers[p.Name]; dup {
			bad(at+".name", "duplicate provider %q", p.Name)
		} else {
			providers[p.Name] = p
		}
		if !validPct(p.Price.DiscountPct) {
			bad(at+".price.discount_pct", "must be a percentage from 0 to 100, got %v", p.Price.DiscountPct)
		}
		switch p.Type {
		case TypeOpenAI, TypeAnthropic, TypeGemini:
		case TypeAzure, TypeOpenAICompatible:
			if p.BaseURL == "" {
				bad(at+".base_url", "required for type %s", p.Type)
			}
		case TypeBedrock:
			if p.Region == "" {
				bad(at+".region", "required for type bedrock")
			}
			if (p.AccessKeyIDEnv == "" && p.AccessKeyIDFile == "") != (p.SecretAccessKeyEnv == "" && p.SecretAccessKeyFile == "") {
				bad(at, "access_key_id_env (or _file) and secret_access_key_env (or _file) go together")
			}
		case TypeVertex:
			if p.Project == "" {
				bad(at+".project", "required for type vertex")
			}
			switch {
			case p.Region == "":
				bad(at+".region", "required for type vertex (or location)")
			case p.Location != "" && p.Location != p.Region:
				bad(at+".location", "is region's alias; %q and %q disagree", p.Location, p.Region)
			case !validLocation(p.Region):
				bad(at+".region", "%q is not a Vertex location (like us-east5, europe-west1, global)", p.Region)
			}
			if p.APIKeyEnv != "" {
				bad(at+".api_key_env", "not for type vertex: it authenticates with Google credentials (credentials_file)")
			}
			if p.APIKeyFile != "" {
				bad(at+".api_key_file", "not for type vertex: it authenticates with Google credentials (credentials_file)")
			}
		case TypeFake:
			switch p.Fake.Cloud {
			case "openai", "azure", "anthropic", "bedrock", "gemini":
			default:
				bad(at+".fake.cloud", "must be openai, azure, anthropic, bedrock or gemini, got %q", p.Fake.Cloud)
			}
			for _, r := range []struct {
				name string
				v    float64
			}{{"fail_rate", p.Fake.FailRate}, {"hang_rate", p.Fake.HangRate}} {
				if r.v < 0 || r.v > 1 {
					bad(at+".fake."+r.name, "must be between 0 and 1")
				}
			}
			if p.Fake.FailRate+p.Fake.HangRate > 1 {
				bad(at+".fake", "fail_rate and hang_rate add up to more than 1")
			}
			if p.Fake.CutStreamAfter < 0 {
				bad(at+".fake.cut_stream_after", "must not be negative")
			}
		case "":
			bad(at+".type", "required (%s)", typeList)
		default:
			bad(at+".type", "unknown type %q (want %s)", p.Type, typeList)
		}
		switch p.Auth {
		case "", AuthAPIKey:
		case AuthEntra:
			if p.Type != TypeAzure {
				bad(at+".auth", "entra is for type azure only")
			} else if p.APIKeyEnv != "" || p.APIKeyFile != "" {
				bad(at+".auth", "entra and api_key_env (or api_key_file) are exclusive: Azure refuses a request that carries both")
			}
		default:
			bad(at+".auth", "must be api_key or entra, got %q", p.Auth)
		}
		if p.Fake != nil && p.Type != TypeFake {
			bad(at+".fake", "only for type fake")
		}
		if p.Type != TypeVertex {
			for _, f := range []struct{ name, v string }{{"project", p.Project}, {"location", p.Location}, {"credentials_file", p.CredentialsFile}} {
				if f.v != "" {
					bad(at+"."+f.name, "only for type vertex")
				}
			}
		}
		if p.BaseURL != "" {
			if u, err := url.Parse(p.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(at+".base_url", "must be an http(s) URL, got %q", p.BaseURL)
			}
		}
		for k := range p.Headers {
			if strings.EqualFold(k, "authorization") || strings.EqualFold(k, "api-key") || strings.EqualFold(k, "x-api-key") {
				bad(at+".headers."+k, "secrets do not belong in the file; use api_key_env")
			}
		}
		if p.Timeout < 0 {
			bad(at+".timeout", "must not be negative")
		}
	}

	names := map[string]string{}
	for i, m := range c.Models {
		at := fmt.Sprintf("models[%d]", i)
		if m.Name == "" {
			bad(at+".name", "required")
		}
		for j, n := range append([]string{m.Name}, m.Aliases...) {
			if n == "" {
				continue
			}
			where := at + ".name"
			if j > 0 {
				where = fmt.Sprintf("%s.aliases[%d]", at, j-1)
			}
			if c.Server.MaxModelNameBytes > 0 && len(n) > c.Server.MaxModelNameBytes {
				// Clients could not use it: longer names are refused.
				bad(where, "%d bytes, longer than server.max_model_name_bytes (%d)", len(n), c.Server.MaxModelNameBytes)
			}
			if prev, dup := names[n]; dup {
				bad(where, "%q is already used by %s", n, prev)
			} else {
				names[n] = where
			}
		}
		if len(m.Offerings) == 0 {
			bad(at+".offerings", "at least one offering is required")
		}
		for j, o := range m.Offerings {
			oat := fmt.Sprintf("%s.offerings[%d]", at, j)
			if o.Provider == "" {
				bad(oat+".provider", "required")
			} else if providers[o.Provider] == nil {
				bad(oat+".provider", "unknown provider %q", o.Provider)
			}
			pr := o.Price
			if pr.InputPerMTok < 0 || pr.OutputPerMTok < 0 || pr.CachedInputPerMTok < 0 || pr.CacheWritePerMTok < 0 || pr.ReasoningPerMTok < 0 {
				bad(oat+".price", "prices must not be negative")
			}
			if pr.Free && (pr != Price{Free: true}) {
				bad(oat+".price", "free excludes the rates and the discount")
			}
			if !validPct(pr.DiscountPct) {
				bad(oat+".price.discount_pct", "must be a percentage from 0 to 100, got %v", pr.DiscountPct)
			}
			if o.Weight < 0 {
				bad(oat+".weight", "must not be negative")
			}
		}
		switch m.Route.Strategy {
		case StrategyPriority, StrategyWeighted, StrategyLeastLatency, StrategyLowestCost:
		default:
			bad(at+".route.strategy", "unknown strategy %q (want priority, weighted, least_latency or lowest_cost)", m.Route.Strategy)
		}
		if m.Route.MaxAttempts < 0 {
			bad(at+".route.max_attempts", "must not be negative")
		}
	}

	contracts := map[string]bool{}
	for i, ct := range c.Contracts {
		at := fmt.Sprintf("contracts[%d]", i)
		if ct.Name == "" {
			bad(at+".name", "required")
		} else if contracts[ct.Name] {
			bad(at+".name", "duplicate contract %q", ct.Name)
		}
		contracts[ct.Name] = true
		if (ct.Allow == nil) == (ct.Commitment == nil) {
			bad(at, "exactly one of allow and commitment must be set")
		}
		for j, g := range ct.Match.Models {
			if _, err := path.Match(g, ""); err != nil {
				bad(fmt.Sprintf("%s.match.models[%d]", at, j), "invalid glob %q", g)
			}
		}
		switch ct.Match.Traffic {
		case "", "stateless", "stateful":
		default:
			bad(at+".match.traffic", "must be stateless or stateful, got %q", ct.Match.Traffic)
		}
		if a := ct.Allow; a != nil {
			if len(a.Providers)+len(a.ProviderTypes)+len(a.Regions) == 0 {
				bad(at+".allow", "lists nothing: it would refuse all matching traffic")
			}
			for j, p := range a.Providers {
				if providers[p] == nil {
					bad(fmt.Sprintf("%s.allow.providers[%d]", at, j), "unknown provider %q", p)
				}
			}
			for j, t := range a.ProviderTypes {
				if !knownType(t) {
					bad(fmt.Sprintf("%s.allow.provider_types[%d]", at, j), "unknown provider type %q (want %s)", t, typeList)
				}
			}
			for j, g := range a.Regions {
				if _, err := path.Match(g, ""); err != nil {
					bad(fmt.Sprintf("%s.allow.regions[%d]", at, j), "invalid glob %q", g)
				}
			}
		}
		if cm := ct.Commitment; cm != nil {
			if providers[cm.Provider] == nil {
				bad(at+".commitment.provider", "unknown provider %q", cm.Provider)
			}
			if cm.AmountUSD <= 0 {
				bad(at+".commitment.amount_usd", "must be positive")
			}
			switch cm.Period {
			case "day", "week", "month", "quarter", "year":
			default:
				bad(at+".commitment.period", "must be day, week, month, quarter or year, got %q", cm.Period)
			}
			if cm.Pacing != "even" {
				bad(at+".commitment.pacing", "only even pacing is supported, got %q", cm.Pacing)
			}
			if cm.BurnDown != "ledger" && cm.BurnDown != "billed" {
				bad(at+".commitment.burn_down", "must be ledger or billed, got %q", cm.BurnDown)
			}
		}
	}
	return errors.Join(errs...)
}

// typeList names the provider types for error messages.
const typeList = "openai, azure, bedrock, anthropic, gemini, vertex, openai-compatible or fake"

// knownType reports whether t is a provider type.
func knownType(t string) bool {
	switch t {
	case TypeOpenAI, TypeAzure, TypeBedrock, TypeAnthropic, TypeGemini, TypeVertex, TypeOpenAICompatible, TypeFake:
		return true
	}
	return false
}

// validateBreaker checks the breaker block; defaults have filled the
// fields left out.
func (c *Config) validateBreaker(bad func(p, format string, args ...any)) {
	b := &c.Breaker
	if !(b.ErrorRate > 0 && b.ErrorRate <= 1) {
		bad("breaker.error_rate", "must be above 0 and at most 1, got %g", b.ErrorRate)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"breaker.min_requests", b.MinRequests}, {"breaker.consecutive_failures", b.ConsecutiveFailures}, {"breaker.probes", b.Probes}} {
		if f.v < 1 {
			bad(f.name, "must be at least 1, got %d", f.v)
		}
	}
	if b.Window < Duration(time.Second) {
		bad("breaker.window", "must be at least 1s, got %s", b.Window.Std())
	}
	for _, f := range []struct {
		name string
		v    Duration
	}{{"breaker.cool_off", b.CoolOff}, {"breaker.probe_timeout", b.ProbeTimeout}, {"breaker.rate_limit_cool_down", b.RateLimitCoolDown}} {
		if f.v <= 0 {
			bad(f.name, "must be positive, got %s", f.v.Std())
		}
	}
	if b.MaxCoolOff < b.CoolOff {
		bad("breaker.max_cool_off", "must be at least cool_off (%s), got %s", b.CoolOff.Std(), b.MaxCoolOff.Std())
	}
}

// validLocation reports whether l looks like a Google Cloud location: a
// lowercase name of letters, digits and dashes, as it becomes part of a
// host name.
func validLocation(l string) bool {
	if l == "" || len(l) > 40 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validRegion reports whether r looks like an AWS region name.
func validRegion(r string) bool {
	if r == "" || len(r) > 32 || r[0] == '-' || r[len(r)-1] == '-' {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validateSecretForms refuses a secret set both ways: from an environment
// variable (x_env) and from a file (x_file).
func (c *Config) validateSecretForms(bad func(p, format string, args ...any)) {
	one := func(at, name, env, file string) {
		if env != "" && file != "" {
			bad(at+"."+name+"_file", "exclusive with %s.%s_env: set one of them", at, name)
		}
	}
	one("admin", "token", c.Admin.TokenEnv, c.Admin.TokenFile)
	if o := c.Admin.OIDC; o != nil {
		one("admin.oidc", "client_secret", o.ClientSecretEnv, o.ClientSecretFile)
	}
	one("store", "dsn", c.Store.DSNEnv, c.Store.DSNFile)
	one("limits", "redis_url", c.Limits.RedisURLEnv, c.Limits.RedisURLFile)
	for i, e := range c.Alerts.Endpoints {
		at := fmt.Sprintf("alerts.endpoints[%d]", i)
		one(at, "url", e.URLEnv, e.URLFile)
		one(at, "secret", e.SecretEnv, e.SecretFile)
	}
	for i, p := range c.Providers {
		at := fmt.Sprintf("providers[%d]", i)
		one(at, "api_key", p.APIKeyEnv, p.APIKeyFile)
		one(at, "access_key_id", p.AccessKeyIDEnv, p.AccessKeyIDFile)
		one(at, "secret_access_key", p.SecretAccessKeyEnv, p.SecretAccessKeyFile)
		one(at, "session_token", p.SessionTokenEnv, p.SessionTokenFile)
	}
}

// CheckRedisURL reports whether s is a redis:// or rediss:// URL. Its error
// never repeats the URL, which may carry a password.
func CheckRedisURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return errors.New("must be a redis:// or rediss:// URL with a host")
	}
	return nil
}

// validatePayloads checks log.payloads.
func (c *Config) validatePayloads(bad func(path, format string, args ...any)) {
	p := &c.Log.Payloads
	if p.MaxBytes < 0 || p.MaxBytes > 1<<20 {
		bad("log.payloads.max_bytes", "must be between 0 and 1048576, got %d", p.MaxBytes)
	}
	if p.Retention < 0 {
		bad("log.payloads.retention", "must not be negative")
	}
	for i, r := range p.Rules {
		at := fmt.Sprintf("log.payloads.rules[%d]", i)
		if r.SampleRate < 0 || r.SampleRate > 1 || math.IsNaN(r.SampleRate) {
			bad(at+".sample_rate", "must be between 0 and 1, got %v", r.SampleRate)
		}
		if r.Model != "" {
			if _, err := path.Match(r.Model, ""); err != nil {
				bad(at+".model", "bad glob %q: %v", r.Model, err)
			}
		}
	}
	for i, re := range p.Redact {
		if _, err := regexp.Compile(re); err != nil {
			bad(fmt.Sprintf("log.payloads.redact[%d]", i), "bad regular expression %q: %v", re, err)
		}
	}
}

// validPct reports whether v is a percentage: 0 to 100 (NaN is not).
func validPct(v float64) bool { return v >= 0 && v <= 100 }

// adminRoles are the roles admin.oidc.roles may grant (access.Roles; the
// config package stands alone).
var adminRoles = []string{"viewer", "tenant-admin", "operator", "admin"}

// validateOIDC checks admin.oidc.
func (c *Config) validateOIDC(bad func(p, format string, args ...any)) {
	o := c.Admin.OIDC
	if o == nil {
		return
	}
	if c.Admin.Listen == "off" {
		bad("admin.oidc", "needs the admin listener, and admin.listen is off")
	}
	httpURL := func(at, v string) {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad(at, "must be an http:// or https:// URL, got %q", v)
		}
	}
	if o.Issuer == "" {
		bad("admin.oidc.issuer", "required: the provider's issuer URL")
	} else {
		httpURL("admin.oidc.issuer", o.Issuer)
	}
	if o.ClientID == "" {
		bad("admin.oidc.client_id", "required: the gateway's client id at the provider")
	}
	if o.RedirectURL != "" {
		httpURL("admin.oidc.redirect_url", o.RedirectURL)
	}
	for i, s := range o.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\n") {
			bad(fmt.Sprintf("admin.oidc.scopes[%d]", i), "must be one word, got %q", s)
		}
	}
	if len(o.Roles) == 0 {
		bad("admin.oidc.roles", "required: without a rule nobody could sign in")
	}
	for i, r := range o.Roles {
		at := fmt.Sprintf("admin.oidc.roles[%d]", i)
		switch {
		case r.Group != "" && r.Claim != "":
			bad(at, "group and claim are exclusive: one rule matches one of them")
		case r.Group == "" && r.Claim == "":
			bad(at, "set group or claim (with value)")
		case r.Claim != "" && r.Value == "":
			bad(at+".value", "required with claim")
		case r.Group != "" && r.Value != "":
			bad(at+".value", "only with claim")
		}
		if !slices.Contains(adminRoles, r.Role) {
			bad(at+".role", "must be one of %s, got %q", strings.Join(adminRoles, ", "), r.Role)
		}
		switch {
		case r.Role == "tenant-admin" && len(r.Tenants) == 0:
			bad(at+".tenants", "required for tenant-admin: the tenants it manages")
		case r.Role != "tenant-admin" && len(r.Tenants) > 0:
			bad(at+".tenants", "only for tenant-admin: role %s is not scoped to tenants", r.Role)
		}
		for j, t := range r.Tenants {
			if strings.TrimSpace(t) == "" {
				bad(fmt.Sprintf("%s.tenants[%d]", at, j), "must not be empty")
			}
		}
	}
}

// AlertKinds are the kinds of alert an endpoint's events may name.
var AlertKinds = []string{"budget_threshold", "commitment_behind", "commitment_ahead", "breaker_open",
	"compliance_violation", "key_expiring", "budget_runs_out", "commitment_ends_short", "bill_drift"}

// validateAlerts checks alerts.
func (c *Config) validateAlerts(bad func(path, format string, args ...any)) {
	a := &c.Alerts
	names := map[string]bool{}
	for i, e := range a.Endpoints {
		at := fmt.Sprintf("alerts.endpoints[%d]", i)
		switch {
		case e.Name == "":
			bad(at+".name", "required")
		case names[e.Name]:
			bad(at+".name", "%q appears twice", e.Name)
		}
		names[e.Name] = true
		if e.URL == "" && e.URLEnv == "" && e.URLFile == "" {
			bad(at+".url", "required (or url_env or url_file)")
		}
		if e.URL != "" {
			// The error never repeats the URL, which may be a secret.
			if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(at+".url", "must be an http or https URL with a host")
			}
		}
		switch e.Format {
		case "standard":
			if e.SecretEnv == "" && e.SecretFile == "" {
				bad(at+".secret_env", "required for the standard format (or secret_file)")
			}
		case "slack":
		default:
			bad(at+".format", "must be standard or slack, got %q", e.Format)
		}
		for j, k := range e.Events {
			if !slices.Contains(AlertKinds, k) {
				bad(fmt.Sprintf("%s.events[%d]", at, j), "unknown alert kind %q (one of %s)", k, strings.Join(AlertKinds, ", "))
			}
		}
	}
	for i, t := range a.BudgetThresholds {
		if !(t > 0 && t <= 1000) {
			bad(fmt.Sprintf("alerts.budget_thresholds[%d]", i), "must be above 0 and at most 1000, got %v", t)
		}
	}
	if !(a.CommitmentBehind > 0 && a.CommitmentBehind < 1) {
		bad("alerts.commitment_behind", "must be between 0 and 1, got %v", a.CommitmentBehind)
	}
	if !(a.CommitmentAhead > 1) || math.IsInf(a.CommitmentAhead, 0) {
		bad("alerts.commitment_ahead", "must be above 1, got %v", a.CommitmentAhead)
	}
	if !(a.CommitmentGrace > 0 && a.CommitmentGrace < 1) {
		bad("alerts.commitment_grace", "must be between 0 and 1, got %v", a.CommitmentGrace)
	}
	for _, f := range []struct {
		name string
		v    Duration
	}{{"alerts.breaker_every", a.BreakerEvery}, {"alerts.check_interval", a.CheckInterval}, {"alerts.timeout", a.Timeout},
		{"alerts.max_elapsed", a.MaxElapsed}} {
		if f.v < 0 {
			bad(f.name, "must not be negative")
		}
	}
	if a.MaxAttempts < 0 || a.MaxAttempts > 100 {
		bad("alerts.max_attempts", "must be between 1 and 100, got %d", a.MaxAttempts)
	}
	if a.Concurrency < 0 || a.Concurrency > 256 {
		bad("alerts.concurrency", "must be between 1 and 256, got %d", a.Concurrency)
	}
	if a.Queue < 0 {
		bad("alerts.queue", "must not be negative")
	}
}
