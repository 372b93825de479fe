package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"switchyard/internal/llm"
)

// DecodeMessagesRequest decodes a client's /v1/messages body strictly: a
// field of the wrong type fails with an error wrapping llm.ErrInvalid that
// names the field ("messages[1].content[0].text: expected a string"), and
// a field nested in a message, block, tool or other object that the
// gateway does not model is kept in MessagesRequest.Unknown by its path
// (see decoder). Unknown top-level fields are kept in
// MessagesRequest.Extra. Required fields and value rules are
// RequestToLLM's concern.
func DecodeMessagesRequest(body []byte) (*MessagesRequest, error) {
	d := &decoder{}
	o, err := d.newObject("request", body)
	if err != nil {
		return nil, err
	}
	o.path = ""
	r := &MessagesRequest{}
	errs := []error{
		o.field("model", &r.Model, "a string"),
		o.field("max_tokens", &r.MaxTokens, "an integer"),
		o.field("stream", &r.Stream, "a boolean"),
		o.field("stop_sequences", &r.StopSequences, "an array of strings"),
		o.field("temperature", &r.Temperature, "a number"),
		o.field("top_p", &r.TopP, "a number"),
		o.field("top_k", &r.TopK, "an integer"),
	}
	if err := firstError(errs); err != nil {
		return nil, err
	}
	if raw, ok := o.take("messages"); ok {
		items, err := array("messages", raw, "an array of messages")
		if err != nil {
			return nil, err
		}
		r.Messages = make([]Message, len(items))
		for i, item := range items {
			if r.Messages[i], err = d.decodeMessage(fmt.Sprintf("messages[%d]", i), item); err != nil {
				return nil, err
			}
		}
	}
	if raw, ok := o.take("system"); ok {
		if r.System, err = d.decodeContent("system", raw, BlockText); err != nil {
			return nil, err
		}
	}
	if raw, ok := o.take("tools"); ok {
		items, err := array("tools", raw, "an array of tools")
		if err != nil {
			return nil, err
		}
		r.Tools = make([]Tool, len(items))
		for i, item := range items {
			if r.Tools[i], err = d.decodeTool(fmt.Sprintf("tools[%d]", i), item); err != nil {
				return nil, err
			}
		}
	}
	if raw, ok := o.take("tool_choice"); ok {
		if r.ToolChoice, err = d.decodeToolChoice("tool_choice", raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := o.take("metadata"); ok {
		if r.Metadata, err = d.decodeMetadata("metadata", raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := o.take("thinking"); ok {
		if r.Thinking, err = d.decodeThinking("thinking", raw); err != nil {
			return nil, err
		}
	}
	if raw, ok := o.take("output_config"); ok {
		if r.OutputConfig, err = d.decodeOutputConfig("output_config", raw); err != nil {
			return nil, err
		}
	}
	for _, k := range o.rest() {
		if r.Extra == nil {
			r.Extra = make(map[string]json.RawMessage)
		}
		r.Extra[k] = o.m[k]
	}
	r.Unknown = d.unknown
	return r, nil
}

func (d *decoder) decodeMessage(path string, raw json.RawMessage) (Message, error) {
	o, err := d.newObject(path, raw)
	if err != nil {
		return Message{}, err
	}
	var m Message
	if err := o.field("role", &m.Role, "a string"); err != nil {
		return Message{}, err
	}
	if raw, ok := o.take("content"); ok {
		if m.Content, err = d.decodeContent(o.at("content"), raw); err != nil {
			return Message{}, err
		}
	}
	return m, o.unsupportedRest()
}

// decodeContent decodes a string (one text block) or an array of blocks.
// When only is non-empty it lists the block types allowed there.
func (d *decoder) decodeContent(path string, raw json.RawMessage, only ...string) ([]ContentBlock, error) {
	if s, ok := stringValue(raw); ok {
		return []ContentBlock{{Type: BlockText, Text: s}}, nil
	}
	items, err := array(path, raw, "a string or an array of content blocks")
	if err != nil {
		return nil, err
	}
	blocks := make([]ContentBlock, len(items))
	for i, item := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		if blocks[i], err = d.decodeBlock(p, item); err != nil {
			return nil, err
		}
		if len(only) > 0 && !slices.Contains(only, blocks[i].Type) {
			return nil, fmt.Errorf("%w: %s: %s block not allowed here (want %s)", llm.ErrInvalid, p, blocks[i].Type, strings.Join(only, " or "))
		}
	}
	return blocks, nil
}

func (d *decoder) decodeBlock(path string, raw json.RawMessage) (ContentBlock, error) {
	o, err := d.newObject(path, raw)
	if err != nil {
		return ContentBlock{}, err
	}
	var b ContentBlock
	if err := o.field("type", &b.Type, "a string"); err != nil {
		return b, err
	}
	var errs []error
	switch b.Type {
	case BlockText:
		errs = append(errs, o.field("text", &b.Text, "a string"))
		if raw, ok := o.take("citations"); ok && !emptyArray(raw) {
			errs = append(errs, unsupportedf("%s: citations", path))
		}
	case BlockImage:
		if raw, ok := o.take("source"); ok {
			b.Source, err = d.decodeImageSource(o.at("source"), raw)
			errs = append(errs, err)
		}
	case BlockToolUse:
		errs = append(errs, o.field("id", &b.ID, "a string"), o.field("name", &b.Name, "a string"))
		if raw, ok := o.take("input"); ok {
			if !isObject(raw) {
				errs = append(errs, invalidf("%s: expected an object", o.at("input")))
			}
			b.Input = raw
		}
	case BlockToolResult:
		errs = append(errs, o.field("tool_use_id", &b.ToolUseID, "a string"), o.field("is_error", &b.IsError, "a boolean"))
		if raw, ok := o.take("content"); ok {
			b.Content, err = d.decodeContent(o.at("content"), raw, BlockText, BlockImage)
			errs = append(errs, err)
		}
	case BlockThinking:
		errs = append(errs, o.field("thinking", &b.Thinking, "a string"), o.field("signature", &b.Signature, "a string"))
	case BlockRedactedThinking:
		errs = append(errs, o.field("data", &b.Data, "a string"))
	case "":
		return b, invalidf("%s: type: required", path)
	default:
		return b, unsupportedf("%s: %q blocks", path, b.Type)
	}
	if b.Type != BlockThinking && b.Type != BlockRedactedThinking {
		if raw, ok := o.take("cache_control"); ok {
			b.CacheControl, err = d.decodeCacheControl(o.at("cache_control"), raw)
			errs = append(errs, err)
		}
	}
	errs = append(errs, o.unsupportedRest())
	return b, firstError(errs)
}

func (d *decoder) decodeImageSource(path string, raw json.RawMessage) (*ImageSource, error) {
	o, err := d.newObject(path, raw)
	if err != nil {
		return nil, err
	}
	s := &ImageSource{}
	errs := []error{o.field("type", &s.Type, "a string")}
	switch s.Type {
	case "base64":
		errs = append(errs, o.field("media_type", &s.MediaType, "a string"), o.field("data", &s.Data, "a string"))
	case "url":
		errs = append(errs, o.field("url", &s.URL, "a string"))
	case "file":
		errs = append(errs, o.field("file_id", &s.FileID, "a string"))
	default:
		return nil, invalidf("%s: type: want base64, url or file, got %q", path, s.Type)
	}
	errs = append(errs, o.unsupportedRest())
	return s, firstError(errs)
}

func (d *decoder) decodeCacheControl(path string, raw json.RawMessage) (*CacheControl, error) {
	o, err := d.newObject(path, raw)
	if err != nil {
		return nil, err
	}
	c := &CacheControl{}
	errs := []error{o.field("type", &c.Type, "a string"), o.field("ttl", &c.TTL, "a string"), o.unsupportedRest()}
	return c, firstError(errs)
}

func (d *decoder) decodeTool(path string, raw json.RawMessage) (Tool, error) {
	o, err := d.newObject(path, raw)
	if err != nil {
		return Tool{}, err
	}
	var t Tool
	if err := o.field("type", &t.Type, "a string"); err != nil {
		return t, err
	}
	if t.Type != "" && t.Type != "custom" {
		return t, unsupportedf("%s: server tool %q", path, t.Type)
	}
	errs := []error{
		o.field("name", &t.Name, "a string"),
		o.field("description", &t.Description, "a string"),
		o.field("strict", &t.Strict, "a boolean"),
	}
	if raw, ok := o.take("input_schema"); ok {
		if !isObject(raw) {
			errs = append(errs, invalidf("%s: expected an object", o.at("input_schema")))
		}
		t.InputSchema = raw
	}
	if raw, ok := o.take("cache_control"); ok {
		t.CacheControl, err = d.decodeCacheControl(o.at("cache_control"), raw)
		errs = append(errs, err)
	}
	errs = append(errs, o.unsupportedRest())
	return t, firstError(errs)
}

func (d *decoder) decodeToolChoice(path string, raw json.RawMessage) (*ToolChoice, error) {
	o, err := d.newObject(path, raw)
	if err != nil {
		return nil, err
	}
	c := &ToolChoice{}
	errs := []error{
		o.field("type", &c.Type, "a string"),
		o.field("name", &c.Name, "a string"),
		o.field("disable_parallel_tool_use", &c.DisableParallelToolUse, "a boolean"),
		o.unsupportedRest(),
	}
	return c, firstError(errs)
}

func (d *decoder) decodeMetadata(path string, raw json.RawMessage) (*Metadata, error) {
	o, err := d.newObject(path, raw)
	if err != nil {
		return nil, err
	}
	m := &Metadata{}
	errs := []error{o.field("user_id", &m.UserID, "a string"), o.unsupportedRest()}
	return m, firstError(errs)
}

func (d *decoder) decodeThinking(path string, raw json.RawMessage) (*Thinking, error) {
	o, err := d.newObject(path, raw)
	if err != nil {
		return nil, err
	}
	t := &Thinking{}
	errs := []error{
		o.field("type", &t.Type, "a string"),
		o.field("budget_tokens", &t.BudgetTokens, "an integer"),
		o.field("display", &t.Display, "a string"),
		o.unsupportedRest(),
	}
	return t, firstError(errs)
}

func (d *decoder) decodeOutputConfig(path string, raw json.RawMessage) (*OutputConfig, error) {
	o, err := d.newObject(path, raw)
	if err != nil {
		return nil, err
	}
	c := &OutputConfig{}
	errs := []error{o.field("effort", &c.Effort, "a string")}
	if raw, ok := o.take("format"); ok {
		f, err := d.newObject(o.at("format"), raw)
		if err != nil {
			return nil, err
		}
		c.Format = &OutputFormat{}
		errs = append(errs, f.field("type", &c.Format.Type, "a string"))
		if raw, ok := f.take("schema"); ok {
			if !isObject(raw) {
				errs = append(errs, invalidf("%s: expected an object", f.at("schema")))
			}
			c.Format.Schema = raw
		}
		errs = append(errs, f.unsupportedRest())
	}
	errs = append(errs, o.unsupportedRest())
	return c, firstError(errs)
}

// object is a JSON object being decoded field by field. Fields whose value
// is null count as absent.
type object struct {
	path string
	m    map[string]json.RawMessage
	seen map[string]bool
	d    *decoder
}

// decoder decodes one request body. Members nested in it that the gateway
// does not model are not refused: they are recorded by JSON path, carried
// in the client's own bytes by the same-dialect fast path, and refused by
// name by every channel that translates the request (the same rule as the
// OpenAI decoder's; see docs/compatibility.md).
type decoder struct {
	unknown map[string]json.RawMessage
}

func (d *decoder) newObject(path string, raw json.RawMessage) (*object, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, invalidf("%s: expected an object", path)
	}
	return &object{path: path, m: m, seen: make(map[string]bool, len(m)), d: d}, nil
}

// at is the path of the object's field key.
func (o *object) at(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// take returns the field's raw value, or false when it is absent or null.
func (o *object) take(key string) (json.RawMessage, bool) {
	raw, ok := o.m[key]
	o.seen[key] = true
	if !ok || isNull(raw) {
		return nil, false
	}
	return raw, true
}

// field decodes key into dst when present; want describes the expected
// JSON type for the error.
func (o *object) field(key string, dst any, want string) error {
	raw, ok := o.take(key)
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return invalidf("%s: expected %s", o.at(key), want)
	}
	return nil
}

// rest lists the fields not yet taken, sorted.
func (o *object) rest() []string {
	var keys []string
	for k := range o.m {
		if !o.seen[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// unsupportedRest records the fields that remain, which the gateway does
// not model, in the decoder's unknown members; a null value is as good as
// absent.
func (o *object) unsupportedRest() error {
	for _, k := range o.rest() {
		if !isNull(o.m[k]) {
			if o.d.unknown == nil {
				o.d.unknown = make(map[string]json.RawMessage)
			}
			o.d.unknown[o.at(k)] = o.m[k]
		}
	}
	return nil
}

func array(path string, raw json.RawMessage, want string) ([]json.RawMessage, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalidf("%s: expected %s", path, want)
	}
	return items, nil
}

func stringValue(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{' && json.Valid(raw)
}

func emptyArray(raw json.RawMessage) bool {
	var items []json.RawMessage
	return json.Unmarshal(raw, &items) == nil && len(items) == 0
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{llm.ErrInvalid}, args...)...)
}

// unsupportedf names a feature the gateway cannot carry for this dialect
// or channel.
func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: anthropic: "+format, append([]any{llm.ErrUnsupported}, args...)...)
}

// refuseUnknown refuses the unknown members the decoder met, for a value
// that is translated rather than forwarded in the client's bytes.
func (d *decoder) refuseUnknown() error {
	if len(d.unknown) == 0 {
		return nil
	}
	names := make([]string, 0, len(d.unknown))
	for k := range d.unknown {
		names = append(names, k)
	}
	slices.Sort(names)
	return unsupportedf("%s", strings.Join(names, ", "))
}
