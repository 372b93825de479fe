package deploy

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"switchyard/internal/config"
	"switchyard/internal/telemetry"
)

// composeFile is the part of the Compose specification deploy/compose uses.
// Decoding is strict, so a misspelt key in the file fails the test instead
// of being ignored by this check (Compose itself would refuse it too).
type composeFile struct {
	Name        string                    `json:"name"`
	XSwitchyard json.RawMessage           `json:"x-switchyard"`
	Services    map[string]composeService `json:"services"`
	Volumes     map[string]any            `json:"volumes"`
}

type composeService struct {
	Image string `json:"image"`
	Build *struct {
		Context string `json:"context"`
	} `json:"build"`
	Command         []string            `json:"command"`
	User            string              `json:"user"`
	ReadOnly        bool                `json:"read_only"`
	Tmpfs           []string            `json:"tmpfs"`
	Restart         string              `json:"restart"`
	StopGracePeriod string              `json:"stop_grace_period"`
	Volumes         []string            `json:"volumes"`
	Ports           []string            `json:"ports"`
	Environment     map[string]string   `json:"environment"`
	DependsOn       json.RawMessage     `json:"depends_on"`
	Healthcheck     *composeHealthcheck `json:"healthcheck"`
}

type composeHealthcheck struct {
	Test        []string `json:"test"`
	Interval    string   `json:"interval"`
	Timeout     string   `json:"timeout"`
	Retries     int      `json:"retries"`
	StartPeriod string   `json:"start_period"`
}

const composeDir = "compose"

func strictYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	strictErrs, err := kjson.UnmarshalStrict(js, into)
	if err := errors.Join(append(strictErrs, err)...); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestCompose_Topology checks deploy/compose: two gateway replicas built
