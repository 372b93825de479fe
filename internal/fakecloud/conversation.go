package fakecloud

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"unicode"
)

// attachmentTokens is what one image or document costs as input.
const attachmentTokens = 85

// partKind says what a part of a turn holds.
type partKind uint8

const (
	partText partKind = iota
	partImage
	partDocument
	partToolCall
	partToolResult
)

// part is one piece of a turn, normalized from any cloud.
type part struct {
	kind partKind
	// text is the text of a text part or of a text document.
	text string
	// mime, data and url describe an image or document: inline bytes or a
	// reference.
	mime string
	data []byte
	url  string
	// callID and name identify a tool call or the call a result answers.
	callID string
	name   string
	// args is a tool call's arguments as compact JSON with sorted keys.
	args string
	// result is a tool result's content as text; isError marks a failure.
	result  string
	isError bool
}

// turn is a run of messages by one role.
type turn struct {
	role  string // roleUser or roleAssistant
	parts []part
}

const (
	roleUser      = "user"
	roleAssistant = "assistant"
)

// toolDef is a declared function tool.
type toolDef struct {
	name        string
	description string
	// schema is the decoded JSON Schema of the arguments; nil when absent.
	schema any
}

// choiceMode is how the request constrains tool use.
type choiceMode uint8

const (
	choiceAuto choiceMode = iota
	choiceNone
	choiceAny
	choiceTool
)

// outputFormat is a request for JSON output; schema is nil for "any JSON
// object".
type outputFormat struct {
	schema any
}

// conversation is a request normalized from any cloud. Normalizers build it
// in the order the clouds themselves cache prompts (tools, system, turns),
// so that cache markers resolve to prefixes.
type conversation struct {
	model      string
	system     []string
	turns      []turn
	tools      []toolDef
	choice     choiceMode
	choiceName string
	// allowed restricts the callable tools by name (Gemini's
	// allowedFunctionNames); empty means all.
	allowed []string
	// serial is set when parallel tool calls are disabled.
	serial bool
	// maxTokens bounds the output; 0 is no bound.
	maxTokens int
	stop      []string
	format    *outputFormat
	reasoning bool
	// elems counts the tools, system blocks and parts added so far; marks
	// holds the counts at which a cache breakpoint was placed.
	elems int
	marks []int
}

// requestError is a client mistake in a request, reported as a 400 in the
// cloud's shape. param names the offending field when known.
type requestError struct {
	msg   string
	param string
}

func (e *requestError) Error() string { return e.msg }

// badRequest formats a requestError.
func badRequest(format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf(format, args...)}
}

// addTool declares a tool.
func (c *conversation) addTool(t toolDef) {
	c.tools = append(c.tools, t)
	c.elems++
}

// addSystem appends a block of system text.
func (c *conversation) addSystem(text string) {
	c.system = append(c.system, text)
	c.elems++
}

// add appends a part to the conversation, merging it into the last turn
// when that turn has the same role. Empty text parts are skipped.
func (c *conversation) add(role string, p part) {
	if p.kind == partText && p.text == "" {
		return
	}
	if n := len(c.turns); n == 0 || c.turns[n-1].role != role {
		c.turns = append(c.turns, turn{role: role})
	}
	t := &c.turns[len(c.turns)-1]
	t.parts = append(t.parts, p)
	c.elems++
}

// callTurn returns the index of the turn that holds a tool call with the
// id, or -1.
func (c *conversation) callTurn(id string) int {
	for i, t := range c.turns {
		for _, p := range t.parts {
			if p.kind == partToolCall && p.callID == id {
				return i
			}
		}
	}
	return -1
}

// markCache places a cache breakpoint after everything added so far.
func (c *conversation) markCache() {
	if c.elems == 0 {
		return
	}
	if n := len(c.marks); n > 0 && c.marks[n-1] == c.elems {
		return
	}
	c.marks = append(c.marks, c.elems)
}

// validateOptions holds cloud-specific validation rules.
type validateOptions struct {
	// toolsForHistory requires declared tools when the history has tool
	// calls or results (Bedrock's rule).
	toolsForHistory bool
}

