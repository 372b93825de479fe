package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoad_Good(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.good.yaml")
	if len(files) == 0 {
		t.Fatal("no good files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoad_Defaults(t *testing.T) {
	c, err := Load("testdata/design.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Models[0].Route.MaxAttempts; got != 2 {
		t.Errorf("max_attempts = %d, want 2", got)
	}
	if got := c.Server.MaxBodyBytes; got != 10<<20 {
		t.Errorf("max_body_bytes = %d", got)
	}
	if got := c.Server.MaxStreamBytes; got != 16<<20 {
		t.Errorf("max_stream_bytes = %d", got)
	}
	if got := c.Providers[0].Timeout.Std(); got != 120*time.Second {
		t.Errorf("timeout = %v", got)
	}
	if got := c.Contracts[1].Commitment.Pacing; got != "even" {
		t.Errorf("pacing = %q", got)
	}
	want := Admission{Mode: "adaptive", MinInFlight: 32, MaxInFlight: 4096, MaxRequests: 4096, TargetDelay: Duration(5 * time.Millisecond),
		MaxStreams: 10000, Queue: 512, QueueTimeout: Duration(50 * time.Millisecond)}
	if got := c.Server.Admission; got != want {
		t.Errorf("server.admission = %+v, want %+v", got, want)
	}
}

func TestLoad_Bad(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"many.bad.yaml", []string{
			`listen: invalid address "nonsense"`,
			`server.read_timeout: must not be negative`,
			`server.max_header_bytes: must be at least 4096`,
			`server.max_connections: must not be negative`,
			`server.bedrock_regions[0]: "*" accepts every region and must be the only entry`,
			`server.bedrock_regions[1]: "US_EAST" is not a region name`,
			`models[2].name: 258 bytes, longer than server.max_model_name_bytes (256)`,
			`store.driver: must be sqlite or postgres, got "mysql"`,
			`store.outage: must be cached or closed, got "open"`,
			`ledger.queue_size: must not be negative`,
			`store.timeout: must be between 1ms and 10s, got 20s`,
			`limits.timeout: must be between 1ms and 10s, got -5ms`,
			`server.max_stream_bytes: must not be negative`,
			`limits.redis_url: must be a redis://`,
			`providers[0].base_url: required for type azure`,
			`providers[1].name: duplicate provider "a"`,
			`providers[2].type: unknown type "wat"`,
			`providers[3].headers.Authorization: secrets do not belong in the file`,
			`models[0].offerings[0].provider: unknown provider "nope"`,
			`models[0].route.strategy: unknown strategy "fastest"`,
			`models[1].name: "m" is already used by models[0].name`,
			`models[1].offerings: at least one offering is required`,
			`contracts[0].match.traffic: must be stateless or stateful`,
			`contracts[0].allow.providers[0]: unknown provider "ghost"`,
			`contracts[1].commitment.amount_usd: must be positive`,
			`contracts[1].commitment.period: must be day, week, month, quarter or year, got "fortnight"`,
		}},
		// An unknown field is reported with every other error, not alone.
		{"unknown_field.bad.yaml", []string{
			"providers[0].api_key: unknown field; did you mean api_key_env?",
			`providers[1].type: unknown type "wat"`,
			`models[0].offerings[0].provider: unknown provider "ghost"`,
		}},
		// Misspelt fields by YAML path with a suggestion, values of the
		// wrong kind by path; never a Go type.
		{"typo.bad.yaml", []string{
			"admin.tokn_env: unknown field; did you mean token_env?",
			"providers[0].fake.clod: unknown field; did you mean cloud?",
			"models[0].offerings[0].prvider: unknown field; did you mean provider?",
			"models[0].route.max_atempts: unknown field; did you mean max_attempts?",
			"colour: unknown field\n",
			`store.timeout: must be between 1ms and 10s`,
			`server.max_body_bytes (line 12): want an integer, got "lots"`,
		}},
		{"breaker.bad.yaml", []string{
			"breaker.error_rate: must be above 0 and at most 1, got 1.5",
			"breaker.min_requests: must be at least 1, got -1",
			"breaker.consecutive_failures: must be at least 1, got -3",
			"breaker.probes: must be at least 1, got -1",
			"breaker.window: must be at least 1s, got 500ms",
			"breaker.probe_timeout: must be positive, got -1s",
			"breaker.rate_limit_cool_down: must be positive, got -2s",
			"breaker.max_cool_off: must be at least cool_off (1m0s), got 30s",
		}},
		{"tls.bad.yaml", []string{
			"server.tls.key_file: required with cert_file",
			"admin.tls.cert_file: required with key_file",
			"admin.tls.client_ca_file: needs admin.tls.cert_file and key_file",
		}},
		{"proxies.bad.yaml", []string{
			`server.trusted_proxies[2]: "10.1.2.3/8" is not a CIDR prefix`,
			`server.trusted_proxies[3]: "proxy.internal" is not a CIDR prefix`,
		}},
		{"admission.bad.yaml", []string{
			`server.admission.mode: must be adaptive, fixed or off, got "lenient"`,
			`server.admission.max_requests: must not be negative`,
			`server.admission.max_streams: must not be negative`,
			`server.admission.min_in_flight: must not exceed max_in_flight (10)`,
			`server.admission.queue: must be -1 (no queue) or more`,
			`server.admission.queue_timeout: must not be negative`,
		}},
		{"tracing.bad.yaml", []string{
			`telemetry.tracing.protocol: must be http/protobuf or grpc, got "zipkin"`,
			`telemetry.tracing.endpoint: must be an http:// or https:// URL`,
			`telemetry.tracing.sample_ratio: must be above 0 and at most 1`,
		}},
		{"discount.bad.yaml", []string{
			"providers[0].price.discount_pct: must be a percentage from 0 to 100, got 120",
			"providers[1].price.discount_pct: must be a percentage from 0 to 100, got -5",
			"models[0].offerings[0].price.discount_pct: must be a percentage from 0 to 100, got 100.5",
			"models[0].offerings[1].price: free excludes the rates and the discount",
		}},
		{"log.bad.yaml", []string{
			"log.flush_interval: must be at most 10s",
		}},
		{"payloads.bad.yaml", []string{
			"log.payloads.max_bytes: must be between 0 and 1048576, got 2000000",
			"log.payloads.retention: must not be negative",
			"log.payloads.rules[0].sample_rate: must be between 0 and 1, got 1.5",
			`log.payloads.rules[1].model: bad glob "gpt-["`,
			"log.payloads.redact[1]: bad regular expression \"a(b\"",
		}},
		{"alerts.bad.yaml", []string{
			"alerts.endpoints[0].url: must be an http or https URL with a host",
			"alerts.endpoints[0].secret_env: required for the standard format (or secret_file)",
			`alerts.endpoints[0].events[0]: unknown alert kind "budget"`,
			`alerts.endpoints[1].name: "ops" appears twice`,
			`alerts.endpoints[1].format: must be standard or slack, got "teams"`,
			"alerts.endpoints[1].url_file: exclusive with alerts.endpoints[1].url_env",
			"alerts.endpoints[2].name: required",
			"alerts.budget_thresholds[0]: must be above 0 and at most 1000, got 0",
			"alerts.commitment_behind: must be between 0 and 1, got 1.5",
			"alerts.commitment_ahead: must be above 1, got 0.9",
			"alerts.max_attempts: must be between 1 and 100, got -1",
		}},
		{"vertex.bad.yaml", []string{
			"providers[0].project: required for type vertex",
			"providers[0].api_key_env: not for type vertex",
			`providers[1].location: is region's alias; "europe-west4" and "us-east5" disagree`,
			"providers[2].region: required for type vertex (or location)",
			`providers[3].region: "us east/5" is not a Vertex location`,
			"providers[4].project: only for type vertex",
			"providers[4].credentials_file: only for type vertex",
			"models[0].offerings[0].price: free excludes the rates",
		}},
		// A secret from an environment variable and from a file at once
		// is refused, naming both; the rules that take an _env form take
		// its _file form too.
		{"secretfiles.bad.yaml", []string{
			"admin.token_file: exclusive with admin.token_env",
			"store.dsn_file: exclusive with store.dsn_env",
			"limits.redis_url_file: exclusive with limits.redis_url_env",
			"providers[0].api_key_file: exclusive with providers[0].api_key_env",
			"providers[1].access_key_id_file: exclusive with providers[1].access_key_id_env",
			"providers[1].secret_access_key_file: exclusive with providers[1].secret_access_key_env",
			"providers[1].session_token_file: exclusive with providers[1].session_token_env",
			"providers[2]: access_key_id_env (or _file) and secret_access_key_env (or _file) go together",
			"providers[3].api_key_file: not for type vertex",
			"providers[4].auth: entra and api_key_env (or api_key_file) are exclusive",
		}},
		{"oidc.bad.yaml", []string{
			`admin.oidc.issuer: must be an http:// or https:// URL, got "keycloak.example.com/realms/main"`,
			"admin.oidc.client_id: required",
			"admin.oidc.client_secret_file: exclusive with admin.oidc.client_secret_env",
			`admin.oidc.redirect_url: must be an http:// or https:// URL, got "ftp://x/cb"`,
			`admin.oidc.scopes[1]: must be one word, got "two words"`,
			"admin.oidc.roles[0]: group and claim are exclusive",
			"admin.oidc.roles[1]: set group or claim",
			"admin.oidc.roles[2].value: required with claim",
			"admin.oidc.roles[3].tenants: required for tenant-admin",
			`admin.oidc.roles[4].role: must be one of viewer, tenant-admin, operator, admin, got "root"`,
			"admin.oidc.roles[5].tenants: only for tenant-admin",
		}},
		{"auth.bad.yaml", []string{
			"providers[0].auth: entra and api_key_env (or api_key_file) are exclusive",
			"providers[1].auth: entra is for type azure only",
			`providers[2].auth: must be api_key or entra, got "oauth"`,
			"providers[3].fake: fail_rate and hang_rate add up to more than 1",
			"providers[3].fake.cut_stream_after: must not be negative",
			`contracts[0].allow.provider_types[0]: unknown provider type "azur"`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tc.file))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
		})
	}
}

