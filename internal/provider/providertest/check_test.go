package providertest

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
)

func TestParseEcho(t *testing.T) {
	for _, tc := range []struct {
		text    string
		want    echo
		wantErr bool
	}{
		{text: "Echo: hello there [turns=1 history=0a1b2c3d]", want: echo{said: "hello there", turns: 1, history: "0a1b2c3d"}},
		{text: "Echo: two\nlines [turns=12 history=ffffffff images=2]", want: echo{said: "two\nlines", turns: 12, history: "ffffffff", images: 2}},
		{text: "Echo: [turns=1 history=00000000]", want: echo{turns: 1, history: "00000000"}},
		{text: "Echo: doc [turns=1 history=00000000 images=1 documents=1]", want: echo{said: "doc", turns: 1, history: "00000000", images: 1}},
		{text: "Tool get_time returned: 14:05 [turns=2 history=00000000]", wantErr: true},
		{text: "Echo: hello [turns=1 history=XYZ]", wantErr: true},
		{text: "Echo: hello", wantErr: true},
	} {
		got, err := parseEcho(tc.text)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseEcho(%q) error %v, want error %v", tc.text, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(echo{})); diff != "" {
			t.Errorf("parseEcho(%q) (-want +got):\n%s", tc.text, diff)
		}
	}
}