// validate checks the conversation as the clouds do and resolves the tool
// name of every tool result from the call it answers.
func (c *conversation) validate(o validateOptions) error {
	if len(c.turns) == 0 {
		return badRequest("the conversation has no messages")
	}
	hasToolParts := false
	for i := range c.turns {
		t := &c.turns[i]
		var calls []part
		if i > 0 && c.turns[i-1].role == roleAssistant {
			for _, p := range c.turns[i-1].parts {
				if p.kind == partToolCall {
					calls = append(calls, p)
				}
			}
		}
		answered := make([]bool, len(calls))
		for j := range t.parts {
			p := &t.parts[j]
			switch p.kind {
			case partToolCall:
				hasToolParts = true
				if t.role != roleAssistant {
					return badRequest("turn %d: tool calls must come from the assistant", i)
				}
			case partToolResult:
				hasToolParts = true
				if t.role != roleUser {
					return badRequest("turn %d: tool results must come from the user", i)
				}
				k := matchCall(calls, answered, *p)
				if k < 0 {
					id := p.callID
					if id == "" {
						id = p.name
					}
					return badRequest("turn %d: tool result %q does not answer a tool call of the previous assistant turn", i, id)
				}
				answered[k] = true
				p.name = calls[k].name
				if p.callID == "" {
					p.callID = calls[k].callID
				}
			}
		}
		if len(calls) > 0 && t.role == roleUser {
			var missing []string
			for k, ok := range answered {
				if !ok {
					missing = append(missing, calls[k].callID)
				}
			}
			if len(missing) > 0 {
				return badRequest("turn %d: tool calls without a result in the next turn: %s", i, strings.Join(missing, ", "))
			}
		}
	}
	if o.toolsForHistory && hasToolParts && len(c.tools) == 0 {
		return badRequest("tools must be declared when the conversation has tool calls or tool results")
	}
	if c.choice == choiceTool {
		if c.tool(c.choiceName) == nil {
			return badRequest("tool choice names %q, which is not a declared tool", c.choiceName)
		}
	}
	if (c.choice == choiceAny || c.choice == choiceTool) && len(c.tools) == 0 {
		return badRequest("a tool choice that forces a tool needs declared tools")
	}
	seen := make(map[string]bool, len(c.tools))
	for _, t := range c.tools {
		if t.name == "" {
			return badRequest("a tool has no name")
		}
		if seen[t.name] {
			return badRequest("tool %q is declared twice", t.name)
		}
		seen[t.name] = true
	}
	for _, name := range c.allowed {
		if !seen[name] {
			return badRequest("allowed tool %q is not declared", name)
		}
	}
	if c.maxTokens < 0 {
		return badRequest("the output token limit must not be negative")
	}
	return nil
}

// matchCall finds the unanswered call that result p answers: by ID, or by
// name when the result or the call carries no ID (Gemini). It returns -1
// if none.
func matchCall(calls []part, answered []bool, p part) int {
	for k, c := range calls {
		if answered[k] {
			continue
		}
		if p.callID != "" && c.callID == p.callID {
			return k
		}
		if (p.callID == "" || c.callID == "") && p.name != "" && c.name == p.name {
			return k
		}
	}
	return -1
}

// tool returns the declared tool called name, or nil.
func (c *conversation) tool(name string) *toolDef {
	for i := range c.tools {
		if c.tools[i].name == name {
			return &c.tools[i]
		}
	}
	return nil
}

// userTurns counts the user turns.
func (c *conversation) userTurns() int {
	n := 0
	for _, t := range c.turns {
		if t.role == roleUser {
			n++
		}
	}
	return n
}

// lastUser returns the last user turn, or nil.
func (c *conversation) lastUser() *turn {
	for i := len(c.turns) - 1; i >= 0; i-- {
		if c.turns[i].role == roleUser {
			return &c.turns[i]
		}
	}
	return nil
}

// lastUserText joins the text parts of the last user turn.
func (c *conversation) lastUserText() string {
	t := c.lastUser()
	if t == nil {
		return ""
	}
	var texts []string
	for _, p := range t.parts {
		if p.kind == partText {
			texts = append(texts, p.text)
		}
	}
	return strings.Join(texts, "\n")
}

// pendingResults returns the tool results of the final turn, when it is a
// user turn carrying them.
func (c *conversation) pendingResults() []part {
	if len(c.turns) == 0 {
		return nil
	}
	t := c.turns[len(c.turns)-1]
	if t.role != roleUser {
		return nil
	}
	var rs []part
	for _, p := range t.parts {
		if p.kind == partToolResult {
			rs = append(rs, p)
		}
	}
	return rs
}

