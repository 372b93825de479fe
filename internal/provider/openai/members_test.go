package openai

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRawChatBody(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		stream     bool
		want       string
	}{
		{"rename", `{"model":"alias","messages":[{"role":"user","content":"hi"}],"temperature":0.5}`, false,
			`{"model":"up","messages":[{"role":"user","content":"hi"}],"temperature":0.5}`},
		{"bytes kept", "{ \"messages\" : [ {\"content\":\"a \\\"}\\\" b\\u00e9\"} ] ,\n\"model\":\"x\" }", false,
			`{"messages":[ {"content":"a \"}\" b\u00e9"} ],"model":"up"}`},
		{"stream on", `{"model":"a","stream":false,"messages":[]}`, true,
			`{"model":"up","stream":true,"messages":[],"stream_options":{"include_usage":true}}`},
		{"stream options kept", `{"stream_options":{"include_obfuscation":false},"model":"a","messages":[]}`, true,
			`{"stream_options":{"include_obfuscation":false,"include_usage":true},"model":"up","messages":[],"stream":true}`},
		{"stream off", `{"model":"a","stream":true,"stream_options":{"include_usage":true},"messages":[]}`, false,
			`{"model":"up","stream":false,"messages":[]}`},
		{"duplicates", `{"model":"a","n":1,"model":"b","n":2}`, false, `{"model":"up","n":1,"n":2}`},
		{"no model", `{"messages":[]}`, false, `{"messages":[],"model":"up"}`},
		{"empty", `{}`, true, `{"model":"up","stream":true,"stream_options":{"include_usage":true}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rawChatBody([]byte(tc.body), "up", tc.stream)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `{"model":"a"`, `{"model" "a"}`, `{"a":1,}`, `{"a":1} x`, `{"stream_options":3}`} {
		if _, err := rawChatBody([]byte(bad), "up", true); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// FuzzRawChatBody checks the member-wise edit against a decoder's reading
// of the same body: every member but model, stream and stream_options
// means the same after the edit, and those three are as the call needs.
func FuzzRawChatBody(f *testing.F) {
	for _, s := range []string{
		`{"model":"a","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"a","stream":true,"stream_options":{"include_usage":false},"x":{"y":[1,2,{"z":"]}"}]}}`,
		`{"a":"\u0022","b":-1.5e3,"c":null,"d":true,"model":"m","a":2}`,
		` { } `,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, stream bool) {
		var before map[string]any
		if json.Unmarshal(body, &before) != nil || kindOf(body) != kindObject {
			return // the front door refuses these before the fast path
		}
		out, err := rawChatBody(body, "up", stream)
		if err != nil {
			if stream && before["stream_options"] != nil {
				if _, isObject := before["stream_options"].(map[string]any); !isObject {
					return // refused: stream_options is not an object
				}
			}
			t.Fatalf("rawChatBody(%q): %v", body, err)
		}
		var after map[string]any
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("rawChatBody(%q) = %q, not JSON: %v", body, out, err)
		}
		if after["model"] != "up" {
			t.Errorf("model %v", after["model"])
		}
		if stream {
			opts, _ := after["stream_options"].(map[string]any)
			if after["stream"] != true || opts["include_usage"] != true {
				t.Errorf("stream %v, stream_options %v", after["stream"], after["stream_options"])
			}
		} else if before["stream"] == true && (after["stream"] != false || after["stream_options"] != nil) {
			t.Errorf("stream %v, stream_options %v after a non-streamed edit", after["stream"], after["stream_options"])
		}
		for k, v := range before {
			switch k {
			case "model", "stream", "stream_options":
				continue
			}
			if diff := cmp.Diff(v, after[k]); diff != "" {
				t.Errorf("member %q changed (-before +after):\n%s", k, diff)
			}
		}
		if !stream && before["stream"] != true {
			for _, k := range []string{"stream", "stream_options"} {
				if diff := cmp.Diff(before[k], after[k]); diff != "" {
					t.Errorf("member %q changed (-before +after):\n%s", k, diff)
				}
			}
		}
	})
}

func TestAnswerModel(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"rename", `{"id":"c1","model":"gpt-4o-mini-2024-07-18","choices":[]}`, `{"id":"c1","model":MODEL,"choices":[]}`},
		{"bytes kept", "{ \"x_new\" : {\"model\":\"inner\"} ,\n\"model\" : \"up\" , \"usage\":{\"total_tokens\":3} }\n",
			"{ \"x_new\" : {\"model\":\"inner\"} ,\n\"model\" : MODEL , \"usage\":{\"total_tokens\":3} }\n"},
		{"not a string", `{"model":null}`, `{"model":MODEL}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head, tail, ok := AnswerModel([]byte(tc.body))
			if !ok {
				t.Fatal("refused")
			}
			if got := string(head) + "MODEL" + string(tail); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	for _, bad := range []string{``, `[]`, `{}`, `{"id":"x"}`, `{"model":"a","model":"b"}`, `{"mod\u0065l":"a"}`,
		`{"model":"a"`, `{"model" "a"}`, `{"model":"a",}`, `{"model":"a"} x`, `{,"model":"a"}`} {
		if _, _, ok := AnswerModel([]byte(bad)); ok {
			t.Errorf("AnswerModel(%q) accepted", bad)
		}
	}
}

// FuzzMarshalString checks that the fast encoding of a model name is
// byte for byte the encoder's.
func FuzzMarshalString(f *testing.F) {
	for _, s := range []string{"", "gpt-4o-mini", `a"b`, `a\b`, "a<b>&c", "tab\there", "é", "\u2028", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(marshalString(s)), string(marshalRaw(s)); got != want {
			t.Errorf("marshalString(%q) = %s, want %s", s, got, want)
		}
	})
}
