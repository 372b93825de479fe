package admin

// RoutePatterns lists the patterns Handler registers, for the OpenAPI
// test.
func RoutePatterns() []string {
	var out []string
	for _, rt := range (&api{}).routes() {
		out = append(out, rt.pattern)
	}
	return out
}