func TestCheckEvents(t *testing.T) {
	start := llm.Event{Kind: llm.EventStart, ID: "r1", Model: "m"}
	stop := llm.Event{Kind: llm.EventStop, FinishReason: llm.FinishStop, Usage: &llm.Usage{InputTokens: 1}}
	text := func(i int, s string) llm.Event { return llm.Event{Kind: llm.EventTextDelta, Index: i, Text: s} }
	call := func(i int, id, name, args string) llm.Event {
		return llm.Event{Kind: llm.EventToolCallDelta, Index: i, ToolCall: &llm.ToolCallDelta{ID: id, Name: name, Arguments: args}}
	}
	for _, tc := range []struct {
		name    string
		evs     []llm.Event
		wantErr string // empty: valid
	}{
		{"text", []llm.Event{start, text(0, "a"), text(0, "b"), stop}, ""},
		{"text_then_calls", []llm.Event{start, text(0, "a"), call(1, "c1", "f", ""), call(1, "", "", "{}"), call(2, "c2", "g", "{}"), stop}, ""},
		{"empty_answer", []llm.Event{start, stop}, ""},
		{"no_events", nil, "no events"},
		{"no_start", []llm.Event{text(0, "a"), stop}, "want start"},
		{"start_without_id", []llm.Event{{Kind: llm.EventStart, Model: "m"}, stop}, "must be set"},
		{"second_start", []llm.Event{start, start, stop}, "only the first"},
		{"index_from_one", []llm.Event{start, text(1, "a"), stop}, "part index 1"},
		{"index_gap", []llm.Event{start, text(0, "a"), call(2, "c", "f", "{}"), stop}, "part index 2"},
		{"kind_changes", []llm.Event{start, text(0, "a"), call(0, "c", "f", "{}"), stop}, "started with"},
		{"call_without_name", []llm.Event{start, call(0, "c", "", "{}"), stop}, "without its ID and name"},
		{"call_without_id", []llm.Event{start, call(0, "", "f", "{}"), stop}, "without its ID and name"},
		{"no_stop", []llm.Event{start, text(0, "a")}, "without stop"},
		{"event_after_stop", []llm.Event{start, stop, text(0, "a")}, "follow it"},
		{"stop_without_usage", []llm.Event{start, {Kind: llm.EventStop, FinishReason: llm.FinishStop}}, "no usage"},
		{"stop_without_reason", []llm.Event{start, {Kind: llm.EventStop, Usage: &llm.Usage{}}}, "no finish reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkEvents(tc.evs)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("valid stream refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestCheckArgs(t *testing.T) {
	for _, tc := range []struct {
		name, tool, args string
		ok               bool
	}{
		{"valid", weatherName, `{"city":"Paris","unit":"celsius","days":3}`, true},
		{"extra_property", weatherName, `{"city":"Paris","unit":"celsius","days":3,"note":"x"}`, true},
		{"missing_required", weatherName, `{"city":"Paris","unit":"celsius"}`, false},
		{"wrong_type", weatherName, `{"city":3,"unit":"celsius","days":3}`, false},
		{"not_an_integer", weatherName, `{"city":"Paris","unit":"celsius","days":2.5}`, false},
		{"outside_enum", weatherName, `{"city":"Paris","unit":"kelvin","days":3}`, false},
		{"not_an_object", timeName, `["UTC"]`, false},
		{"not_json", timeName, `{"timezone":`, false},
		{"empty", timeName, ``, false},
		{"valid_time", timeName, `{"timezone":"Europe/Paris"}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkArgs(toolSchema(tc.tool), tc.args)
			if (err == nil) != tc.ok {
				t.Errorf("checkArgs(%s) = %v, want ok %v", tc.args, err, tc.ok)
			}
		})
	}
}

func TestViews(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\nfake")
	b64 := base64.StdEncoding.EncodeToString(png)
	want := recorded{
		system: []string{"Be brief."},
		roles:  []string{"user", "assistant", "user"},
		images: []inlineImage{{mime: "image/png", data: png}},
	}
	for _, tc := range []struct {
		cloud string
		body  string
		want  recorded
	}{
		{"openai", `{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"},
			{"role":"assistant","content":[{"type":"text","text":"hello"}]},
			{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + b64 + `"}}]}]}`, want},
		{"openai", `{"messages":[{"role":"developer","content":[{"type":"text","text":"Be brief."}]},{"role":"user","content":"hi"},
			{"role":"assistant","content":null,"tool_calls":[]},{"role":"tool","content":"x"}]}`,
			recorded{system: []string{"Be brief."}, roles: []string{"user", "assistant", "tool"}}},
		{"anthropic", `{"system":"Be brief.","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},
			{"role":"user","content":[{"type":"text","text":"look"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + b64 + `"}}]}]}`, want},
		{"anthropic", `{"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}`,
			recorded{system: []string{"Be brief."}, roles: []string{"user"}}},
		{"bedrock", `{"system":[{"text":"Be brief."},{"cachePoint":{"type":"default"}}],"messages":[{"role":"user","content":[{"text":"hi"}]},
			{"role":"assistant","content":[{"text":"hello"}]},
			{"role":"user","content":[{"text":"look"},{"image":{"format":"png","source":{"bytes":"` + b64 + `"}}}]}]}`, want},
		{"gemini", `{"systemInstruction":{"parts":[{"text":"Be brief."}]},"contents":[{"role":"user","parts":[{"text":"hi"}]},
			{"role":"model","parts":[{"text":"hello"}]},
			{"role":"user","parts":[{"text":"look"},{"inlineData":{"mimeType":"image/png","data":"` + b64 + `"}}]}]}`, want},
	} {
		c, _ := lookupCloud(tc.cloud)
		got, err := c.view([]byte(tc.body))
		if err != nil {
			t.Errorf("%s: %v", tc.cloud, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(recorded{}, inlineImage{})); diff != "" {
			t.Errorf("%s view (-want +got):\n%s", tc.cloud, diff)
		}
	}
}

func TestViews_Malformed(t *testing.T) {
	for _, tc := range []struct{ cloud, body string }{
		{"openai", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`},
		{"openai", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,%%%"}}]}]}`},
		{"openai", `{"messages":{}}`},
		{"anthropic", `{"system":42,"messages":[]}`},
		{"bedrock", `{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"bytes":"%%%"}}}]}]}`},
		{"gemini", `[]`},
	} {
		c, _ := lookupCloud(tc.cloud)
		if got, err := c.view([]byte(tc.body)); err == nil {
			t.Errorf("%s view of %s = %+v, want an error", tc.cloud, tc.body, got)
		}
	}
}

func TestLookupCloud(t *testing.T) {
	for _, name := range []string{"openai", "azure", "anthropic", "bedrock", "gemini", "vertex", "vertex-claude"} {
		c, ok := lookupCloud(name)
		if !ok || c.name != name || c.prefix == "" || c.model == "" || c.authStatus == 0 || c.view == nil {
			t.Errorf("lookupCloud(%q) = %+v, %v", name, c, ok)
		}
	}
	if _, ok := lookupCloud("watsonx"); ok {
		t.Error("lookupCloud accepted an unknown cloud")
	}
}