func TestParse_OIDCDefaults(t *testing.T) {
	c, err := Parse([]byte("admin:\n  oidc: {issuer: https://id.example.com, client_id: sy, roles: [{group: sre, role: operator}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Admin.OIDC.Scopes; strings.Join(got, " ") != "openid email profile" {
		t.Errorf("scopes = %v, want openid email profile", got)
	}
	if got := c.Admin.OIDC.GroupsClaim; got != "groups" {
		t.Errorf("groups_claim = %q, want groups", got)
	}
	if c, err := Parse([]byte("admin: {listen: off}\n")); err != nil || c.Admin.OIDC != nil {
		t.Errorf("no admin.oidc: got %+v, %v; want it absent", c.Admin.OIDC, err)
	}
}

func TestParse_BreakerDefaults(t *testing.T) {
	c, err := Parse([]byte("breaker: {cool_off: 3s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Breaker{ErrorRate: 0.5, MinRequests: 20, Window: Duration(30 * time.Second), ConsecutiveFailures: 20,
		CoolOff: Duration(3 * time.Second), MaxCoolOff: Duration(5 * time.Minute), Probes: 1,
		ProbeTimeout: Duration(3 * time.Second), RateLimitCoolDown: Duration(time.Second)}
	if c.Breaker != want {
		t.Errorf("breaker defaults:\n got %+v\nwant %+v", c.Breaker, want)
	}
}

func TestParse_Empty(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.Store.Driver != "sqlite" || c.Store.Outage != "cached" ||
		c.Store.OutageMaxStale.Std() != 10*time.Minute || c.Ledger.QueueSize != 16384 ||
		c.Store.Timeout.Std() != 250*time.Millisecond || c.Limits.Timeout.Std() != 100*time.Millisecond {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestLoad_Missing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("err = %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestLoad_EdgeDefaults(t *testing.T) {
	c, err := Load("testdata/design.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	if s.ReadHeaderTimeout.Std() != 10*time.Second || s.ReadTimeout.Std() != 30*time.Second || s.IdleTimeout.Std() != 120*time.Second {
		t.Errorf("timeouts = %v, %v, %v", s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout)
	}
	if s.MaxHeaderBytes != 64<<10 || s.MaxModelNameBytes != 256 || s.AdminMaxConnections != 256 {
		t.Errorf("max_header_bytes %d, max_model_name_bytes %d, admin_max_connections %d", s.MaxHeaderBytes, s.MaxModelNameBytes, s.AdminMaxConnections)
	}
	if want := defaultMaxConnections(openFileLimit()); s.MaxConnections != want {
		t.Errorf("max_connections = %d, want %d", s.MaxConnections, want)
	}
	if got, want := strings.Join(s.BedrockRegions, ","), "us-east-1"; got != want {
		t.Errorf("bedrock_regions = %s, want %s", got, want)
	}
}

func TestDefaultMaxConnections(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		want  int
	}{{0, 4096}, {20000, 15000}, {1024, 768}, {50, 64}, {1 << 20, 100000}} {
		if got := defaultMaxConnections(tc.limit); got != tc.want {
			t.Errorf("defaultMaxConnections(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
}

func TestParse_SecretFiles(t *testing.T) {
	c, err := Parse([]byte("admin: {token_file: /run/secrets/admin}\nstore: {driver: postgres, dsn_file: /run/secrets/dsn}\n" +
		"limits: {backend: redis, redis_url_file: /run/secrets/redis}\n"))
	if err != nil {
		t.Fatal(err)
	}
	// The default token_env does not apply when token_file is set.
	if c.Admin.TokenEnv != "" || c.Admin.TokenFile != "/run/secrets/admin" {
		t.Errorf("admin = %+v", c.Admin)
	}
	if c.Store.DSNFile != "/run/secrets/dsn" || c.Limits.RedisURLFile != "/run/secrets/redis" {
		t.Errorf("store = %+v, limits = %+v", c.Store, c.Limits)
	}
}
