package config

import (
	"bytes"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file converts a LiteLLM proxy configuration (model_list,
// router_settings, litellm_settings, general_settings, as LiteLLM documents
// them) into a switchyard.yaml. What carries over becomes channels, models,
// offerings, prices, aliases, timeouts and the store; every setting that
// does not is named in a comment where it would have gone, so an operator
// can read the output and decide. Secrets never reach the output: a key
// given as os.environ/NAME becomes api_key_env: NAME, and a literal key
// becomes an environment variable name the operator must set.

// litellmConfig is the part of LiteLLM's config.yaml the importer reads;
// the settings sections stay maps so that every key left unread can be
// reported.
type litellmConfig struct {
	ModelList       []litellmDeployment `yaml:"model_list"`
	RouterSettings  map[string]any      `yaml:"router_settings"`
	LiteLLMSettings map[string]any      `yaml:"litellm_settings"`
	GeneralSettings map[string]any      `yaml:"general_settings"`
	Environment     map[string]any      `yaml:"environment_variables"`
}

type litellmDeployment struct {
	ModelName string         `yaml:"model_name"`
	Params    map[string]any `yaml:"litellm_params"`
	ModelInfo map[string]any `yaml:"model_info"`
}

// importedProvider is a channel being built, with the comments that go
// above it.
type importedProvider struct {
	p     Provider
	notes []string
}

type importedOffering struct {
	o     Offering
	notes []string
}

type importedModel struct {
	name      string
	aliases   []string
	offerings []importedOffering
	strategy  string
	notes     []string
}

type litellmImport struct {
	providers []*importedProvider
	byKey     map[string]*importedProvider
	models    []*importedModel
	byName    map[string]*importedModel
	top       []string // comments for the head of the file
	store     *Store
	storeNote string
	breaker   *Breaker
	breakNote string
	timeout   Duration // default channel timeout (router_settings.timeout)
}

// FromLiteLLM converts a LiteLLM proxy config.yaml into a switchyard.yaml,
// with a comment for each setting it could not carry. The result passes
// Parse unless the input names no model Switchyard can serve.
func FromLiteLLM(data []byte) ([]byte, error) {
	var in litellmConfig
	if err := yaml.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("parsing LiteLLM config: %w", err)
	}
	if len(in.ModelList) == 0 {
		return nil, fmt.Errorf("LiteLLM config has no model_list")
	}
	im := &litellmImport{byKey: map[string]*importedProvider{}, byName: map[string]*importedModel{}}
	im.settings(&in)
	for i, d := range in.ModelList {
		im.deployment(i, d)
	}
	im.routing(&in)
	im.leftovers(&in)
	if len(im.models) == 0 {
		return nil, fmt.Errorf("no deployment in model_list has a provider Switchyard serves (see the comments):\n%s", strings.Join(im.top, "\n"))
	}
	return im.render()
}

// take removes key from m and returns its value.
func take(m map[string]any, key string) (any, bool) {
	v, ok := m[key]
	delete(m, key)
	return v, ok
}

func takeString(m map[string]any, key string) string {
	v, _ := take(m, key)
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func takeNumber(m map[string]any, key string) (float64, bool) {
	v, _ := take(m, key)
	switch v := v.(type) {
	case int:
		return float64(v), true
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}

// envRef returns NAME for LiteLLM's "os.environ/NAME".
func envRef(v string) (string, bool) {
	name, ok := strings.CutPrefix(v, "os.environ/")
	return name, ok && name != ""
}

var (
	nonEnv  = regexp.MustCompile(`[^A-Z0-9]+`)
	nonName = regexp.MustCompile(`[^a-z0-9.-]+`)
)

// secretEnv turns a secret setting into the name of an environment
// variable: LiteLLM's own reference when it has one, otherwise a name made
// from hint, with a note (the literal value is never written out).
func secretEnv(v, setting, hint string, notes *[]string) string {
	if v == "" {
		return ""
	}
	if name, ok := envRef(v); ok {
		return name
	}
	name := strings.Trim(nonEnv.ReplaceAllString(strings.ToUpper(hint), "_"), "_")
	*notes = append(*notes, fmt.Sprintf("%s was written in the LiteLLM file; secrets do not belong in this one: export it as %s", setting, name))
	return name
}

func (im *litellmImport) settings(in *litellmConfig) {
	for _, m := range []map[string]any{in.RouterSettings, in.LiteLLMSettings} {
		if m == nil {
			continue
		}
		for _, key := range []string{"timeout", "request_timeout"} {
			if s, ok := takeNumber(m, key); ok && s > 0 && im.timeout == 0 {
				im.timeout = Duration(time.Duration(s * float64(time.Second)))
			}
		}
	}
	g := in.GeneralSettings
	if g == nil {
		return
	}
	if v := takeString(g, "master_key"); v != "" {
		im.top = append(im.top, "general_settings.master_key: Switchyard issues a key per tenant instead of one master key"+
			" (switchyard keys create); the admin API takes the token in $SWITCHYARD_ADMIN_TOKEN (admin.token_env)")
	}
	if v := takeString(g, "database_url"); v != "" {
		var notes []string
		env := secretEnv(v, "general_settings.database_url", "DATABASE_URL", &notes)
		im.store = &Store{Driver: "postgres", DSNEnv: env}
		notes = append(notes, "general_settings.database_url: Switchyard keeps its own schema in this database"+
			" (give it its own database); LiteLLM's keys, teams and spend logs are not migrated")
		im.storeNote = strings.Join(notes, "\n")
	}
}

// litellmTypes maps LiteLLM's provider prefixes to channel types.
var litellmTypes = map[string]string{
	"openai":    TypeOpenAI,
	"azure":     TypeAzure,
	"anthropic": TypeAnthropic,
	"bedrock":   TypeBedrock,
	"gemini":    TypeGemini,
}

// deployment turns one model_list entry into an offering (and its channel).
func (im *litellmImport) deployment(i int, d litellmDeployment) {
	at := fmt.Sprintf("model_list[%d]", i)
	params := d.Params
	if params == nil {
		params = map[string]any{}
	}
	model := takeString(params, "model")
	if d.ModelName == "" || model == "" {
		im.top = append(im.top, at+": no model_name or litellm_params.model; skipped")
		return
	}
	if strings.Contains(d.ModelName, "*") {
		im.top = append(im.top, fmt.Sprintf("%s (%s): wildcard model names are not served; list each model instead", at, d.ModelName))
		return
	}
	prefix, upstream, ok := strings.Cut(model, "/")
	if !ok {
		// LiteLLM infers the provider of a bare model name.
		prefix, upstream = "openai", model
		switch {
		case strings.HasPrefix(model, "claude"):
			prefix = "anthropic"
		case strings.HasPrefix(model, "gemini"):
			prefix = "gemini"
		}
	}
	typ, known := litellmTypes[prefix]
	if !known {
		reason := "Switchyard has no channel of this kind"
		if prefix == "vertex_ai" {
			reason = "Vertex AI channels are not supported yet"
		}
		im.top = append(im.top, fmt.Sprintf("%s (%s): %s: %s; skipped", at, d.ModelName, model, reason))
		return
	}
	var notes []string
	p := Provider{Type: typ}
	base := strings.TrimRight(takeString(params, "api_base"), "/")
	switch typ {
	case TypeOpenAI:
		if base != "" && base != "https://api.openai.com/v1" {
			p.Type, p.BaseURL = TypeOpenAICompatible, base
		}
	case TypeBedrock:
		// LiteLLM's route prefixes select its own code path.
		for _, r := range []string{"converse/", "invoke/"} {
			upstream = strings.TrimPrefix(upstream, r)
		}
		region := takeString(params, "aws_region_name")
		if name, ok := envRef(region); ok {
			notes = append(notes, "aws_region_name came from $"+name+"; Switchyard needs the region in the file: check it")
			region = ""
		}
		if region == "" {
			region = "us-east-1"
			notes = append(notes, "no aws_region_name: us-east-1 assumed")
		}
		p.Region = region
		p.AccessKeyIDEnv = secretEnv(takeString(params, "aws_access_key_id"), at+".litellm_params.aws_access_key_id", "AWS_ACCESS_KEY_ID", &notes)
		p.SecretAccessKeyEnv = secretEnv(takeString(params, "aws_secret_access_key"), at+".litellm_params.aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", &notes)
		p.SessionTokenEnv = secretEnv(takeString(params, "aws_session_token"), at+".litellm_params.aws_session_token", "AWS_SESSION_TOKEN", &notes)
		for _, k := range []string{"aws_role_name", "aws_session_name", "aws_profile_name", "aws_web_identity_token"} {
			if takeString(params, k) != "" {
				notes = append(notes, k+": the standard AWS credential chain is used (instance role, IRSA, AWS_PROFILE); set it up there")
			}
		}
	default:
		p.BaseURL = base
	}
	if typ == TypeAzure {
		p.APIVersion = takeString(params, "api_version")
		if base == "" {
			im.top = append(im.top, fmt.Sprintf("%s (%s): azure without api_base; skipped", at, d.ModelName))
			return
		}
		for _, k := range []string{"azure_ad_token", "tenant_id", "client_id", "client_secret", "azure_ad_token_provider"} {
			if v := takeString(params, k); v != "" && p.Auth == "" {
				p.Auth = AuthEntra
				notes = append(notes, "Entra ID credentials come from the environment (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, workload or managed identity), not from the file")
			}
		}
	}
	if typ == TypeAnthropic {
		p.APIVersion = takeString(params, "api_version")
	}
	if p.Auth == "" && typ != TypeBedrock {
		hint := defaultKeyEnv(p)
		if u, err := url.Parse(p.BaseURL); err == nil && u.Hostname() != "" {
			// A literal key for another endpoint gets a name of its own.
			hint = p.Type + "_" + u.Hostname() + "_API_KEY"
		}
		p.APIKeyEnv = secretEnv(takeString(params, "api_key"), at+".litellm_params.api_key", hint, &notes)
		if p.APIKeyEnv == "" {
			p.APIKeyEnv = defaultKeyEnv(p)
			notes = append(notes, "no api_key given: LiteLLM reads $"+p.APIKeyEnv+" by default, and so does this channel")
		}
	}
	if s, ok := takeNumber(params, "timeout"); ok && s > 0 {
		p.Timeout = Duration(time.Duration(s * float64(time.Second)))
	}
	pr := im.channel(p, notes)

	o := importedOffering{o: Offering{Provider: pr.p.Name, UpstreamModel: upstream}}
	if w, ok := takeNumber(params, "weight"); ok && w > 0 {
		o.o.Weight = w
	}
	for _, k := range []string{"rpm", "tpm"} {
		if v, ok := takeNumber(params, k); ok {
			if k == "rpm" && o.o.Weight == 0 && v > 0 {
				// LiteLLM's simple-shuffle weighs deployments by rpm when
				// they have no weight.
				o.o.Weight = v
			}
			o.notes = append(o.notes, fmt.Sprintf("%s: %v per deployment is not carried: Switchyard limits keys and tenants, and a channel's 429 cools it down", k, v))
		}
	}
	info := d.ModelInfo
	if info == nil {
		info = map[string]any{}
	}
	for _, f := range []struct {
		key string
		dst *float64
	}{{"input_cost_per_token", &o.o.Price.InputPerMTok}, {"output_cost_per_token", &o.o.Price.OutputPerMTok},
		{"cache_read_input_token_cost", &o.o.Price.CachedInputPerMTok}, {"cache_creation_input_token_cost", &o.o.Price.CacheWritePerMTok}} {
		for _, m := range []map[string]any{params, info} {
			if v, ok := takeNumber(m, f.key); ok {
				// Per token to per million, rounded off float noise.
				*f.dst = math.Round(v*1e6*1e9) / 1e9
			}
		}
	}
	take(info, "id") // LiteLLM's own deployment id
	if left := leftKeys(params, "litellm_params", info, "model_info"); left != "" {
		o.notes = append(o.notes, "not carried: "+left)
	}

	m := im.byName[d.ModelName]
	if m == nil {
		m = &importedModel{name: d.ModelName}
		im.byName[d.ModelName] = m
		im.models = append(im.models, m)
	}
	m.offerings = append(m.offerings, o)
}

// leftKeys lists the keys left in maps given as (map, label) pairs.
func leftKeys(pairs ...any) string {
	var out []string
	for i := 0; i+1 < len(pairs); i += 2 {
		m, label := pairs[i].(map[string]any), pairs[i+1].(string)
		for k := range m {
			out = append(out, label+"."+k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func defaultKeyEnv(p Provider) string {
	switch p.Type {
	case TypeAzure:
		return "AZURE_API_KEY"
	case TypeAnthropic:
		return "ANTHROPIC_API_KEY"
	case TypeGemini:
		return "GEMINI_API_KEY"
	}
	return "OPENAI_API_KEY"
}

// channel finds or adds the channel p describes: deployments that share
// an endpoint and credentials share a channel.
func (im *litellmImport) channel(p Provider, notes []string) *importedProvider {
	key := strings.Join([]string{p.Type, p.BaseURL, p.APIKeyEnv, p.Auth, p.APIVersion, p.Region, p.AccessKeyIDEnv,
		p.SecretAccessKeyEnv, p.SessionTokenEnv, time.Duration(p.Timeout).String()}, "|")
	if pr := im.byKey[key]; pr != nil {
		return pr
	}
	base := p.Type
	switch {
	case p.Type == TypeBedrock:
		base = "bedrock-" + p.Region
	case p.BaseURL != "":
		if u, err := url.Parse(p.BaseURL); err == nil && u.Hostname() != "" {
			host := u.Hostname()
			if p.Type == TypeAzure {
				host, _, _ = strings.Cut(host, ".")
			}
			base = p.Type + "-" + host
		}
	}
	base = strings.Trim(nonName.ReplaceAllString(strings.ToLower(base), "-"), "-")
	name := base
	for n := 2; slices.ContainsFunc(im.providers, func(o *importedProvider) bool { return o.p.Name == name }); n++ {
		name = fmt.Sprintf("%s-%d", base, n)
	}
	p.Name = name
	pr := &importedProvider{p: p, notes: notes}
	im.byKey[key] = pr
	im.providers = append(im.providers, pr)
	return pr
}

// routing carries the routing strategy, fallbacks and aliases.
func (im *litellmImport) routing(in *litellmConfig) {
	rs := in.RouterSettings
	if rs == nil {
		rs = map[string]any{}
	}
	strategy := takeString(rs, "routing_strategy")
	multi := StrategyWeighted
	switch strategy {
	case "", "simple-shuffle":
	case "latency-based-routing":
		multi = StrategyLeastLatency
	case "cost-based-routing":
		multi = StrategyLowestCost
	default:
		im.top = append(im.top, fmt.Sprintf("router_settings.routing_strategy: %s has no equivalent; models with several deployments are weighted (by weight) instead", strategy))
	}
	take(rs, "routing_strategy_args")
	for _, m := range im.models {
		m.strategy = StrategyPriority
		if len(m.offerings) > 1 {
			m.strategy = multi
		}
	}

	for _, src := range []struct {
		m     map[string]any
		label string
	}{{rs, "router_settings"}, {in.LiteLLMSettings, "litellm_settings"}} {
		if src.m == nil {
			continue
		}
		if v, ok := take(src.m, "fallbacks"); ok {
			im.fallbacks(src.label, v)
		}
		if v, ok := takeNumber(src.m, "num_retries"); ok {
			im.top = append(im.top, fmt.Sprintf("%s.num_retries: %v is not carried: Switchyard does not retry a channel, it tries a model's next offering"+
				" (route.max_attempts, by default the number of offerings up to 3)", src.label, v))
		}
	}
	if v, ok := takeNumber(rs, "cooldown_time"); ok && v > 0 {
		d := Duration(time.Duration(v * float64(time.Second)))
		im.breaker = &Breaker{CoolOff: d}
		if d > Duration(5*time.Minute) {
			im.breaker.MaxCoolOff = d
		}
		im.breakNote = "from router_settings.cooldown_time"
	}
	if v, ok := take(rs, "model_group_alias"); ok {
		aliases, _ := v.(map[string]any)
		keys := make([]string, 0, len(aliases))
		for k := range aliases {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, alias := range keys {
			target := aliases[alias]
			if tm, ok := target.(map[string]any); ok {
				target = tm["model"]
			}
			if m := im.byName[fmt.Sprint(target)]; m != nil && im.byName[alias] == nil {
				m.aliases = append(m.aliases, alias)
			} else {
				im.top = append(im.top, fmt.Sprintf("router_settings.model_group_alias.%s: %v is not a model carried over", alias, target))
			}
		}
	}
}

// fallbacks carries LiteLLM's [{model: [fallback, ...]}]: for a model
// routed by priority, the fallback models' offerings follow its own, which
// is how Switchyard falls back; for one whose offerings share traffic they
// cannot, and a comment says so.
func (im *litellmImport) fallbacks(label string, v any) {
	list, _ := v.([]any)
	for _, item := range list {
		entry, _ := item.(map[string]any)
		keys := make([]string, 0, len(entry))
		for k := range entry {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, name := range keys {
			m := im.byName[name]
			targets, _ := entry[name].([]any)
			if m == nil {
				im.top = append(im.top, fmt.Sprintf("%s.fallbacks: %s is not a model carried over", label, name))
				continue
			}
			if m.strategy != StrategyPriority {
				m.notes = append(m.notes, fmt.Sprintf("%s.fallbacks to %v are not carried: this model's own offerings share its traffic (%s), and its fallbacks would too", label, targets, m.strategy))
				continue
			}
			for _, t := range targets {
				fm := im.byName[fmt.Sprint(t)]
				if fm == nil {
					m.notes = append(m.notes, fmt.Sprintf("%s.fallbacks: %v is not a model carried over", label, t))
					continue
				}
				for _, o := range fm.offerings {
					if !slices.ContainsFunc(m.offerings, func(x importedOffering) bool { return x.o == o.o }) {
						m.offerings = append(m.offerings, importedOffering{o: o.o, notes: []string{"fallback to " + fm.name + " (" + label + ".fallbacks)"}})
					}
				}
			}
		}
	}
}

// leftovers names every setting no step above read.
func (im *litellmImport) leftovers(in *litellmConfig) {
	for _, s := range []struct {
		m     map[string]any
		label string
	}{{in.RouterSettings, "router_settings"}, {in.LiteLLMSettings, "litellm_settings"}, {in.GeneralSettings, "general_settings"}} {
		keys := make([]string, 0, len(s.m))
		for k := range s.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			im.top = append(im.top, fmt.Sprintf("%s.%s: not carried (no Switchyard equivalent)", s.label, k))
		}
	}
	if len(in.Environment) > 0 {
		keys := make([]string, 0, len(in.Environment))
		for k := range in.Environment {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		im.top = append(im.top, "environment_variables: set "+strings.Join(keys, ", ")+" in the gateway's environment if still needed;"+
			" Switchyard reads secrets from the environment only")
	}
}

// YAML output, built as nodes so that comments sit beside what they
// explain.

func str(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
}

func num(v float64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(v, 'f', -1, 64)}
}

func mapping(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		v, ok := kv[i+1].(*yaml.Node)
		if !ok || v == nil {
			continue
		}
		n.Content = append(n.Content, str(kv[i].(string)), v)
	}
	return n
}

// opt is a scalar node for a non-empty value, nil otherwise.
func opt(v string) *yaml.Node {
	if v == "" {
		return nil
	}
	return str(v)
}

func comment(lines []string) string { return strings.Join(lines, "\n") }

func (im *litellmImport) render() ([]byte, error) {
	providers := &yaml.Node{Kind: yaml.SequenceNode}
	for _, pr := range im.providers {
		p := pr.p
		var timeout *yaml.Node
		if p.Timeout == 0 && im.timeout > 0 {
			p.Timeout = im.timeout
		}
		if p.Timeout > 0 {
			timeout = str(p.Timeout.Std().String())
		}
		n := mapping("name", str(p.Name), "type", str(p.Type), "base_url", opt(p.BaseURL), "auth", opt(p.Auth),
			"api_key_env", opt(p.APIKeyEnv), "api_version", opt(p.APIVersion), "region", opt(p.Region),
			"access_key_id_env", opt(p.AccessKeyIDEnv), "secret_access_key_env", opt(p.SecretAccessKeyEnv),
			"session_token_env", opt(p.SessionTokenEnv), "timeout", timeout)
		n.HeadComment = comment(pr.notes)
		providers.Content = append(providers.Content, n)
	}
	models := &yaml.Node{Kind: yaml.SequenceNode}
	for _, m := range im.models {
		offerings := &yaml.Node{Kind: yaml.SequenceNode}
		for _, o := range m.offerings {
			var price *yaml.Node
			pr := o.o.Price
			if pr != (Price{}) {
				price = mapping()
				for _, f := range []struct {
					k string
					v float64
				}{{"input_per_mtok", pr.InputPerMTok}, {"output_per_mtok", pr.OutputPerMTok},
					{"cached_input_per_mtok", pr.CachedInputPerMTok}, {"cache_write_per_mtok", pr.CacheWritePerMTok}} {
					if f.v != 0 {
						price.Content = append(price.Content, str(f.k), num(f.v))
					}
				}
			}
			var weight *yaml.Node
			if o.o.Weight > 0 {
				weight = num(o.o.Weight)
			}
			n := mapping("provider", str(o.o.Provider), "upstream_model", str(o.o.UpstreamModel), "price", price, "weight", weight)
			n.HeadComment = comment(o.notes)
			offerings.Content = append(offerings.Content, n)
		}
		var aliases *yaml.Node
		if len(m.aliases) > 0 {
			aliases = &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
			for _, a := range m.aliases {
				aliases.Content = append(aliases.Content, str(a))
			}
		}
		var route *yaml.Node
		if m.strategy != StrategyPriority {
			route = mapping("strategy", str(m.strategy))
		}
		n := mapping("name", str(m.name), "aliases", aliases, "offerings", offerings, "route", route)
		n.HeadComment = comment(m.notes)
		models.Content = append(models.Content, n)
	}
	root := mapping()
	if im.store != nil {
		st := mapping("driver", str(im.store.Driver), "dsn_env", str(im.store.DSNEnv))
		root.Content = append(root.Content, str("store"), st)
		root.Content[len(root.Content)-2].HeadComment = comment([]string{im.storeNote})
	}
	if im.breaker != nil {
		b := mapping("cool_off", str(im.breaker.CoolOff.Std().String()))
		if im.breaker.MaxCoolOff > 0 {
			b.Content = append(b.Content, str("max_cool_off"), str(im.breaker.MaxCoolOff.Std().String()))
		}
		root.Content = append(root.Content, str("breaker"), b)
		root.Content[len(root.Content)-2].HeadComment = im.breakNote
	}
	root.Content = append(root.Content, str("providers"), providers, str("models"), models)

	head := []string{"Imported from a LiteLLM proxy config by `switchyard import litellm`.",
		"Check it with `switchyard validate -config FILE`; see docs/from-litellm.md."}
	if len(im.top) > 0 {
		head = append(head, "", "Not carried over:")
		for _, t := range im.top {
			head = append(head, "- "+t)
		}
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: comment(head), Content: []*yaml.Node{root}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("writing config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("writing config: %w", err)
	}
	return buf.Bytes(), nil
}
