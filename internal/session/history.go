package session

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"switchyard/internal/llm"
	"switchyard/internal/store"
)

// Assemble rebuilds the canonical conversation of a turn from its stored
// history followed by its new input, for whichever channel serves it.
// Instructions come first in the system parts, then the text of system and
// developer messages in order (the canonical model keeps system text apart
// from the turns). Consecutive assistant-side items (messages, function
// calls, reasoning) form one assistant message, and consecutive function
// call outputs one user message of tool results, which is how every
// channel expects a tool round trip. Every function call output must
// answer a call made before it, in the history or the input; otherwise
// the error names the call. Messages with no content add nothing.
//
// The result shares the items' strings; it allocates a constant number of
// slices plus what the item count and inline images need, so the memory of
// a turn grows with its history and no faster.
func Assemble(instructions string, history, input []store.Item) ([]llm.Part, []llm.Message, error) {
	// Size every backing array up front, so that assembling costs the
	// same few allocations for any history.
	var n sizes
	if instructions != "" {
		n.system = 1
	}
	for _, items := range [2][]store.Item{history, input} {
		for i := range items {
			n.count(&items[i])
		}
	}
	a := assembler{
		system:  make([]llm.Part, 0, n.system),
		msgs:    make([]llm.Message, 0, n.items),
		parts:   make([]llm.Part, 0, n.parts),
		content: make([]llm.Part, 0, n.content),
		calls:   make([]llm.ToolCall, 0, n.calls),
		results: make([]llm.ToolResult, 0, n.results),
		names:   make(map[string]string, n.calls),
	}
	if instructions != "" {
		a.system = append(a.system, llm.Text(instructions))
	}
	for src, items := range [2][]store.Item{history, input} {
		for i := range items {
			if err := a.add(&items[i]); err != nil {
				var ie *InputError
				if errors.As(err, &ie) {
					return nil, nil, ie
				}
				where := "history"
				if src == 1 {
					where = "input[" + strconv.Itoa(i) + "]"
				}
				return nil, nil, &InputError{Param: "input", Message: where + ": " + err.Error()}
			}
		}
	}
	a.close()
	if len(a.system) == 0 {
		a.system = nil
	}
	return a.system, a.msgs, nil
}

// sizes counts what assembling items needs room for.
type sizes struct {
	items, system, parts, content, calls, results int
}

func (n *sizes) count(it *store.Item) {
	n.items++
	switch it.Type {
	case store.ItemMessage:
		if it.Role == "system" || it.Role == "developer" {
			n.system += len(it.Content)
		} else {
			n.parts += len(it.Content)
		}
	case store.ItemFunctionCall:
		n.parts++
		n.calls++
	case store.ItemFunctionCallOutput:
		n.parts++
		n.results++
		n.content += max(1, len(it.OutputParts))
	default:
		n.parts++
	}
}

// assembler folds items into messages. Parts of all messages share one
// backing array: the open message's parts are always its tail, and each
// message's slice is capped at its end, so later appends never write into
// an earlier message.
type assembler struct {
	system []llm.Part
	msgs   []llm.Message
	parts  []llm.Part
	// content holds the parts of tool results, calls and results the
	// variants parts point to; like parts, each is filled in order.
	content []llm.Part
	calls   []llm.ToolCall
	results []llm.ToolResult
	names   map[string]string // call ID → function name
	// open is the role of the message being built, start the index in
	// parts where it begins, and toolTurn whether it holds tool results.
	open     llm.Role
	start    int
	toolTurn bool
}

// side returns the role an item speaks for.
func side(it *store.Item) llm.Role {
	switch it.Type {
	case store.ItemFunctionCall, store.ItemReasoning:
		return llm.RoleAssistant
	case store.ItemFunctionCallOutput:
		return llm.RoleUser
	}
	if it.Role == "assistant" {
		return llm.RoleAssistant
	}
	return llm.RoleUser
}

// begin makes sure the open message has the role and kind an item needs.
func (a *assembler) begin(role llm.Role, toolResults bool) {
	if a.open == role && (role == llm.RoleAssistant || a.toolTurn && toolResults) {
		return
	}
	a.close()
	a.open, a.start, a.toolTurn = role, len(a.parts), toolResults
}

// close ends the open message, if it has any parts.
func (a *assembler) close() {
	if a.open != "" && len(a.parts) > a.start {
		a.msgs = append(a.msgs, llm.Message{Role: a.open, Parts: a.parts[a.start:len(a.parts):len(a.parts)]})
	}
	a.open = ""
}

