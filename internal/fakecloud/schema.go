package fakecloud

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxSchemaDepth bounds recursion through nested and self-referencing
// schemas: past it arrays get only their minimum number of items, which
// ends recursion through lists; past four times it (a schema that requires
// itself without end) values are empty.
const maxSchemaDepth = 12

// exampleArgs returns tool arguments satisfying schema: always a JSON
// object, empty when the schema is absent or describes something else.
func exampleArgs(schema any) map[string]any {
	if schema == nil {
		return map[string]any{}
	}
	v := exampleValue(schema)
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// maxGenerated bounds the size of a generated value, counted in values
// plus string bytes: a schema can demand exponentially large documents
// (nested minItems), and those are cut short with empty values instead.
const maxGenerated = 1 << 20

// exampleValue returns a plausible value that satisfies the JSON Schema
// (draft 2020-12, draft 7 and the OpenAPI subset Gemini uses, whose type
// names are upper case). It honours const, enum, default, examples, $ref to
// local definitions, allOf/anyOf/oneOf, required properties, array and
// string lengths, numeric bounds and multiples, and common string formats.
// It does not honour pattern, and it gives up on documents larger than
// maxGenerated.
func exampleValue(schema any) any {
	g := &generator{root: schema}
	return g.value(schema, "", 0, 0)
}

// generator holds the root schema for resolving references and the size
// generated so far.
type generator struct {
	root  any
	spent int
}

// value generates a value for schema s. name is the property (or the
// singular of the array property) the value is for, which picks plausible
// strings and numbers; index varies the value among array items so that
// uniqueItems holds.
func (g *generator) value(s any, name string, index, depth int) any {
	m, ok := s.(map[string]any)
	if !ok {
		if b, isBool := s.(bool); isBool && !b {
			return nil // the "false" schema admits nothing; null is closest
		}
		return g.stringValue(nil, name, index)
	}
	if g.spent++; depth > 4*maxSchemaDepth || g.spent > maxGenerated {
		return emptyOf(schemaType(m))
	}
	if ref, ok := m["$ref"].(string); ok {
		if target, ok := g.resolve(ref); ok {
			return g.value(target, name, index, depth+1)
		}
	}
	if v, ok := m["const"]; ok {
		return v
	}
	if e, ok := m["enum"].([]any); ok && len(e) > 0 {
		return e[index%len(e)]
	}
	if v, ok := m["default"]; ok && index == 0 {
		return v
	}
	if ex, ok := m["examples"].([]any); ok && len(ex) > 0 && index == 0 {
		return ex[0]
	}
	if all, ok := m["allOf"].([]any); ok && len(all) > 0 {
		return g.value(g.mergeAll(m, all, depth), name, index, depth+1)
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if alts, ok := m[key].([]any); ok && len(alts) > 0 {
			return g.value(g.mergeAll(m, []any{firstNonNull(alts)}, depth), name, index, depth+1)
		}
	}
	switch schemaType(m) {
	case "object":
		return g.objectValue(m, depth)
	case "array":
		return g.arrayValue(m, name, depth)
	case "integer":
		return numberValue(m, name, index, true)
	case "number":
		return numberValue(m, name, index, false)
	case "boolean":
		return index%2 == 0
	case "null":
		return nil
	default:
		return g.stringValue(m, name, index)
	}
}

// resolve follows a local JSON pointer ("#/$defs/Name").
func (g *generator) resolve(ref string) (any, bool) {
	ptr, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	cur := g.root
	if ptr == "" {
		return cur, true
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch node := cur.(type) {
		case map[string]any:
			v, ok := node[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(node) {
				return nil, false
			}
			cur = node[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// mergeAll folds the subschemas into a copy of base without the combining
// keywords, following references and nested allOf (to a bounded depth, as
// they may refer back to themselves), so the result can be generated
// directly.
func (g *generator) mergeAll(base map[string]any, subs []any, depth int) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		switch k {
		case "allOf", "anyOf", "oneOf":
		default:
			out[k] = v
		}
	}
	for _, sub := range subs {
		sm, ok := sub.(map[string]any)
		if !ok {
			continue
		}
		for range maxSchemaDepth {
			ref, ok := sm["$ref"].(string)
			if !ok {
				break
			}
			target, ok := g.resolve(ref)
			tm, isMap := target.(map[string]any)
			if !ok || !isMap {
				break
			}
			sm = tm
		}
		if nested, ok := sm["allOf"].([]any); ok && depth < maxSchemaDepth {
			sm = g.mergeAll(sm, nested, depth+1)
		}
		for k, v := range sm {
			switch k {
			case "properties":
				props, _ := out["properties"].(map[string]any)
				merged := make(map[string]any, len(props))
				for pk, pv := range props {
					merged[pk] = pv
				}
				if add, ok := v.(map[string]any); ok {
					for pk, pv := range add {
						merged[pk] = pv
					}
				}
				out["properties"] = merged
			case "required":
				req, _ := out["required"].([]any)
				add, _ := v.([]any)
				out["required"] = append(slices.Clip(req), add...)
			case "minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties":
				out[k] = maxNumber(out[k], v)
			case "maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties":
				out[k] = minNumber(out[k], v)
			default:
				if _, exists := out[k]; !exists {
					out[k] = v
				}
			}
		}
	}
	return out
}

// firstNonNull picks the first alternative that is not the null type.
func firstNonNull(alts []any) any {
	for _, a := range alts {
		if m, ok := a.(map[string]any); ok && schemaType(m) == "null" {
			continue
		}
		return a
	}
	return alts[0]
}

// schemaType returns the schema's type in lower case, taking the first
// non-null of a type list and inferring it from other keywords when absent.
func schemaType(m map[string]any) string {
	switch t := m["type"].(type) {
	case string:
		return strings.ToLower(t)
	case []any:
		for _, v := range t {
			if s, ok := v.(string); ok && !strings.EqualFold(s, "null") {
				return strings.ToLower(s)
			}
		}
		if len(t) > 0 {
			return "null"
		}
	}
	switch {
	case has(m, "properties", "required", "additionalProperties", "minProperties"):
		return "object"
	case has(m, "items", "prefixItems", "minItems", "maxItems"):
		return "array"
	case has(m, "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
		return "number"
	}
	return "string"
}

func has(m map[string]any, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// emptyOf is the smallest value of a type.
func emptyOf(typ string) any {
	switch typ {
	case "object":
		return map[string]any{}
	case "array":
		return []any{}
	case "integer", "number":
		return 0
	case "boolean":
		return false
	case "null":
		return nil
	}
	return ""
}

// objectValue fills the required properties, or every property when the
// schema lists none as required, then adds more to reach minProperties.
func (g *generator) objectValue(m map[string]any, depth int) any {
	props, _ := m["properties"].(map[string]any)
	out := map[string]any{}
	var keys []string
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			if s, ok := r.(string); ok && !slices.Contains(keys, s) {
				keys = append(keys, s)
			}
		}
	} else if depth < maxSchemaDepth/2 {
		keys = sortedKeys(props)
	}
	for _, k := range keys {
		sub, ok := props[k]
		if !ok {
			sub = additional(m)
		}
		out[k] = g.value(sub, k, 0, depth+1)
	}
	minProps := intKeyword(m, "minProperties", 0)
	for _, k := range sortedKeys(props) {
		if len(out) >= minProps {
			break
		}
		if _, done := out[k]; !done {
			out[k] = g.value(props[k], k, 0, depth+1)
		}
	}
	if ap, ok := m["additionalProperties"].(bool); !ok || ap {
		for i := 1; len(out) < minProps; i++ {
			k := "key" + strconv.Itoa(i)
			if _, taken := out[k]; !taken {
				out[k] = g.value(additional(m), k, 0, depth+1)
			}
		}
	}
	return out
}

// additional is the schema for properties not listed in "properties".
func additional(m map[string]any) any {
	if ap, ok := m["additionalProperties"].(map[string]any); ok {
		return ap
	}
	return map[string]any{"type": "string"}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// arrayValue makes max(minItems, 1) items (none when maxItems is 0), using
// prefixItems first, each item different from the others.
func (g *generator) arrayValue(m map[string]any, name string, depth int) any {
	prefix, _ := m["prefixItems"].([]any)
	n := max(intKeyword(m, "minItems", 1), 1, len(prefix))
	if hi := intKeyword(m, "maxItems", -1); hi >= 0 && n > hi {
		n = hi
	}
	if items, ok := m["items"].(bool); ok && !items && n > len(prefix) {
		n = len(prefix)
	}
	if depth >= maxSchemaDepth {
		n = min(n, max(intKeyword(m, "minItems", 0), 0))
	}
	item := singular(name)
	unique, _ := m["uniqueItems"].(bool)
	seen := map[string]bool{}
	out := make([]any, 0, min(n, 1024))
	for i := range n {
		var sub any = map[string]any{}
		switch {
		case i < len(prefix):
			sub = prefix[i]
		case m["items"] != nil:
			sub = m["items"]
		}
		if g.spent > maxGenerated {
			break
		}
		// Items differ from one another only where uniqueItems asks for it.
		idx := 0
		if unique {
			idx = i
		}
		v := g.value(sub, item, idx, depth+1)
		for k := i + 1; unique && k < i+16 && seen[jsonKey(v)]; k++ {
			v = g.value(sub, item, k, depth+1)
		}
		if unique {
			seen[jsonKey(v)] = true
		}
		out = append(out, v)
	}
	return out
}

// jsonKey is v's JSON encoding, to compare values.
func jsonKey(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// singular turns an array property name into a name for its items.
func singular(name string) string {
	switch {
	case strings.HasSuffix(name, "ies"):
		return strings.TrimSuffix(name, "ies") + "y"
	case strings.HasSuffix(name, "ses"):
		return strings.TrimSuffix(name, "es")
	case strings.HasSuffix(name, "s") && !strings.HasSuffix(name, "ss"):
		return strings.TrimSuffix(name, "s")
	}
	return name
}

// stringValue picks a string by format, then by name, then fits it to the
// length bounds.
func (g *generator) stringValue(m map[string]any, name string, index int) string {
	s := ""
	if f, ok := m["format"].(string); ok {
		s = formatExample(f, index)
	}
	if s == "" {
		s = stringByName(name)
		if index > 0 {
			s += "-" + strconv.Itoa(index+1)
		}
	}
	lo := intKeyword(m, "minLength", 0)
	hi := intKeyword(m, "maxLength", -1)
	if n := utf8.RuneCountInString(s); n < lo {
		s += strings.Repeat("x", lo-n)
	}
	g.spent += len(s)
	if hi >= 0 && utf8.RuneCountInString(s) > hi {
		r := []rune(s)
		s = string(r[:hi])
		if index > 0 && hi > 0 {
			// keep items distinct when the suffix was cut off
			tail := strconv.Itoa(index + 1)
			if len(tail) <= hi {
				s = string(r[:hi-len(tail)]) + tail
			}
		}
	}
	return s
}

// formatExample returns a valid value of a JSON Schema string format, the
// index-th of a series of distinct ones, or "" for an unknown format.
func formatExample(format string, index int) string {
	day := time.Date(2025, time.June, 15+index, 9, 30, 0, 0, time.UTC)
	n := strconv.Itoa(index + 1)
	if index == 0 {
		n = ""
	}
	switch strings.ToLower(format) {
	case "date":
		return day.Format(time.DateOnly)
	case "date-time":
		return day.Format(time.RFC3339)
	case "time":
		return day.Add(time.Duration(index) * time.Minute).Format("15:04:05Z")
	case "duration":
		return "PT" + strconv.Itoa(index+1) + "H"
	case "email", "idn-email":
		return "alice" + n + "@example.com"
	case "hostname", "idn-hostname":
		if index > 0 {
			return "host" + n + ".example.com"
		}
		return "example.com"
	case "ipv4":
		return "192.0.2." + strconv.Itoa(1+index%254)
	case "ipv6":
		return "2001:db8::" + strconv.FormatInt(int64(index+1), 16)
	case "uri", "uri-reference", "iri", "iri-reference", "url":
		return "https://example.com/" + n
	case "uri-template":
		return "https://example.com/" + n + "{id}"
	case "uuid":
		return fmt.Sprintf("3f2504e0-4f89-41d3-9a0c-%012x", 0x0305e82c3301+index)
	case "json-pointer":
		return "/items/" + strconv.Itoa(index)
	case "relative-json-pointer":
		return strconv.Itoa(index) + "/items"
	case "regex":
		return "^[a-z]+" + n + "$"
	case "byte":
		return base64.StdEncoding.EncodeToString([]byte("example" + n))
	case "binary":
		return "example" + n
	case "password":
		return "example-password" + n
	}
	return ""
}

// stringByName picks a plausible string for a property name: the first
// name fragment that matches wins, so more specific fragments come first.
func stringByName(name string) string {
	hints := [...]struct{ fragment, value string }{
		{"email", "alice@example.com"},
		{"url", "https://example.com/"},
		{"uri", "https://example.com/"},
		{"link", "https://example.com/"},
		{"website", "https://example.com/"},
		{"timezone", "Europe/Paris"},
		{"datetime", "2025-06-15T09:30:00Z"},
		{"timestamp", "2025-06-15T09:30:00Z"},
		{"date", "2025-06-15"},
		{"time", "09:30"},
		{"city", "Paris"},
		{"location", "Paris"},
		{"place", "Paris"},
		{"town", "Paris"},
		{"destination", "Paris"},
		{"origin", "Paris"},
		{"region", "Île-de-France"},
		{"address", "1 Rue de Rivoli, Paris"},
		{"country", "France"},
		{"zip", "75001"},
		{"postal", "75001"},
		{"phone", "+33 1 23 45 67 89"},
		{"currency", "EUR"},
		{"language", "en"},
		{"lang", "en"},
		{"locale", "en-US"},
		{"unit", "celsius"},
		{"color", "blue"},
		{"query", "weather in Paris"},
		{"search", "weather in Paris"},
		{"symbol", "ACME"},
		{"ticker", "ACME"},
		{"username", "alice"},
		{"name", "Alice"},
		{"title", "Example"},
		{"id", "id-1"},
		{"description", "An example."},
		{"text", "An example."},
		{"message", "An example."},
		{"content", "An example."},
		{"comment", "An example."},
		{"body", "An example."},
		{"summary", "An example."},
		{"reason", "An example."},
	}
	n := strings.ToLower(name)
	if n == "q" {
		return "weather in Paris"
	}
	for _, h := range hints {
		if strings.Contains(n, h.fragment) {
			return h.value
		}
	}
	return "example"
}

// numberValue picks a number by name, then moves it into the bounds and
// onto multipleOf.
func numberValue(m map[string]any, name string, index int, integer bool) any {
	hints := [...]struct {
		fragment string
		value    float64
	}{
		{"latitude", 48.8566},
		{"lat", 48.8566},
		{"longitude", 2.3522},
		{"lng", 2.3522},
		{"lon", 2.3522},
		{"temp", 21},
		{"year", 2025},
		{"month", 6},
		{"day", 15},
		{"hour", 9},
		{"minute", 30},
		{"age", 30},
		{"percent", 50},
		{"price", 9.99},
		{"amount", 9.99},
		{"page", 1},
		{"count", 3},
		{"limit", 3},
		{"quantity", 3},
		{"size", 3},
	}
	v := 1.0
	n := strings.ToLower(name)
	for _, h := range hints {
		if strings.Contains(n, h.fragment) {
			v = h.value
			break
		}
	}
	v += float64(index)
	lo, loOK := floatKeyword(m, "minimum")
	hi, hiOK := floatKeyword(m, "maximum")
	loEx, hiEx := false, false
	// draft 4 writes exclusive bounds as booleans next to the bound
	if b, ok := m["exclusiveMinimum"].(bool); ok && b && loOK {
		loEx = true
	} else if x, ok := floatKeyword(m, "exclusiveMinimum"); ok && (!loOK || x >= lo) {
		lo, loOK, loEx = x, true, true
	}
	if b, ok := m["exclusiveMaximum"].(bool); ok && b && hiOK {
		hiEx = true
	} else if x, ok := floatKeyword(m, "exclusiveMaximum"); ok && (!hiOK || x <= hi) {
		hi, hiOK, hiEx = x, true, true
	}
	step, _ := floatKeyword(m, "multipleOf")
	if step <= 0 {
		step = 0
	}
	if integer {
		if step == 0 {
			step = 1
		} else if step != math.Trunc(step) {
			step = lcmStep(step)
		}
	}
	inRange := func(x float64) bool {
		return (!loOK || x > lo || (!loEx && x == lo)) && (!hiOK || x < hi || (!hiEx && x == hi))
	}
	snap := func(x float64) float64 {
		if step == 0 {
			return x
		}
		return roundClean(math.Round(x/step) * step)
	}
	v = snap(v)
	if !inRange(v) {
		// move to the nearest bound, then inside it
		if loOK && v <= lo {
			v = snap(lo)
		} else {
			v = snap(hi)
		}
		if !inRange(v) && step > 0 {
			// walk to the nearest multiple on the inside
			if loOK {
				v = roundClean(math.Ceil(lo/step) * step)
				if !inRange(v) {
					v = roundClean(v + step)
				}
			} else {
				v = roundClean(math.Floor(hi/step) * step)
				if !inRange(v) {
					v = roundClean(v - step)
				}
			}
		}
		if !inRange(v) && step == 0 {
			switch {
			case loOK && hiOK:
				v = lo + (hi-lo)/2
			case loOK && v <= lo:
				v = lo + 1
			default:
				v = hi - 1
			}
		}
	}
	if integer {
		return int64(math.Round(v))
	}
	return v
}

// lcmStep turns a fractional multipleOf into the smallest integer step
// that is a multiple of it, for integer schemas.
func lcmStep(step float64) float64 {
	for k := 1.0; k <= 1e4; k++ {
		if x := step * k; math.Abs(x-math.Round(x)) < 1e-9 && math.Round(x) >= 1 {
			return math.Round(x)
		}
	}
	return 1
}

// roundClean removes binary noise such as 0.30000000000000004.
func roundClean(x float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 12, 64), 64)
	if err != nil {
		return x
	}
	return r
}

func floatKeyword(m map[string]any, key string) (float64, bool) {
	switch v := m[key].(type) {
	case float64:
		return v, true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case string: // Gemini's OpenAPI schemas write int64 bounds as strings
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}

func intKeyword(m map[string]any, key string, def int) int {
	f, ok := floatKeyword(m, key)
	if !ok || f < 0 || f > 1<<20 {
		return def
	}
	return int(f)
}

func maxNumber(a, b any) any {
	fa, okA := floatKeyword(map[string]any{"v": a}, "v")
	fb, okB := floatKeyword(map[string]any{"v": b}, "v")
	if !okA || (okB && fb > fa) {
		return b
	}
	return a
}

func minNumber(a, b any) any {
	fa, okA := floatKeyword(map[string]any{"v": a}, "v")
	fb, okB := floatKeyword(map[string]any{"v": b}, "v")
	if !okA || (okB && fb < fa) {
		return b
	}
	return a
}
