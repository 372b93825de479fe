package fakecloud

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// checkSchema validates v against a JSON Schema: an independent check of
// the generator, covering the keywords it claims to honour.
func checkSchema(root, s any, v any, path string) error {
	if b, ok := s.(bool); ok {
		if !b {
			return fmt.Errorf("%s: the false schema admits nothing", path)
		}
		return nil
	}
	m, ok := s.(map[string]any)
	if !ok {
		return nil
	}
	if ref, ok := m["$ref"].(string); ok {
		target := root
		for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			target = target.(map[string]any)[tok]
		}
		if err := checkSchema(root, target, v, path); err != nil {
			return err
		}
	}
	if c, ok := m["const"]; ok && !jsonEqual(c, v) {
		return fmt.Errorf("%s: %v is not the const %v", path, v, c)
	}
	if e, ok := m["enum"].([]any); ok {
		found := false
		for _, x := range e {
			found = found || jsonEqual(x, v)
		}
		if !found {
			return fmt.Errorf("%s: %v not in enum %v", path, v, e)
		}
	}
	for _, sub := range listOf(m["allOf"]) {
		if err := checkSchema(root, sub, v, path); err != nil {
			return err
		}
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if alts := listOf(m[key]); len(alts) > 0 {
			matched := 0
			for _, sub := range alts {
				if checkSchema(root, sub, v, path) == nil {
					matched++
				}
			}
			if matched == 0 || key == "oneOf" && matched != 1 {
				return fmt.Errorf("%s: %v matches %d of the %s alternatives", path, v, matched, key)
			}
		}
	}
	if t, ok := m["type"]; ok {
		types := listOf(t)
		if s, ok := t.(string); ok {
			types = []any{s}
		}
		okType := false
		for _, x := range types {
			okType = okType || isType(strings.ToLower(x.(string)), v)
		}
		if !okType {
			return fmt.Errorf("%s: %v (%T) is not of type %v", path, v, v, t)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := m["properties"].(map[string]any)
		for _, r := range listOf(m["required"]) {
			if _, ok := x[r.(string)]; !ok {
				return fmt.Errorf("%s: required property %q missing", path, r)
			}
		}
		if n, ok := m["minProperties"].(float64); ok && float64(len(x)) < n {
			return fmt.Errorf("%s: %d properties, want at least %v", path, len(x), n)
		}
		for k, pv := range x {
			sub, ok := props[k]
			if !ok {
				if ap, isBool := m["additionalProperties"].(bool); isBool && !ap {
					return fmt.Errorf("%s: additional property %q", path, k)
				}
				sub = m["additionalProperties"]
			}
			if err := checkSchema(root, sub, pv, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		if n, ok := m["minItems"].(float64); ok && float64(len(x)) < n {
			return fmt.Errorf("%s: %d items, want at least %v", path, len(x), n)
		}
		if n, ok := m["maxItems"].(float64); ok && float64(len(x)) > n {
			return fmt.Errorf("%s: %d items, want at most %v", path, len(x), n)
		}
		prefix := listOf(m["prefixItems"])
		for i, item := range x {
			sub := m["items"]
			if i < len(prefix) {
				sub = prefix[i]
			}
			if err := checkSchema(root, sub, item, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
			if u, _ := m["uniqueItems"].(bool); u {
				for _, other := range x[:i] {
					if jsonEqual(other, item) {
						return fmt.Errorf("%s: duplicate item %v", path, item)
					}
				}
			}
		}
	case string:
		n := float64(utf8.RuneCountInString(x))
		if lo, ok := m["minLength"].(float64); ok && n < lo {
			return fmt.Errorf("%s: %q shorter than %v", path, x, lo)
		}
		if hi, ok := m["maxLength"].(float64); ok && n > hi {
			return fmt.Errorf("%s: %q longer than %v", path, x, hi)
		}
		if f, ok := m["format"].(string); ok {
			if err := checkFormat(f, x); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
	case float64:
		if err := checkNumber(m, x); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

func checkNumber(m map[string]any, x float64) error {
	lo, loOK := m["minimum"].(float64)
	hi, hiOK := m["maximum"].(float64)
	if loOK && x < lo || hiOK && x > hi {
		return fmt.Errorf("%v outside [%v, %v]", x, m["minimum"], m["maximum"])
	}
	if b, _ := m["exclusiveMinimum"].(bool); b && loOK && x == lo {
		return fmt.Errorf("%v not above %v", x, lo)
	}
	if b, _ := m["exclusiveMaximum"].(bool); b && hiOK && x == hi {
		return fmt.Errorf("%v not below %v", x, hi)
	}
	if e, ok := m["exclusiveMinimum"].(float64); ok && x <= e {
		return fmt.Errorf("%v not above %v", x, e)
	}
	if e, ok := m["exclusiveMaximum"].(float64); ok && x >= e {
		return fmt.Errorf("%v not below %v", x, e)
	}
	if k, ok := m["multipleOf"].(float64); ok {
		if q := x / k; math.Abs(q-math.Round(q)) > 1e-9 {
			return fmt.Errorf("%v is not a multiple of %v", x, k)
		}
	}
	return nil
}

func checkFormat(f, x string) error {
	var err error
	switch f {
	case "date":
		_, err = time.Parse(time.DateOnly, x)
	case "date-time":
		_, err = time.Parse(time.RFC3339, x)
	case "email":
		_, err = mail.ParseAddress(x)
	case "uri":
		var u *url.URL
		if u, err = url.Parse(x); err == nil && u.Scheme == "" {
			err = fmt.Errorf("no scheme")
		}
	case "ipv4", "ipv6":
		if net.ParseIP(x) == nil {
			err = fmt.Errorf("not an IP")
		}
	case "uuid":
		if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(x) {
			err = fmt.Errorf("not a UUID")
		}
	}
	if err != nil {
		return fmt.Errorf("%q is not a %s: %w", x, f, err)
	}
	return nil
}

func isType(t string, v any) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	}
	return false
}

func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}

func jsonEqual(a, b any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}

func TestExampleValue(t *testing.T) {
	for _, tc := range []struct {
		name   string
		schema string
		want   string // exact JSON; empty: only validated
	}{
		{"weather", weatherSchema, weatherArgs},
		{"names_pick_values", `{"type":"object","properties":{"location":{"type":"string"},"country":{"type":"string"},"email":{"type":"string"},"latitude":{"type":"number"},"count":{"type":"integer"}},"required":["location","country","email","latitude","count"]}`,
			`{"count":3,"country":"France","email":"alice@example.com","latitude":48.8566,"location":"Paris"}`},
		{"formats", `{"type":"object","properties":{"d":{"type":"string","format":"date"},"dt":{"type":"string","format":"date-time"},"e":{"type":"string","format":"email"},"u":{"type":"string","format":"uuid"},"w":{"type":"string","format":"uri"},"ip":{"type":"string","format":"ipv4"},"ip6":{"type":"string","format":"ipv6"}},"required":["d","dt","e","u","w","ip","ip6"]}`, ""},
		{"date_by_name", `{"type":"object","properties":{"start_date":{"type":"string"}},"required":["start_date"]}`, `{"start_date":"2025-06-15"}`},
		{"nested", `{"type":"object","properties":{"trip":{"type":"object","properties":{"destination":{"type":"string"},"days":{"type":"integer","minimum":1,"maximum":14},"travelers":{"type":"array","minItems":2,"items":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":18}},"required":["name","age"],"additionalProperties":false}}},"required":["destination","days","travelers"]}},"required":["trip"]}`,
			`{"trip":{"days":14,"destination":"Paris","travelers":[{"age":30,"name":"Alice"},{"age":30,"name":"Alice"}]}}`},
		{"bounds", `{"type":"object","properties":{"a":{"type":"number","exclusiveMinimum":0,"maximum":0.5},"b":{"type":"integer","maximum":-3},"c":{"type":"integer","minimum":12,"multipleOf":5},"d":{"type":"number","multipleOf":0.25,"minimum":1.1},"e":{"type":"integer","minimum":1,"maximum":1,"exclusiveMaximum":true},"f":{"type":"number","minimum":100,"maximum":200}},"required":["a","b","c","d","f"]}`,
			`{"a":0.5,"b":-3,"c":15,"d":1.25,"f":100}`},
		{"draft4_exclusive", `{"type":"integer","minimum":5,"exclusiveMinimum":true,"maximum":7}`, `6`},
		{"const_default_examples", `{"type":"object","properties":{"k":{"const":"fixed"},"d":{"type":"integer","default":42},"x":{"type":"string","examples":["sample"]}},"required":["k","d","x"]}`,
			`{"d":42,"k":"fixed","x":"sample"}`},
		{"ref_recursive", `{"$defs":{"node":{"type":"object","properties":{"label":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["label","children"]}},"$ref":"#/$defs/node"}`, ""},
		{"definitions_ref", `{"type":"object","properties":{"unit":{"$ref":"#/definitions/unit"}},"required":["unit"],"definitions":{"unit":{"type":"string","enum":["kelvin","celsius"]}}}`, `{"unit":"kelvin"}`},
		{"all_of", `{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"properties":{"n":{"type":"integer","minimum":3}},"required":["n"]}]}`, `{"a":"example","n":3}`},
		{"any_of_null_first", `{"type":"object","properties":{"v":{"anyOf":[{"type":"null"},{"type":"integer","minimum":10}]}},"required":["v"]}`, `{"v":10}`},
		{"type_list", `{"type":["null","integer"],"minimum":2}`, `2`},
		{"lengths", `{"type":"object","properties":{"long":{"type":"string","minLength":20},"short":{"type":"string","maxLength":3}},"required":["long","short"]}`, ""},
		{"unique_enum", `{"type":"array","items":{"enum":["a","b","c"]},"minItems":3,"uniqueItems":true}`, `["a","b","c"]`},
		{"unique_strings", `{"type":"array","items":{"type":"string","maxLength":8},"minItems":3,"uniqueItems":true}`, ""},
		{"unique_numbers", `{"type":"array","items":{"type":"integer","minimum":0,"maximum":10},"minItems":4,"uniqueItems":true}`, ""},
		{"unique_dates", `{"type":"array","items":{"type":"string","format":"date"},"minItems":3,"uniqueItems":true}`, `["2025-06-15","2025-06-16","2025-06-17"]`},
		{"gemini_upper_case", `{"type":"OBJECT","properties":{"city":{"type":"STRING"},"days":{"type":"INTEGER","minimum":"2"},"ok":{"type":"BOOLEAN"}},"required":["city","days","ok"]}`, `{"city":"Paris","days":15,"ok":true}`},
		{"all_properties_without_required", `{"type":"object","properties":{"b":{"type":"boolean"},"a":{"type":"string"}}}`, `{"a":"example","b":true}`},
		{"min_properties", `{"type":"object","additionalProperties":{"type":"integer"},"minProperties":2}`, `{"key1":1,"key2":1}`},
		{"max_items_zero", `{"type":"array","items":{"type":"string"},"maxItems":0}`, `[]`},
		{"prefix_items", `{"type":"array","prefixItems":[{"type":"integer"},{"type":"string","format":"date"}],"items":false}`, `[1,"2025-06-15"]`},
		{"inferred_types", `{"properties":{"list":{"items":{"type":"integer"}},"n":{"minimum":4}},"required":["list","n"]}`, `{"list":[1],"n":4}`},
		{"true_schema", `true`, `"example"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var schema any
			if err := json.Unmarshal([]byte(tc.schema), &schema); err != nil {
				t.Fatal(err)
			}
			got := exampleValue(schema)
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
			var back any
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if err := checkSchema(schema, schema, back, "$"); err != nil {
				t.Errorf("%s does not satisfy the schema: %v", b, err)
			}
			again, _ := json.Marshal(exampleValue(schema))
			if string(again) != string(b) {
				t.Errorf("not deterministic: %s then %s", b, again)
			}
		})
	}
}

func TestExampleArgs_AlwaysAnObject(t *testing.T) {
	for _, schema := range []any{nil, map[string]any{}, map[string]any{"type": "string"}, true} {
		if diff := cmp.Diff(map[string]any{}, exampleArgs(schema)); diff != "" {
			t.Errorf("exampleArgs(%v) (-want +got):\n%s", schema, diff)
		}
	}
}
