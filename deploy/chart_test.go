package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"switchyard/internal/config"
)

const chartDir = "helm/switchyard"

// serviceMonitor is the part of prometheus-operator's ServiceMonitor
// (monitoring.coreos.com/v1) the chart writes. The operator's Go types pull
// in most of the operator, so the fields are declared here; strict decoding
// still refuses anything the chart writes that this does not know.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// prometheusRule is prometheus-operator's PrometheusRule
// (monitoring.coreos.com/v1), as far as the chart writes it: its groups
// are those of a Prometheus rule file.
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ruleFile `json:"spec"`
}

// rendered is one release's manifests, decoded.
type rendered struct {
	configMaps      []corev1.ConfigMap
	deployments     []appsv1.Deployment
	services        []corev1.Service
	serviceAccounts []corev1.ServiceAccount
	pvcs            []corev1.PersistentVolumeClaim
	ingresses       []networkingv1.Ingress
	hpas            []autoscalingv2.HorizontalPodAutoscaler
	pdbs            []policyv1.PodDisruptionBudget
	netpols         []networkingv1.NetworkPolicy
	monitors        []serviceMonitor
	rules           []prometheusRule
	kinds           []string
}

// render renders the chart with Helm's own engine, as `helm install` would
// for a release "sy" in namespace "ai", with values layered over the
// chart's defaults.
func render(t *testing.T, values map[string]any) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading chart: %v", err)
	}
	if err := ch.Validate(); err != nil {
		t.Fatalf("chart metadata: %v", err)
	}
	vals, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{
		Name: "sy", Namespace: "ai", Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, vals)
}

// decode splits the rendered templates into documents and decodes each
// strictly (unknown or duplicate fields are errors) into its API type.
func decode(t *testing.T, out map[string]string) *rendered {
	t.Helper()
	r := &rendered{}
	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") || strings.HasPrefix(filepath.Base(name), "_") {
			continue
		}
		for i, doc := range strings.Split(out[name], "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			if err := r.add([]byte(doc)); err != nil {
				t.Fatalf("%s document %d: %v\n%s", name, i, err, doc)
			}
		}
	}
	return r
}

func (r *rendered) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	kind := tm.APIVersion + "/" + tm.Kind
	r.kinds = append(r.kinds, kind)
	// Decoded as the API server decodes: field names match case-sensitively
	// (encoding/json alone would take "sizelimit" for "sizeLimit"), and
	// unknown or duplicate fields are errors.
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict := func(into any) error {
		strictErrs, err := kjson.UnmarshalStrict(js, into)
		return errors.Join(append(strictErrs, err)...)
	}
	switch kind {
	case "v1/ConfigMap":
		return decodeInto(strict, &r.configMaps)
	case "v1/Service":
		return decodeInto(strict, &r.services)
	case "v1/ServiceAccount":
		return decodeInto(strict, &r.serviceAccounts)
	case "v1/PersistentVolumeClaim":
		return decodeInto(strict, &r.pvcs)
	case "apps/v1/Deployment":
		return decodeInto(strict, &r.deployments)
	case "networking.k8s.io/v1/Ingress":
		return decodeInto(strict, &r.ingresses)
	case "networking.k8s.io/v1/NetworkPolicy":
		return decodeInto(strict, &r.netpols)
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return decodeInto(strict, &r.hpas)
	case "policy/v1/PodDisruptionBudget":
		return decodeInto(strict, &r.pdbs)
	case "monitoring.coreos.com/v1/ServiceMonitor":
		return decodeInto(strict, &r.monitors)
	case "monitoring.coreos.com/v1/PrometheusRule":
		return decodeInto(strict, &r.rules)
	}
	return fmt.Errorf("unexpected kind %s", kind)
}