func (a *assembler) add(it *store.Item) error {
	switch it.Type {
	case store.ItemMessage:
		return a.message(it)
	case store.ItemFunctionCall:
		if it.CallID == "" || it.Name == "" {
			return fmt.Errorf("function call %q: call_id and name are required", it.ID)
		}
		a.begin(llm.RoleAssistant, false)
		a.names[it.CallID] = it.Name
		a.calls = append(a.calls, llm.ToolCall{ID: it.CallID, Name: it.Name, Arguments: it.Arguments})
		a.parts = append(a.parts, llm.Part{Kind: llm.PartToolCall, ToolCall: &a.calls[len(a.calls)-1]})
	case store.ItemFunctionCallOutput:
		name, ok := a.names[it.CallID]
		if !ok {
			return &InputError{Param: "input", Message: "No tool call found for function call output with call_id " + it.CallID + "."}
		}
		content, err := a.outputParts(it)
		if err != nil {
			return err
		}
		a.begin(llm.RoleUser, true)
		a.results = append(a.results, llm.ToolResult{CallID: it.CallID, Name: name, Content: content})
		a.parts = append(a.parts, llm.Part{Kind: llm.PartToolResult, ToolResult: &a.results[len(a.results)-1]})
	case store.ItemReasoning:
		p := llm.Part{Kind: llm.PartReasoning, Signature: it.Signature, Redacted: it.Redacted}
		p.Text = reasoningText(it)
		if p.Text == "" && p.Redacted == "" {
			return nil
		}
		a.begin(llm.RoleAssistant, false)
		a.parts = append(a.parts, p)
	default:
		return fmt.Errorf("item %q: unknown type %q", it.ID, it.Type)
	}
	return nil
}

func (a *assembler) message(it *store.Item) error {
	switch it.Role {
	case "system", "developer":
		for j, c := range it.Content {
			if !isText(c.Type) {
				return fmt.Errorf("%s message %q: content[%d]: %s parts are not allowed", it.Role, it.ID, j, c.Type)
			}
			a.system = append(a.system, llm.Text(c.Text))
		}
		return nil
	case "user", "assistant":
	default:
		return fmt.Errorf("message %q: unknown role %q", it.ID, it.Role)
	}
	if len(it.Content) == 0 {
		return nil
	}
	role := side(it)
	a.begin(role, false)
	for j, c := range it.Content {
		p, err := contentPart(c)
		if err == nil && p.Kind == llm.PartImage && role == llm.RoleAssistant {
			err = fmt.Errorf("images are not allowed in assistant messages")
		}
		if err != nil {
			return fmt.Errorf("message %q: content[%d]: %w", it.ID, j, err)
		}
		a.parts = append(a.parts, p)
	}
	return nil
}

func isText(typ string) bool {
	switch typ {
	case store.ContentInputText, store.ContentOutputText, store.ContentRefusal:
		return true
	}
	return false
}

// contentPart translates one content part of a message or tool output.
// A refusal is what the assistant said, so it travels as text.
func contentPart(c store.Content) (llm.Part, error) {
	switch {
	case isText(c.Type):
		return llm.Text(c.Text), nil
	case c.Type == store.ContentInputImage:
		img, err := imageOf(c)
		if err != nil {
			return llm.Part{}, err
		}
		return llm.Part{Kind: llm.PartImage, Image: img}, nil
	}
	return llm.Part{}, fmt.Errorf("unknown content type %q", c.Type)
}

// outputParts appends a function call output's content to a.content and
// returns it as a capped slice.
func (a *assembler) outputParts(it *store.Item) ([]llm.Part, error) {
	start := len(a.content)
	if len(it.OutputParts) == 0 {
		a.content = append(a.content, llm.Text(it.Output))
	}
	for j, c := range it.OutputParts {
		p, err := contentPart(c)
		if err != nil {
			return nil, fmt.Errorf("function call output %q: output[%d]: %w", it.ID, j, err)
		}
		a.content = append(a.content, p)
	}
	return a.content[start:len(a.content):len(a.content)], nil
}

func reasoningText(it *store.Item) string {
	texts := it.Summary
	if len(it.Content) > 0 {
		if len(it.Content) == 1 {
			return it.Content[0].Text
		}
		texts = make([]string, len(it.Content))
		for i, c := range it.Content {
			texts[i] = c.Text
		}
	}
	return strings.Join(texts, "\n")
}

// imageOf reads an image URL: an http(s) URL is kept, a base64 data: URL
// is decoded.
func imageOf(c store.Content) (*llm.Image, error) {
	u := c.ImageURL
	switch {
	case strings.HasPrefix(u, "https://"), strings.HasPrefix(u, "http://"):
		return &llm.Image{URL: u, Detail: c.Detail}, nil
	case strings.HasPrefix(u, "data:"):
		meta, data, ok := strings.Cut(u[len("data:"):], ",")
		mime, isBase64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isBase64 || mime == "" {
			return nil, fmt.Errorf("image data URL must be data:<media type>;base64,<data>")
		}
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return nil, fmt.Errorf("image data URL is not valid base64: %w", err)
		}
		return &llm.Image{MIMEType: mime, Data: b, Detail: c.Detail}, nil
	}
	return nil, fmt.Errorf("image_url must be an http(s) or data: URL")
}