// attachments counts images and other attachments in the conversation.
func (c *conversation) attachments() (images, documents int) {
	for _, t := range c.turns {
		for _, p := range t.parts {
			switch p.kind {
			case partImage:
				images++
			case partDocument:
				documents++
			}
		}
	}
	return images, documents
}

// fieldHash feeds length-prefixed fields to a hash, so that field
// boundaries cannot be confused.
type fieldHash struct{ h hash.Hash }

func newFieldHash() fieldHash { return fieldHash{h: sha256.New()} }

func (f fieldHash) add(fields ...string) {
	var n [binary.MaxVarintLen64]byte
	for _, s := range fields {
		f.h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		f.h.Write([]byte(s))
	}
}

func (f fieldHash) hex() string { return hex.EncodeToString(f.h.Sum(nil)) }

// history is the hex SHA-256 of the normalized conversation described in
// the package documentation.
func (c *conversation) history() string {
	f := newFieldHash()
	for _, s := range c.system {
		f.add("system", s)
	}
	for _, t := range c.turns {
		f.add("turn", t.role)
		for _, p := range t.parts {
			p.hashInto(f)
		}
	}
	return f.hex()
}

// hashInto feeds the part's content to f, leaving out tool call IDs.
func (p part) hashInto(f fieldHash) {
	switch p.kind {
	case partText:
		f.add("text", p.text)
	case partImage, partDocument:
		kind := "image"
		if p.kind == partDocument {
			kind = "document"
		}
		sum := sha256.Sum256(p.data)
		f.add(kind, p.mime, p.url, hex.EncodeToString(sum[:]), p.text)
	case partToolCall:
		f.add("tool_call", p.name, p.args)
	case partToolResult:
		f.add("tool_result", p.name, p.result, strconv.FormatBool(p.isError))
	}
}

// tokens returns the part's input token count.
func (p part) tokens() int {
	switch p.kind {
	case partText:
		return countTokens(p.text)
	case partImage, partDocument:
		return attachmentTokens + countTokens(p.text)
	case partToolCall:
		return countTokens(p.name) + countTokens(p.args)
	case partToolResult:
		return countTokens(p.name) + countTokens(p.result)
	}
	return 0
}

// tokens returns the tool declaration's input token count.
func (t toolDef) tokens() int {
	n := countTokens(t.name) + countTokens(t.description)
	if t.schema != nil {
		b, _ := json.Marshal(t.schema)
		n += countTokens(string(b))
	}
	return n
}

// inputTokens counts the whole request, at least 1.
func (c *conversation) inputTokens() int {
	n := 0
	for _, t := range c.tools {
		n += t.tokens()
	}
	for _, s := range c.system {
		n += countTokens(s)
	}
	for _, t := range c.turns {
		for _, p := range t.parts {
			n += p.tokens()
		}
	}
	return max(n, 1)
}

// cachePrefix is the part of a request up to one cache breakpoint.
type cachePrefix struct {
	key    string // hex SHA-256 of the prefix content
	tokens int    // input tokens in the prefix
}

// cachePrefixes resolves the cache breakpoints, in order, walking tools,
// system blocks and parts in the order they were added.
func (c *conversation) cachePrefixes() []cachePrefix {
	if len(c.marks) == 0 {
		return nil
	}
	var out []cachePrefix
	f := newFieldHash()
	f.add(c.model)
	n, tokens, next := 0, 0, 0
	step := func(t int) {
		n++
		tokens += t
		if next < len(c.marks) && c.marks[next] == n {
			out = append(out, cachePrefix{key: hex.EncodeToString(f.h.Sum(nil)), tokens: tokens})
			next++
		}
	}
	for _, t := range c.tools {
		b, _ := json.Marshal(t.schema)
		f.add("tool", t.name, t.description, string(b))
		step(t.tokens())
	}
	for _, s := range c.system {
		f.add("system", s)
		step(countTokens(s))
	}
	for _, t := range c.turns {
		for _, p := range t.parts {
			f.add("turn", t.role)
			p.hashInto(f)
			step(p.tokens())
		}
	}
	return out
}

// countTokens counts runs of letters and digits and every other non-space
// character.
func countTokens(s string) int {
	n, inWord := 0, false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if !inWord {
				n++
				inWord = true
			}
		case unicode.IsSpace(r):
			inWord = false
		default:
			n++
			inWord = false
		}
	}
	return n
}