func decodeInto[T any](strict func(any) error, list *[]T) error {
	var v T
	if err := strict(&v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}

func readValues(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := chartutil.ReadValues(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// TestChart_Render renders the chart for its default values and for every
// values file under ci/, decodes every manifest strictly into the
// Kubernetes API types, and checks that the objects fit together: the
// configuration passes the gateway's own loader, every variable it names
// comes from the pod's environment, probes, ports, selectors and security
// settings are what the gateway and a restricted namespace need.
func TestChart_Render(t *testing.T) {
	sets := []struct {
		name   string
		values string // a file under the chart's ci/, or "" for the defaults
		kinds  []string
	}{
		{"defaults", "", []string{"v1/ConfigMap", "v1/Service", "v1/ServiceAccount", "apps/v1/Deployment"}},
		{"sqlite_persistent", "sqlite-persistent-values.yaml", []string{"v1/ConfigMap", "v1/Service", "v1/ServiceAccount", "v1/PersistentVolumeClaim", "apps/v1/Deployment"}},
		{"scale_out", "scale-out-values.yaml", []string{"v1/ConfigMap", "v1/Service", "v1/ServiceAccount", "apps/v1/Deployment"}},
		{"everything", "everything-values.yaml", []string{"v1/ConfigMap", "v1/Service", "v1/ServiceAccount", "apps/v1/Deployment",
			"networking.k8s.io/v1/Ingress", "autoscaling/v2/HorizontalPodAutoscaler", "policy/v1/PodDisruptionBudget",
			"monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule", "networking.k8s.io/v1/NetworkPolicy"}},
	}
	files, _ := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	for _, f := range files {
		if !slices.ContainsFunc(sets, func(s struct {
			name   string
			values string
			kinds  []string
		}) bool {
			return s.values == filepath.Base(f)
		}) {
			t.Errorf("%s is not rendered by this test; add it to the table", f)
		}
	}
	for _, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			var values map[string]any
			if set.values != "" {
				values = readValues(t, filepath.Join(chartDir, "ci", set.values))
			}
			out, err := render(t, values)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			r := decode(t, out)
			got := slices.Clone(r.kinds)
			want := slices.Clone(set.kinds)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("rendered kinds %v, want %v", got, want)
			}
			checkRelease(t, r)
		})
	}
}