// from the repository's Dockerfile, running as a non-root user on a
// read-only root, sharing Postgres and Redis, mounting a configuration the
// gateway's own loader accepts, with every variable it names set; the load
// balancer, Prometheus and Grafana pointed at the right services and ports.
func TestCompose_Topology(t *testing.T) {
	var cf composeFile
	strictYAML(t, filepath.Join(composeDir, "docker-compose.yaml"), &cf)

	replicas := []string{"switchyard-1", "switchyard-2"}
	var names []string
	for n := range cf.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{"fakecloud", "grafana", "lb", "postgres", "prometheus", "redis", "switchyard-1", "switchyard-2"}
	if !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}

	cfgPath := filepath.Join(composeDir, "switchyard.yaml")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("the mounted configuration does not load: %v", err)
	}
	if cfg.Store.Driver != "postgres" || cfg.Limits.Backend != "redis" {
		t.Errorf("replicas must share state: store %q, limits %q", cfg.Store.Driver, cfg.Limits.Backend)
	}
	_, clientPort, _ := net.SplitHostPort(cfg.Listen)
	_, adminPort, _ := net.SplitHostPort(cfg.Admin.Listen)
	if h, _, _ := net.SplitHostPort(cfg.Listen); h != "" && h != "0.0.0.0" {
		t.Errorf("listen %q is not reachable from other containers", cfg.Listen)
	}
	// Every host the configuration dials is a service of the topology.
	hosts := map[string]string{"limits.redis_url": cfg.Limits.RedisURL}
	for _, p := range cfg.Providers {
		hosts["providers "+p.Name] = p.BaseURL
	}
	for what, raw := range hosts {
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		if _, ok := cf.Services[u.Hostname()]; !ok {
			t.Errorf("%s dials %q, not a service of the topology", what, u.Hostname())
		}
	}

	for _, name := range replicas {
		s := cf.Services[name]
		if s.Build == nil || filepath.Clean(filepath.Join(composeDir, s.Build.Context)) != ".." {
			t.Errorf("%s is not built from the repository root: %+v", name, s.Build)
		} else if _, err := os.Stat(filepath.Join(composeDir, s.Build.Context, "Dockerfile")); err != nil {
			t.Errorf("%s: no Dockerfile in its build context: %v", name, err)
		}
		if s.User != "65532:65532" || !s.ReadOnly || !slices.Contains(s.Tmpfs, "/tmp") {
			t.Errorf("%s: user %q, read_only %v, tmpfs %v; want the image's non-root user on a read-only root with /tmp", name, s.User, s.ReadOnly, s.Tmpfs)
		}
		if !slices.Contains(s.Volumes, "./switchyard.yaml:/etc/switchyard/switchyard.yaml:ro") ||
			!slices.Equal(s.Command, []string{"serve", "-config", "/etc/switchyard/switchyard.yaml"}) {
			t.Errorf("%s does not serve the mounted configuration: %v %v", name, s.Command, s.Volumes)
		}
		for _, env := range envNames(cfg) {
			if _, ok := s.Environment[env]; !ok {
				t.Errorf("%s: the configuration names %s, which the service does not set", name, env)
			}
		}
		if dsn := s.Environment[cfg.Store.DSNEnv]; !strings.Contains(dsn, "@postgres:5432/") {
			t.Errorf("%s: %s = %q does not point at the postgres service", name, cfg.Store.DSNEnv, dsn)
		}
		var deps map[string]struct {
			Condition string `json:"condition"`
		}
		if err := json.Unmarshal(s.DependsOn, &deps); err != nil {
			t.Fatalf("%s depends_on: %v", name, err)
		}
		for _, d := range []string{"postgres", "redis"} {
			if deps[d].Condition != "service_healthy" {
				t.Errorf("%s starts before %s is healthy", name, d)
			}
		}
		if s.Healthcheck == nil || !slices.Equal(s.Healthcheck.Test[:3], []string{"CMD", "/usr/local/bin/switchyard", "healthcheck"}) {
			t.Errorf("%s: health check %+v, want the binary's own (the image has no shell)", name, s.Healthcheck)
		}
		grace, err := time.ParseDuration(s.StopGracePeriod)
		if err != nil || grace <= cfg.Server.ShutdownTimeout.Std() {
			t.Errorf("%s: stop_grace_period %q does not cover server.shutdown_timeout %s", name, s.StopGracePeriod, cfg.Server.ShutdownTimeout.Std())
		}
	}

	// The load balancer spreads over both replicas' client ports.
	nginx, err := os.ReadFile(filepath.Join(composeDir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var upstreams []string
	for _, m := range regexp.MustCompile(`(?m)^\s*server\s+([^\s;{]+)[^{;]*;`).FindAllStringSubmatch(string(nginx), -1) {
		upstreams = append(upstreams, m[1])
	}
	if want := []string{"switchyard-1:" + clientPort, "switchyard-2:" + clientPort}; !slices.Equal(upstreams, want) {
		t.Errorf("nginx upstream servers %v, want %v", upstreams, want)
	}

	// Prometheus scrapes both replicas' admin listeners.
	var prom struct {
		Global        map[string]string `json:"global"`
		RuleFiles     []string          `json:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			MetricsPath   string `json:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	strictYAML(t, filepath.Join(composeDir, "prometheus.yml"), &prom)
	var targets []string
	for _, sc := range prom.ScrapeConfigs {
		if sc.MetricsPath != "/metrics" {
			t.Errorf("job %s scrapes %q", sc.JobName, sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	if want := []string{"switchyard-1:" + adminPort, "switchyard-2:" + adminPort}; !slices.Equal(targets, want) {
		t.Errorf("prometheus targets %v, want %v", targets, want)
	}
	if !slices.Contains(cf.Services["prometheus"].Volumes, "./prometheus.yml:/etc/prometheus/prometheus.yml:ro") {
		t.Error("prometheus does not mount prometheus.yml")
	}
	// It evaluates the shipped alerting rules.
	const rules = "/etc/prometheus/switchyard-alerts.yaml"
	if !slices.Equal(prom.RuleFiles, []string{rules}) ||
		!slices.Contains(cf.Services["prometheus"].Volumes, "../prometheus/alerts.yaml:"+rules+":ro") {
		t.Errorf("prometheus rule files %v: want the mounted deploy/prometheus/alerts.yaml", prom.RuleFiles)
	}

	// Grafana reads the provisioned datasource and the dashboard.
	var ds struct {
		APIVersion  int `json:"apiVersion"`
		Datasources []struct {
			Name      string `json:"name"`
			UID       string `json:"uid"`
			Type      string `json:"type"`
			Access    string `json:"access"`
			URL       string `json:"url"`
			IsDefault bool   `json:"isDefault"`
			Editable  bool   `json:"editable"`
		} `json:"datasources"`
	}
	strictYAML(t, filepath.Join(composeDir, "grafana/provisioning/datasources/prometheus.yaml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].URL != "http://prometheus:9090" || ds.Datasources[0].UID != "prometheus" {
		t.Errorf("grafana datasource %+v, want uid prometheus at http://prometheus:9090", ds.Datasources)
	}
	var dp struct {
		APIVersion int `json:"apiVersion"`
		Providers  []struct {
			Name            string            `json:"name"`
			Folder          string            `json:"folder"`
			Type            string            `json:"type"`
			DisableDeletion bool              `json:"disableDeletion"`
			Options         map[string]string `json:"options"`
		} `json:"providers"`
	}
	strictYAML(t, filepath.Join(composeDir, "grafana/provisioning/dashboards/switchyard.yaml"), &dp)
	mounted := false
	for _, v := range cf.Services["grafana"].Volumes {
		parts := strings.Split(v, ":")
		if len(dp.Providers) == 1 && parts[0] == "../grafana/switchyard.json" && filepath.Dir(parts[1]) == dp.Providers[0].Options["path"] {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("the dashboard is not mounted where the provisioning reads it (%+v)", dp.Providers)
	}
}

// TestDashboard_Metrics checks that every metric the Grafana dashboard
// queries is one the gateway exports, with the labels it groups by, and
// that every panel reads the provisioned datasource.
func TestDashboard_Metrics(t *testing.T) {
	exported := exportedMetrics(t)
	raw, err := os.ReadFile("grafana/switchyard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	metricRE := regexp.MustCompile(`\b(?:switchyard|process|go)_[a-z_]+\b`)
	byRE := regexp.MustCompile(`by \(([^)]*)\)`)
	queried := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "prometheus" {
			t.Errorf("panel %q does not read the provisioned datasource", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := metricRE.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: no metric in %q", p.Title, tg.Expr)
			}
			var labels []string
			for _, name := range names {
				l, ok := exported[name]
				if !ok {
					t.Errorf("panel %q queries %s, which the gateway does not export", p.Title, name)
					continue
				}
				labels = append(labels, l...)
				queried++
			}
			for _, m := range byRE.FindAllStringSubmatch(tg.Expr, -1) {
				for _, l := range strings.Split(m[1], ",") {
					l = strings.TrimSpace(l)
					// instance and job are Prometheus's target labels.
					if l != "instance" && l != "job" && !slices.Contains(labels, l) {
						t.Errorf("panel %q groups by %q, which %v do not carry", p.Title, l, names)
					}
				}
			}
		}
	}
	if queried == 0 {
		t.Fatal("the dashboard queries nothing")
	}
}

// exportedMetrics returns the gateway's metric names (histograms with
// their _bucket, _sum and _count series) and each one's labels, gathered
// from the real registry after every collector has seen a sample.
func exportedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	m := telemetry.NewMetrics()
	m.WatchChannels(func() []telemetry.ChannelState {
		return []telemetry.ChannelState{{Channel: "c", State: "closed"}}
	})
	m.WatchAdmission(func() telemetry.AdmissionState {
		return telemetry.AdmissionState{Refused: map[string]uint64{"queue_full": 1}}
	})
	m.WatchDependencies(func() []telemetry.DependencyState {
		return []telemetry.DependencyState{{Dependency: "store", Up: true}}
	})
	m.WatchCommitments(func() []telemetry.CommitmentState {
		return []telemetry.CommitmentState{{Contract: "k", Channel: "c", AmountUSD: 10, SpentUSD: 1, DueUSD: 2}}
	})
	m.WatchBudgets(func() []telemetry.BudgetState {
		return []telemetry.BudgetState{{Tenant: "t", UsedRatio: 0.5}}
	})
	m.WatchStreams(func() int64 { return 1 })
	m.Attempt("c", "ok")
	m.AttemptEnded("c", time.Second, "rate_limited")
	m.ConnectionRefused("client")
	m.LedgerError()
	h := telemetry.Middleware(slog.New(slog.DiscardHandler), m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := telemetry.InfoFrom(r.Context())
		in.Model, in.ModelKnown, in.Provider, in.Dialect, in.Input, in.Output = "m", true, "c", "openai", 1, 3
		in.Stream, in.TTFT = true, time.Nanosecond
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil))
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, f := range families {
		var labels []string
		for _, mt := range f.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if !slices.Contains(labels, lp.GetName()) {
					labels = append(labels, lp.GetName())
				}
			}
		}
		out[f.GetName()] = labels
		if f.GetType().String() == "HISTOGRAM" {
			out[f.GetName()+"_bucket"] = append(slices.Clone(labels), "le")
			out[f.GetName()+"_sum"] = labels
			out[f.GetName()+"_count"] = labels
		}
	}
	return out
}

// ruleFile is the part of a Prometheus rule file alerts.yaml uses.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// TestAlertRules_Metrics checks that every metric the alerting rules
// query is one the gateway exports, with the labels they group and match
// by, and that every rule has a severity and a summary.
func TestAlertRules_Metrics(t *testing.T) {
	exported := exportedMetrics(t)
	raw, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(raw, &rf); err != nil {
		t.Fatal(err)
	}
	metricRE := regexp.MustCompile(`\b(?:switchyard|process|go)_[a-z_]+\b`)
	byRE := regexp.MustCompile(`by \(([^)]*)\)`)
	matchRE := regexp.MustCompile(`([a-z_]+)(?:=~|!~|!=|=)"`)
	rules := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			rules++
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %s: no severity or summary", r.Alert)
			}
			names := metricRE.FindAllString(r.Expr, -1)
			if len(names) == 0 {
				t.Errorf("rule %s: no metric in %q", r.Alert, r.Expr)
			}
			var labels []string
			for _, name := range names {
				l, ok := exported[name]
				if !ok {
					t.Errorf("rule %s queries %s, which the gateway does not export", r.Alert, name)
					continue
				}
				labels = append(labels, l...)
			}
			var used []string
			for _, m := range byRE.FindAllStringSubmatch(r.Expr, -1) {
				used = append(used, strings.Split(m[1], ",")...)
			}
			for _, m := range matchRE.FindAllStringSubmatch(r.Expr, -1) {
				used = append(used, m[1])
			}
			for _, l := range used {
				l = strings.TrimSpace(l)
				if l != "instance" && l != "job" && !slices.Contains(labels, l) {
					t.Errorf("rule %s uses label %q, which %v do not carry", r.Alert, l, names)
				}
			}
		}
	}
	if rules == 0 {
		t.Fatal("alerts.yaml holds no rule")
	}
}

// promtoolPath finds promtool. It skips the test where promtool is not
// installed, unless SWITCHYARD_TEST_PROMTOOL is set (CI), where it must
// run.
func promtoolPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("SWITCHYARD_TEST_PROMTOOL") != "" {
			t.Fatal("SWITCHYARD_TEST_PROMTOOL is set but promtool is not installed")
		}
		t.Skip("promtool is not installed (Debian: apt-get install prometheus)")
	}
	return path
}

// TestAlertRules_PromtoolUnit runs the rules' unit tests
// (prometheus/alerts_test.yaml) with promtool.
func TestAlertRules_PromtoolUnit(t *testing.T) {
	out, err := exec.Command(promtoolPath(t), "test", "rules", "prometheus/alerts_test.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Errorf("promtool test rules said:\n%s", out)
	}
}

// TestAlertRules_Promtool checks the rules with Prometheus's own
// promtool.
func TestAlertRules_Promtool(t *testing.T) {
	path := promtoolPath(t)
	out, err := exec.Command(path, "check", "rules", "prometheus/alerts.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Errorf("promtool check rules said:\n%s", out)
	}
}
