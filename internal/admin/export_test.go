package admin

import "switchyard/internal/access"

// RoutePatterns lists the patterns Handler registers, for the OpenAPI
// test.
func RoutePatterns() []string {
	var out []string
	for _, rt := range (&api{}).routes() {
		out = append(out, rt.pattern)
	}
	return out
}

// RouteActions maps each pattern Handler registers to the action it
// declares ("" for the public endpoints), for the policy test.
func RouteActions() map[string]access.Action {
	out := map[string]access.Action{}
	for _, rt := range (&api{}).routes() {
		out[rt.pattern] = rt.action
	}
	return out
}

// RedactedJSON is redactedJSON, for the redaction test.
var RedactedJSON = redactedJSON