func checkRelease(t *testing.T, r *rendered) {
	t.Helper()
	if len(r.deployments) != 1 || len(r.configMaps) != 1 || len(r.services) != 1 {
		t.Fatalf("want one Deployment, ConfigMap and Service, got %d, %d, %d", len(r.deployments), len(r.configMaps), len(r.services))
	}
	dep, cm, svc := r.deployments[0], r.configMaps[0], r.services[0]
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]

	// The configuration is one the gateway accepts, and listens where the
	// container's ports are.
	raw, ok := cm.Data["switchyard.yaml"]
	if !ok {
		t.Fatalf("ConfigMap has no switchyard.yaml: %v", cm.Data)
	}
	cfg, err := config.Parse([]byte(raw))
	if err != nil {
		t.Fatalf("the rendered configuration does not load:\n%v\n%s", err, raw)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if cfg.Listen != fmt.Sprintf(":%d", ports["http"]) || cfg.Admin.Listen != fmt.Sprintf(":%d", ports["admin"]) {
		t.Errorf("config listens on %q and %q, container ports are %v", cfg.Listen, cfg.Admin.Listen, ports)
	}
	if !slices.Contains(c.Args, "/etc/switchyard/switchyard.yaml") || c.Args[0] != "serve" {
		t.Errorf("container args %v do not serve the mounted config", c.Args)
	}

	// Every variable the configuration names is set in the pod, each
	// secret from a Secret; and nothing is read from a Secret that the
	// gateway does not use.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for _, name := range envNames(cfg) {
		e, ok := env[name]
		if !ok {
			t.Errorf("the configuration names %s, which the pod does not set", name)
			continue
		}
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name == "" || e.ValueFrom.SecretKeyRef.Key == "" {
			t.Errorf("%s is not read from a Secret: %+v", name, e)
		}
	}
	for name, e := range env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !slices.Contains(envNames(cfg), name) && name != "SWITCHYARD_MASTER_KEY" {
			t.Errorf("the pod reads %s from a Secret, but the configuration does not name it", name)
		}
	}

	// Probes on the gateway's real paths, on the client port.
	for _, p := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{{"startup", c.StartupProbe, "/healthz"}, {"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no %s probe", p.what)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe GETs %s on %s, want %s on http", p.what, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
	}

	// A restricted namespace admits the pod: non-root, read-only root file
	// system, no capabilities, no privilege escalation, a seccomp profile.
	sc, psc := c.SecurityContext, pod.SecurityContext
	if sc == nil || psc == nil {
		t.Fatal("no security context")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod may run as root: %+v", psc)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccomp profile %+v", psc.SeccompProfile)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("root file system is writable")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("privilege escalation allowed")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities %+v, want ALL dropped", sc.Capabilities)
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Error("no memory limit: the gateway's Go memory limit is derived from it")
	}

	// The writable places are volumes: the store's directory and /tmp; the
	// configuration is mounted read-only.
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	if m, ok := mounts["/etc/switchyard"]; !ok || !m.ReadOnly {
		t.Errorf("config mount %+v", m)
	}
	for _, p := range []string{"/tmp", "/var/lib/switchyard"} {
		if _, ok := mounts[p]; !ok {
			t.Errorf("nothing writable mounted at %s", p)
		}
	}
	// Every secret file the configuration names is in a read-only mount
	// of a Secret.
	secretVolumes := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.Secret != nil && v.Secret.SecretName != "" {
			secretVolumes[v.Name] = true
		}
	}
	for _, f := range secretFiles(cfg) {
		m, ok := mounts[filepath.Dir(f)]
		if !ok || !m.ReadOnly || !secretVolumes[m.Name] {
			t.Errorf("the configuration names %s, which is not in a read-only mount of a Secret (%+v)", f, m)
		}
	}
	if cfg.Store.Driver == "sqlite" {
		if !strings.HasPrefix(cfg.Store.DSN, "/var/lib/switchyard/") {
			t.Errorf("sqlite database %q is not on the data volume", cfg.Store.DSN)
		}
		if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("sqlite deployment strategy %q, want Recreate (one pod owns the file)", dep.Spec.Strategy.Type)
		}
	} else if dep.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("deployment strategy %q, want RollingUpdate", dep.Spec.Strategy.Type)
	}
	if len(r.pvcs) > 0 {
		var claim string
		for _, v := range pod.Volumes {
			if v.Name == "data" && v.PersistentVolumeClaim != nil {
				claim = v.PersistentVolumeClaim.ClaimName
			}
		}
		if claim != r.pvcs[0].Name {
			t.Errorf("data volume claims %q, the chart made %q", claim, r.pvcs[0].Name)
		}
	}
	if shutdown := int64(cfg.Server.ShutdownTimeout.Std().Seconds()); pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds <= shutdown {
		t.Errorf("termination grace period %v does not cover server.shutdown_timeout (%ds)", pod.TerminationGracePeriodSeconds, shutdown)
	}
	if dep.Spec.Template.Annotations["checksum/config"] == "" {
		t.Error("no config checksum: a changed configuration would not roll the pods")
	}

	// Selectors find the pods; named ports exist.
	podLabels := labels.Set(dep.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		t.Errorf("deployment selector %v does not match its pods %v", dep.Spec.Selector, podLabels)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("service selector %v does not match the pods", svc.Spec.Selector)
	}
	svcPorts := map[string]bool{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Name] = true
		if _, ok := ports[p.TargetPort.String()]; !ok {
			t.Errorf("service port %s targets %s, not a container port", p.Name, p.TargetPort.String())
		}
	}
	if !svcPorts["http"] || !svcPorts["admin"] {
		t.Errorf("service ports %v, want http and admin", svcPorts)
	}
	if len(r.serviceAccounts) == 1 && pod.ServiceAccountName != r.serviceAccounts[0].Name {
		t.Errorf("pod runs as %q, the chart made %q", pod.ServiceAccountName, r.serviceAccounts[0].Name)
	}
	for _, ing := range r.ingresses {
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if b := p.Backend.Service; b == nil || b.Name != svc.Name || b.Port.Name != "http" {
					t.Errorf("ingress backend %+v, want the service's http port (never admin)", p.Backend)
				}
			}
		}
	}
	for _, hpa := range r.hpas {
		if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != dep.Name {
			t.Errorf("autoscaler targets %+v", hpa.Spec.ScaleTargetRef)
		}
		if dep.Spec.Replicas != nil {
			t.Error("the Deployment sets replicas while an autoscaler owns them")
		}
	}
	for _, pdb := range r.pdbs {
		s, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !s.Matches(podLabels) {
			t.Errorf("disruption budget selector %v does not match the pods", pdb.Spec.Selector)
		}
	}
	for _, sm := range r.monitors {
		s, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil || !s.Matches(labels.Set(svc.Labels)) {
			t.Errorf("service monitor selector %v does not match the service's labels %v", sm.Spec.Selector, svc.Labels)
		}
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("service monitor endpoints %+v, want /metrics on admin", sm.Spec.Endpoints)
		}
	}
	for _, np := range r.netpols {
		s, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !s.Matches(podLabels) {
			t.Errorf("network policy selects %v, not the pods", np.Spec.PodSelector)
		}
		for _, rule := range np.Spec.Ingress {
			for _, p := range rule.Ports {
				if _, ok := ports[p.Port.String()]; !ok {
					t.Errorf("network policy opens port %s, not a container port", p.Port.String())
				}
				if p.Port.String() == "admin" && len(rule.From) == 0 {
					t.Error("network policy opens the admin port to everyone")
				}
			}
		}
	}
}

