package fakecloud

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// chat builds a conversation of alternating user and assistant texts.
func chat(texts ...string) *conversation {
	c := &conversation{model: "m"}
	for i, t := range texts {
		role := roleUser
		if i%2 == 1 {
			role = roleAssistant
		}
		c.add(role, part{kind: partText, text: t})
	}
	return c
}

func TestRespond_Deterministic(t *testing.T) {
	c := chat("hello", "hi", "how are you")
	a, b := respond(c, "seed1"), respond(c, "seed1")
	if diff := cmp.Diff(a, b, cmp.AllowUnexported(answer{}, toolCall{}, usage{})); diff != "" {
		t.Errorf("two answers differ (-first +second):\n%s", diff)
	}
	if want := "Echo: how are you [turns=2 history=" + c.history()[:8] + "]"; a.text != want {
		t.Errorf("text = %q, want %q", a.text, want)
	}
	if other := respond(c, "seed2"); other.text != a.text || other.id == a.id {
		t.Errorf("another seed changed the text or kept the id: %q %q", other.text, other.id)
	}
}

func TestRespond_HistoryDependence(t *testing.T) {
	base := func() *conversation { return chat("hello", "hi", "again") }
	withCall := func(id, args, result string) *conversation {
		c := &conversation{model: "m"}
		c.add(roleUser, part{kind: partText, text: "go"})
		c.add(roleAssistant, part{kind: partToolCall, callID: id, name: "f", args: args})
		c.add(roleUser, part{kind: partToolResult, callID: id, result: result})
		if err := c.validate(validateOptions{}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	h := base().history()
	for _, tc := range []struct {
		name string
		c    *conversation
		same bool
	}{
		{"identical", base(), true},
		{"earlier_assistant_text", chat("hello", "HI", "again"), false},
		{"first_user_text", chat("hello!", "hi", "again"), false},
		{"system_added", func() *conversation { c := base(); c.addSystem("be nice"); return c }(), false},
		{"image_added", func() *conversation {
			c := base()
			c.add(roleUser, part{kind: partImage, mime: "image/png", data: []byte{1}})
			return c
		}(), false},
		{"other_model", func() *conversation { c := base(); c.model = "other"; return c }(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.history() == h; got != tc.same {
				t.Errorf("same history = %v, want %v", got, tc.same)
			}
		})
	}
	if withCall("a", "{}", "r").history() != withCall("b", "{}", "r").history() {
		t.Error("tool call IDs changed the history")
	}
	if withCall("a", "{}", "r").history() == withCall("a", "{}", "s").history() {
		t.Error("the tool result did not change the history")
	}
	if withCall("a", "{}", "r").history() == withCall("a", `{"x":1}`, "r").history() {
		t.Error("the tool arguments did not change the history")
	}
}

// TestHistory_SameAcrossClouds sends one conversation (system text, a
// tool call, its result, a question) in every cloud's format: each must
// normalize to the same history, so a test can tell that a gateway
// carried it across intact.
func TestHistory_SameAcrossClouds(t *testing.T) {
	openaiBody := `{"model":"m","tools":[{"type":"function","function":{"name":"get_weather","parameters":` + weatherSchema + `}}],"messages":[
		{"role":"system","content":"Be brief."},
		{"role":"user","content":"Weather in Paris?"},
		{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"unit\":\"celsius\",\"city\":\"Paris\"}"}}]},
		{"role":"tool","tool_call_id":"call_1","content":"sunny"},
		{"role":"user","content":"Thanks!"}]}`
	anthropicBody := `{"model":"m","max_tokens":100,"system":"Be brief.","tools":[{"name":"get_weather","input_schema":` + weatherSchema + `}],"messages":[
		{"role":"user","content":"Weather in Paris?"},
		{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris","unit":"celsius"}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"sunny"}]},{"type":"text","text":"Thanks!"}]}]}`
	bedrockBody := `{"system":[{"text":"Be brief."}],"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":` + weatherSchema + `}}}]},"messages":[
		{"role":"user","content":[{"text":"Weather in Paris?"}]},
		{"role":"assistant","content":[{"toolUse":{"toolUseId":"tooluse_1","name":"get_weather","input":{"city":"Paris","unit":"celsius"}}}]},
		{"role":"user","content":[{"toolResult":{"toolUseId":"tooluse_1","content":[{"text":"sunny"}]}},{"text":"Thanks!"}]}]}`
	geminiBody := `{"systemInstruction":{"parts":[{"text":"Be brief."}]},"tools":[{"functionDeclarations":[{"name":"get_weather","parametersJsonSchema":` + weatherSchema + `}]}],"contents":[
		{"role":"user","parts":[{"text":"Weather in Paris?"}]},
		{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris","unit":"celsius"}}}]},
		{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"sunny"}}},{"text":"Thanks!"}]}]}`

	convs := map[string]func() (*conversation, error){
		"openai": func() (*conversation, error) { c, _, err := openaiConversation([]byte(openaiBody)); return c, err },
		"anthropic": func() (*conversation, error) {
			c, _, err := anthropicConversation([]byte(anthropicBody), anthropicOptions{version: anthropicVersion2023})
			return c, err
		},
		"bedrock": func() (*conversation, error) { return bedrockConversation([]byte(bedrockBody), "m") },
		"gemini":  func() (*conversation, error) { c, _, err := geminiConversation([]byte(geminiBody), "m"); return c, err },
	}
	want := ""
	for _, cloud := range []string{"openai", "anthropic", "bedrock", "gemini"} {
		c, err := convs[cloud]()
		if err != nil {
			t.Fatalf("%s: %v", cloud, err)
		}
		a := respond(c, "s")
		if !strings.HasPrefix(a.text, "Tool get_weather returned: sunny [turns=2 history=") {
			t.Errorf("%s: %q", cloud, a.text)
		}
		if want == "" {
			want = a.text
		} else if a.text != want {
			t.Errorf("%s answers %q, openai %q", cloud, a.text, want)
		}
	}
}

func TestRespond_ToolResults(t *testing.T) {
	c := &conversation{model: "m"}
	c.addTool(toolDef{name: "a"})
	c.addTool(toolDef{name: "b"})
	c.add(roleUser, part{kind: partText, text: "call a and b"})
	c.add(roleAssistant, part{kind: partToolCall, callID: "1", name: "a", args: "{}"})
	c.add(roleAssistant, part{kind: partToolCall, callID: "2", name: "b", args: "{}"})
	c.add(roleUser, part{kind: partToolResult, callID: "2", result: "two", isError: true})
	c.add(roleUser, part{kind: partToolResult, callID: "1", result: "one"})
	if err := c.validate(validateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := respond(c, "s")
	if want := "Tool b failed: two; Tool a returned: one [turns=2 history=" + c.history()[:8] + "]"; a.text != want || len(a.calls) != 0 {
		t.Errorf("text %q calls %v, want %q", a.text, a.calls, want)
	}
}

func TestRespond_Limits(t *testing.T) {
	tools := func(c *conversation) *conversation {
		c.addTool(toolDef{name: "get_weather", schema: mustJSON(weatherSchema)})
		c.addTool(toolDef{name: "get_time", schema: mustJSON(timeSchema)})
		return c
	}
	argPieces := len(fragments(weatherArgs))
	for _, tc := range []struct {
		name      string
		c         *conversation
		text      string
		calls     int
		finish    finish
		stop      string
		reasoning int
	}{
		{"no_limit", &conversation{}, "Echo: one two three four [turns=1 history=", 0, finishStop, "", 0},
		{"cut_text", &conversation{maxTokens: 3}, "Echo: one two ", 0, finishLength, "", 0},
		{"stop_sequence", &conversation{stop: []string{"four", "two"}}, "Echo: one ", 0, finishStopSequence, "two", 0},
		{"limit_before_stop", &conversation{stop: []string{"four"}, maxTokens: 2}, "Echo: one ", 0, finishLength, "", 0},
		{"thinking_eats_budget", &conversation{reasoning: true, maxTokens: 4}, "", 0, finishLength, "", 4},
		{"calls_fit", tools(&conversation{choice: choiceAny}), "", 1, finishToolUse, "", 0},
		{"second_call_dropped", tools(&conversation{maxTokens: argPieces}), "", 1, finishLength, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			text := "one two three four"
			if tc.name == "second_call_dropped" {
				text = "call get_weather and get_time"
			}
			c.add(roleUser, part{kind: partText, text: text})
			a := respond(c, "s")
			if !strings.HasPrefix(a.text, tc.text) || (tc.text == "" && a.text != "") {
				t.Errorf("text = %q, want prefix %q", a.text, tc.text)
			}
			if len(a.calls) != tc.calls || a.finish != tc.finish || a.stopSequence != tc.stop || a.usage.reasoning != tc.reasoning {
				t.Errorf("calls %d finish %d stop %q reasoning %d", len(a.calls), a.finish, a.stopSequence, a.usage.reasoning)
			}
			if c.maxTokens > 0 && a.usage.output > c.maxTokens {
				t.Errorf("output %d over the limit %d", a.usage.output, c.maxTokens)
			}
			if got := strings.Join(a.textPieces, ""); got != a.text {
				t.Errorf("pieces join to %q, text %q", got, a.text)
			}
		})
	}
}

func TestRequestedTools(t *testing.T) {
	tools := []string{"get_weather", "get_time", "search"}
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"Please call get_weather.", []string{"get_weather"}},
		{"CALL GET_TIME now", []string{"get_time"}},
		{"use search, get_time and get_weather", []string{"search", "get_time", "get_weather"}},
		{"get_weather is a tool; call get_time", []string{"get_time"}},
		{"call a tool", []string{"get_weather"}},
		{"Could you use a tool?", []string{"get_weather"}},
		{"recall get_weather", nil},
		{"call get_weathers", nil},
		{"the user asked about get_weather", nil},
		{"", nil},
	} {
		if diff := cmp.Diff(tc.want, requestedTools(tc.text, tools)); diff != "" {
			t.Errorf("requestedTools(%q) (-want +got):\n%s", tc.text, diff)
		}
	}
}

