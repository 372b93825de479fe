package jsonwire

import (
	"encoding/json"
	"testing"
)

var jsonStrings = []string{"", "plain", `quote " and \ back`, "<b>&amp;</b>", "tab\tnew\nline\r\x00\x1f\x7f",
	"\b\f", "héllo wörld", "日本語", "emoji 🎉", "\u2028 and \u2029", "bad \xff utf8 \xc3", "\xed\xa0\x80"}

func TestAppendStringIsMarshal(t *testing.T) {
	for _, s := range jsonStrings {
		checkAppendString(t, s)
	}
	for b := range 256 {
		checkAppendString(t, string([]byte{byte(b)}))
		checkAppendString(t, "x"+string([]byte{byte(b)})+"y")
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range jsonStrings {
		f.Add(s)
	}
	f.Fuzz(checkAppendString)
}

func checkAppendString(t *testing.T, s string) {
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
		t.Errorf("AppendString(%q) = %s, want x%s", s, got, want)
	}
}

func TestEachJSONMember(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`{}`, true},
		{` { "a" : 1 , "b":"x"} `, true},
		{`{"a":1,"a":2}`, false},            // repeated: encoding/json merges
		{`{"A":1}`, false},                  // encoding/json matches names case-insensitively
		{`{"\u0061":1}`, false},             // an escaped name
		{`{"a":1}{}`, false},                // trailing data
		{`{"a":1,}`, false},                 // a trailing comma
		{`{"a" 1}`, false},                  // no colon
		{`{"a":1`, false},                   // cut
		{`[1]`, false},                      // not an object
		{`{"a":{"b":[1,"}"]},"c":2}`, true}, // nested values are skipped whole
	} {
		var names []string
		got := EachMember([]byte(tc.in), func(name, value []byte) bool {
			names = append(names, string(name))
			return true
		})
		if got != tc.want {
			t.Errorf("EachMember(%s) = %v (names %q), want %v", tc.in, got, names, tc.want)
		}
	}
}

func TestJSONValues(t *testing.T) {
	for _, in := range []string{`"x"`, `"a\nb"`, `"\u00e9"`, `"\ud83c\udf89"`, "\"bad \xff\"", `""`} {
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		if got, ok := StringValue([]byte(in)); !ok || got != want {
			t.Errorf("StringValue(%s) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{`null`, `1`, `"a`, "\"a\x01\"", `"\x"`} {
		if got, ok := StringValue([]byte(in)); ok {
			t.Errorf("StringValue(%s) = %q, want not ok", in, got)
		}
	}
	for _, in := range []string{`0`, `-0`, `7`, `-12`, `123456789012345678`, `-123456789012345678`} {
		var want int64
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		if got, ok := IntValue([]byte(in)); !ok || got != want {
			t.Errorf("IntValue(%s) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{``, `-`, `01`, `1.0`, `1e3`, `null`, `"1"`, `1234567890123456789`} {
		if got, ok := IntValue([]byte(in)); ok {
			t.Errorf("IntValue(%s) = %d, want not ok", in, got)
		}
	}
}