// envNames lists the environment variables a configuration reads.
func envNames(cfg *config.Config) []string {
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if cfg.Admin.Listen != "off" {
		add(cfg.Admin.TokenEnv)
	}
	add(cfg.Store.DSNEnv)
	for _, p := range cfg.Providers {
		add(p.APIKeyEnv)
		add(p.AccessKeyIDEnv)
		add(p.SecretAccessKeyEnv)
		add(p.SessionTokenEnv)
	}
	return names
}

// secretFiles lists the secret files a configuration reads.
func secretFiles(cfg *config.Config) []string {
	var files []string
	add := func(f string) {
		if f != "" {
			files = append(files, f)
		}
	}
	if cfg.Admin.Listen != "off" {
		add(cfg.Admin.TokenFile)
	}
	add(cfg.Store.DSNFile)
	if cfg.Limits.Backend == "redis" {
		add(cfg.Limits.RedisURLFile)
	}
	for _, p := range cfg.Providers {
		add(p.APIKeyFile)
		add(p.AccessKeyIDFile)
		add(p.SecretAccessKeyFile)
		add(p.SessionTokenFile)
	}
	return files
}

// TestChart_Refuses checks that value sets which would run the gateway
// wrongly fail to render, with a message that says what to change.
func TestChart_Refuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values string
		want   string
	}{
		{"sqlite_replicas", "replicaCount: 2", "config.store.driver: postgres"},
		{"sqlite_autoscaled", "autoscaling: {enabled: true}", "config.store.driver: postgres"},
		{"memory_limits_replicas", "replicaCount: 3\nconfig: {store: {driver: postgres, dsn_env: PG}}", "config.limits.backend: redis"},
		{"secret_without_key", "secretEnv: {PG: {secretName: pg}}", "secretEnv.PG.key is required"},
		{"secret_file_without_name", "secretFiles: {pg: {}}", "secretFiles.pg.secretName is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			values, err := chartutil.ReadValues([]byte(tc.values))
			if err != nil {
				t.Fatal(err)
			}
			_, err = render(t, values)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("render error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestChart_ValuesDocumented keeps values.yaml the chart's documentation:
// every top-level value has a comment above it, and every value the
// templates read exists in it.
func TestChart_ValuesDocumented(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(raw, []byte("\n"))
	for i, l := range lines {
		if len(l) == 0 || l[0] == ' ' || l[0] == '#' || !bytes.Contains(l, []byte(":")) {
			continue
		}
		documented := false
		for j := i - 1; j >= 0 && len(lines[j]) > 0; j-- {
			if bytes.HasPrefix(lines[j], []byte("#")) {
				documented = true
				break
			}
		}
		// A block whose keys carry their own comments is documented too.
		if !documented && i+1 < len(lines) && bytes.HasPrefix(bytes.TrimSpace(lines[i+1]), []byte("# --")) {
			documented = true
		}
		if !documented {
			t.Errorf("values.yaml:%d: %s has no comment", i+1, l)
		}
	}
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	checkTemplateValues(t, ch)
}

// checkTemplateValues finds every .Values.a.b path the templates read and
// checks that the default values hold it, so that no template reads a
// value a user cannot find in values.yaml.
func checkTemplateValues(t *testing.T, ch *chart.Chart) {
	t.Helper()
	vals := chartutil.Values(ch.Values)
	for _, tpl := range ch.Templates {
		src := string(tpl.Data)
		for {
			i := strings.Index(src, ".Values.")
			if i < 0 {
				break
			}
			src = src[i+len(".Values."):]
			end := strings.IndexFunc(src, func(r rune) bool {
				return !(r == '.' || r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
			})
			if end < 0 {
				end = len(src)
			}
			path := strings.TrimSuffix(src[:end], ".")
			if _, err := vals.PathValue(path); err != nil {
				if _, terr := vals.Table(path); terr != nil {
					t.Errorf("%s reads .Values.%s, which values.yaml does not define", tpl.Name, path)
				}
			}
		}
	}
}

// TestChart_PrometheusRule checks that the chart's PrometheusRule holds
// exactly the groups of deploy/prometheus/alerts.yaml, Prometheus's
// templates in them untouched by Helm, with the labels asked for; and
// that the chart's copy of the rule file is the file itself.
func TestChart_PrometheusRule(t *testing.T) {
	shipped, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	copied, err := os.ReadFile(filepath.Join(chartDir, "files", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shipped, copied) {
		t.Fatalf("%s/files/alerts.yaml differs from prometheus/alerts.yaml; copy it over", chartDir)
	}
	var want ruleFile
	if err := yaml.UnmarshalStrict(shipped, &want); err != nil {
		t.Fatal(err)
	}
	out, err := render(t, map[string]any{"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "kps"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := decode(t, out)
	if len(r.rules) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(r.rules))
	}
	pr := r.rules[0]
	if pr.Labels["release"] != "kps" || pr.Labels["app.kubernetes.io/name"] != "switchyard" {
		t.Errorf("labels = %v", pr.Labels)
	}
	if diff := cmp.Diff(want, pr.Spec); diff != "" {
		t.Errorf("PrometheusRule groups differ from alerts.yaml (-want +got):\n%s", diff)
	}
	found := false
	for _, g := range pr.Spec.Groups {
		for _, rule := range g.Rules {
			if rule.Alert == "SwitchyardBudgetNear" {
				found = strings.Contains(rule.Annotations["summary"], "{{ $labels.tenant }}")
			}
		}
	}
	if !found {
		t.Error("SwitchyardBudgetNear missing, or its {{ $labels.tenant }} was rendered by Helm")
	}
	// Off by default.
	out, err = render(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := decode(t, out); len(r.rules) != 0 {
		t.Error("a PrometheusRule is rendered by default")
	}
}