func TestCountTokens(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"hello", 1},
		{"hello world", 2},
		{"Hello, world!", 4},
		{`{"a":1}`, 7},
		{"naïve café 42", 3},
		{"  spaced   out  ", 2},
	} {
		if got := countTokens(tc.in); got != tc.want {
			t.Errorf("countTokens(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestWordsAndFragments(t *testing.T) {
	for _, s := range []string{"", "one", "Echo: a  b c ", " lead", "日本語のテキスト、そして {\"json\":\"ü\"}"} {
		if got := strings.Join(words(s), ""); got != s {
			t.Errorf("words(%q) join to %q", s, got)
		}
		fs := fragments(s)
		if got := strings.Join(fs, ""); got != s {
			t.Errorf("fragments(%q) join to %q", s, got)
		}
		for _, f := range fs {
			if len(f) > fragmentBytes+3 || !validUTF8(f) {
				t.Errorf("fragment %q of %q", f, s)
			}
		}
	}
	if got := words("Echo: hi there"); !cmp.Equal(got, []string{"Echo: ", "hi ", "there"}) {
		t.Errorf("words = %q", got)
	}
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    func() *conversation
		ok   bool
	}{
		{"empty", func() *conversation { return &conversation{} }, false},
		{"plain", func() *conversation { return chat("hi") }, true},
		{"unknown_tool_choice", func() *conversation {
			c := chat("hi")
			c.addTool(toolDef{name: "a"})
			c.choice, c.choiceName = choiceTool, "b"
			return c
		}, false},
		{"forced_without_tools", func() *conversation { c := chat("hi"); c.choice = choiceAny; return c }, false},
		{"duplicate_tool", func() *conversation {
			c := chat("hi")
			c.addTool(toolDef{name: "a"})
			c.addTool(toolDef{name: "a"})
			return c
		}, false},
		{"result_by_name", func() *conversation {
			c := chat("hi")
			c.add(roleAssistant, part{kind: partToolCall, name: "f", args: "{}"})
			c.add(roleUser, part{kind: partToolResult, name: "f", result: "r"})
			return c
		}, true},
		{"tools_required_for_history", func() *conversation {
			c := chat("hi")
			c.add(roleAssistant, part{kind: partToolCall, callID: "1", name: "f", args: "{}"})
			c.add(roleUser, part{kind: partToolResult, callID: "1", result: "r"})
			return c
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c().validate(validateOptions{})
			if (err == nil) != tc.ok {
				t.Errorf("validate = %v, want ok %v", err, tc.ok)
			}
		})
	}
	c := chat("hi")
	c.add(roleAssistant, part{kind: partToolCall, callID: "1", name: "f", args: "{}"})
	c.add(roleUser, part{kind: partToolResult, callID: "1", result: "r"})
	if err := c.validate(validateOptions{toolsForHistory: true}); err == nil {
		t.Error("tool history without tools passed the Bedrock rule")
	}
}
