package config

import (
	"bytes"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// redactedValue replaces a secret in a redacted configuration.
const redactedValue = "REDACTED"

// Redacted renders c as YAML with every secret the file may hold inline
// replaced: the password of each URL or DSN, every upstream header value
// (they carry credentials), and any value whose key names a secret
// (token, password, secret, api_key; *_env keys only name a variable and
// stay), and every alert endpoint's URL (a Slack webhook's path is its
// credential). It is what operators see of the running configuration.
func (c *Config) Redacted() ([]byte, error) {
	if len(c.Alerts.Endpoints) > 0 {
		cc := *c
		cc.Alerts.Endpoints = slices.Clone(c.Alerts.Endpoints)
		for i := range cc.Alerts.Endpoints {
			if cc.Alerts.Endpoints[i].URL != "" {
				cc.Alerts.Endpoints[i].URL = redactedValue
			}
		}
		c = &cc
	}
	var n yaml.Node
	if err := n.Encode(c); err != nil {
		return nil, err
	}
	redactNode(&n, "")
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

var (
	secretKey   = regexp.MustCompile(`(?i)(token|password|passwd|secret|api_?key|credential)s?$`)
	dsnPassword = regexp.MustCompile(`(?i)(password=)('[^']*'|\S+)`)
)

func redactNode(n *yaml.Node, key string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			redactNode(c, key)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			if key == "headers" && v.Kind == yaml.ScalarNode {
				if v.Value != "" {
					v.Value, v.Tag, v.Style = redactedValue, "!!str", 0
				}
				continue
			}
			redactNode(v, k)
		}
	case yaml.ScalarNode:
		if n.Value == "" || strings.HasSuffix(key, "_env") || strings.HasSuffix(key, "_file") {
			return
		}
		if secretKey.MatchString(key) {
			n.Value, n.Tag, n.Style = redactedValue, "!!str", 0
			return
		}
		n.Value = redactString(n.Value)
	}
}

// redactString hides the password of a URL or a key=value DSN in s.
func redactString(s string) string {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), redactedValue)
			}
			s = u.String()
		}
	}
	return dsnPassword.ReplaceAllString(s, "${1}"+redactedValue)
}
