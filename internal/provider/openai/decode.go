package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"switchyard/internal/jsonwire"
	"switchyard/internal/llm"
)

// requestError is a problem with a request that its sender can fix. Its
// text names the JSON path of the problem when there is one; it unwraps to
// llm.ErrInvalid or llm.ErrUnsupported.
type requestError struct {
	kind error
	msg  string
}

func (e *requestError) Error() string { return e.msg }
func (e *requestError) Unwrap() error { return e.kind }

func at(path, msg string) string {
	if path == "" {
		return msg
	}
	return path + ": " + msg
}

// invalid reports a malformed request member.
func invalid(path, format string, args ...any) error {
	return &requestError{kind: llm.ErrInvalid, msg: at(path, fmt.Sprintf(format, args...))}
}

// unsupported reports a request member the gateway cannot translate.
func unsupported(path, format string, args ...any) error {
	return &requestError{kind: llm.ErrUnsupported, msg: at(path, fmt.Sprintf(format, args...))}
}

// jsonKind is the kind of a JSON value.
type jsonKind uint8

const (
	kindInvalid jsonKind = iota
	kindNull
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k jsonKind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "boolean"
	case kindNumber:
		return "number"
	case kindString:
		return "string"
	case kindArray:
		return "array"
	case kindObject:
		return "object"
	}
	return "invalid JSON"
}

// kindOf tells the kind of a JSON value from its first byte.
func kindOf(b []byte) jsonKind {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return kindInvalid
	}
	switch c := b[0]; {
	case c == 'n':
		return kindNull
	case c == 't' || c == 'f':
		return kindBool
	case c == '"':
		return kindString
	case c == '[':
		return kindArray
	case c == '{':
		return kindObject
	case c == '-' || c >= '0' && c <= '9':
		return kindNumber
	}
	return kindInvalid
}

// kindError is a JSON value of the wrong kind for where it stands.
type kindError struct {
	want string
	got  jsonKind
	// elem says the array's first element had the wrong kind; mixed says
	// its elements had different kinds.
	elem, mixed bool
}

func (e *kindError) Error() string {
	switch {
	case e.mixed:
		return "expected " + e.want + ", got an array whose elements differ"
	case e.elem:
		return "expected " + e.want + ", got an array of " + e.got.String() + "s"
	}
	return "expected " + e.want + ", got " + e.got.String()
}

func wrongKind(path, want string, got jsonKind) error {
	return invalid(path, "%s", (&kindError{want: want, got: got}).Error())
}

// A union is a wire type that takes one of several JSON shapes, each
// decoding into one of its fields.
type union interface {
	// shape returns a pointer to the field a value of kind k decodes
	// into, or nil when the union does not take that kind.
	shape(k jsonKind) any
	// shapes describes the kinds the union takes.
	shapes() string
}

// unmarshalUnion is the lenient (encoding/json) decoding of a union.
func unmarshalUnion(u union, b []byte) error {
	k := kindOf(b)
	if k == kindNull {
		return nil
	}
	dst := u.shape(k)
	if dst == nil {
		return &kindError{want: u.shapes(), got: k}
	}
	return json.Unmarshal(b, dst)
}

// extraKeeper is a struct that keeps the members it does not declare
// instead of refusing them. keepExtra may refuse a member by returning a
// *kindError.
type extraKeeper interface {
	keepExtra(key string, raw json.RawMessage) error
}

// decodeStrict decodes a request body into v, a pointer to a wire type, in
// one pass. Unlike encoding/json it matches member names exactly, refuses
// members a type does not declare (unless it is an extraKeeper, or unknown
// is not nil: see below), refuses trailing data, and reports the JSON path
// of the first problem, e.g.
// "messages[2].content[0].image_url.url: expected string, got number".
// Errors wrap llm.ErrInvalid, or llm.ErrUnsupported for unknown members.
//
// What an official SDK hands back from an answer must be accepted when it
// is sent again (openai-node's tool loop appends the assistant message it
// got, unchanged, to the next request), and a member newer than this
// package must not break a client whose request the same-dialect fast
// path forwards as sent. So when unknown is not nil, a member that no
// type declares is not refused here: it is recorded in *unknown under its
// JSON path ("messages[1].reasoning_content"), the fast path carries it in
// the client's own bytes, and a channel that translates the request
// refuses it with a 400 naming that path (see RequestToLLM). Members that
// answers carry and requests may echo without meaning (a message's
// annotations) are declared and dropped by translation instead.
//
// The body is checked whole first (json.Valid), then walked in place: no
// tokenizer, and a string without escapes costs one copy.
func decodeStrict(body []byte, v any, unknown *map[string]json.RawMessage) error {
	if !json.Valid(body) {
		var x any
		return syntaxError(json.Unmarshal(body, &x))
	}
	d := &strictDecoder{b: body, unknown: unknown}
	return d.value(nil, reflect.ValueOf(v).Elem())
}

// strictDecoder walks a body that json.Valid accepted.
type strictDecoder struct {
	b []byte
	i int
	// unknown, when not nil, receives the members no type declares,
	// keyed by JSON path, instead of their being refused.
	unknown *map[string]json.RawMessage
	// names caches the JSON names of the fields of the few struct types
	// a body holds.
	names []typeNames
}

type typeNames struct {
	t     reflect.Type
	names []string
}

// raw returns the next value's bytes and moves past it.
func (d *strictDecoder) raw() []byte {
	start := jsonwire.SkipSpace(d.b, d.i)
	end, _ := jsonwire.SkipValue(d.b, start) // the body is valid JSON
	d.i = end
	return d.b[start:end]
}

// peek returns the next non-space byte without consuming it.
func (d *strictDecoder) peek() byte {
	d.i = jsonwire.SkipSpace(d.b, d.i)
	return d.b[d.i]
}

// more reports whether an object or array whose opening byte was read has
// another member or element, consuming the comma before it or the closing
// byte after the last one.
func (d *strictDecoder) more(first bool) bool {
	switch d.peek() {
	case '}', ']':
		d.i++
		return false
	case ',':
		d.i++
	default:
		if !first {
			return false // unreachable: the body is valid JSON
		}
	}
	return true
}

// key reads an object member's name and the colon after it.
func (d *strictDecoder) key() (string, error) {
	s, err := jsonString(d.raw())
	d.i = jsonwire.SkipSpace(d.b, d.i) + 1 // ':'
	return s, err
}

// jsonString decodes a JSON string; one of plain ASCII without escapes,
// the common case, is copied without a decoder.
func jsonString(raw []byte) (string, error) {
	plain := true
	for _, c := range raw[1 : len(raw)-1] {
		if c == '\\' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// jsonPath locates a value in the body being decoded. It is rendered only
// for an error message, so decoding builds no strings.
type jsonPath struct {
	parent *jsonPath
	key    string // the member name, or "" for an array element
	index  int
}

func (p *jsonPath) String() string {
	if p == nil {
		return ""
	}
	s := p.parent.String()
	if p.key == "" {
		return s + "[" + strconv.Itoa(p.index) + "]"
	}
	if s == "" {
		return p.key
	}
	return s + "." + p.key
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// value decodes the next value of the input into v.
func (d *strictDecoder) value(path *jsonPath, v reflect.Value) error {
	if v.Type() == rawMessageType {
		raw := d.raw()
		if kindOf(raw) == kindNull {
			v.Set(reflect.Zero(rawMessageType))
		} else {
			v.Set(reflect.ValueOf(json.RawMessage(slices.Clone(raw))))
		}
		return nil
	}
	if _, ok := v.Addr().Interface().(union); !ok {
		if u, ok := v.Addr().Interface().(json.Unmarshaler); ok {
			return d.leaf(path, u)
		}
	}
	c := d.peek()
	switch c {
	case '{', '[':
		d.i++
		return d.token(path, kindOf(d.b[d.i-1:]), nil, v)
	}
	return d.token(path, kindOf([]byte{c}), d.raw(), v)
}

// leaf decodes the next value with its own UnmarshalJSON.
func (d *strictDecoder) leaf(path *jsonPath, u json.Unmarshaler) error {
	err := u.UnmarshalJSON(d.raw())
	var ke *kindError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ke):
		return invalid(path.String(), "%s", ke.Error())
	}
	return invalid(path.String(), "%v", err)
}

// token decodes into v the value of kind k that starts here: for an
// object or an array its opening byte has been read; for a scalar raw
// holds it.
func (d *strictDecoder) token(path *jsonPath, k jsonKind, raw []byte, v reflect.Value) error {
	if k == kindNull {
		v.SetZero()
		return nil
	}
	if u, ok := v.Addr().Interface().(union); ok {
		dst := u.shape(k)
		if dst == nil {
			return wrongKind(path.String(), u.shapes(), k)
		}
		return d.token(path, k, raw, reflect.ValueOf(dst).Elem())
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.token(path, k, raw, v.Elem())
	case reflect.Struct:
		if k != kindObject {
			return wrongKind(path.String(), "object", k)
		}
		return d.object(path, v)
	case reflect.Slice:
		if k != kindArray {
			return wrongKind(path.String(), "array", k)
		}
		return d.array(path, v)
	case reflect.Map:
		if k != kindObject {
			return wrongKind(path.String(), "object", k)
		}
		return d.mapping(path, v)
	case reflect.String:
		if k != kindString {
			return wrongKind(path.String(), "string", k)
		}
		s, err := jsonString(raw)
		if err != nil {
			return invalid(path.String(), "%v", err)
		}
		v.SetString(s)
		return nil
	case reflect.Bool:
		if k != kindBool {
			return wrongKind(path.String(), "boolean", k)
		}
		v.SetBool(raw[0] == 't')
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if k != kindNumber {
			return wrongKind(path.String(), "integer", k)
		}
		i, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || v.OverflowInt(i) {
			return invalid(path.String(), "expected integer, got %s", raw)
		}
		v.SetInt(i)
		return nil
	case reflect.Float32, reflect.Float64:
		if k != kindNumber {
			return wrongKind(path.String(), "number", k)
		}
		f, err := strconv.ParseFloat(string(raw), v.Type().Bits())
		if err != nil {
			return invalid(path.String(), "number %s is out of range", raw)
		}
		v.SetFloat(f)
		return nil
	}
	return fmt.Errorf("openai: strict decoding into %s is not implemented", v.Type())
}

// object decodes the members of an object whose '{' has been read.
func (d *strictDecoder) object(path *jsonPath, v reflect.Value) error {
	names := d.fieldNames(v.Type())
	for first := true; d.more(first); first = false {
		key, err := d.key()
		if err != nil {
			return invalid(path.String(), "%v", err)
		}
		p := jsonPath{parent: path, key: key}
		if i := slices.Index(names, key); i >= 0 {
			if err := d.value(&p, v.Field(i)); err != nil {
				return err
			}
			continue
		}
		keeper, ok := v.Addr().Interface().(extraKeeper)
		if !ok && d.unknown != nil {
			if *d.unknown == nil {
				*d.unknown = make(map[string]json.RawMessage)
			}
			(*d.unknown)[p.String()] = slices.Clone(d.raw())
			continue
		}
		if !ok {
			return unsupported(p.String(), "unknown field")
		}
		if err := keeper.keepExtra(key, slices.Clone(d.raw())); err != nil {
			return invalid(p.String(), "%v", err)
		}
	}
	return nil
}

// array decodes the elements of an array whose '[' has been read.
func (d *strictDecoder) array(path *jsonPath, v reflect.Value) error {
	s := reflect.MakeSlice(v.Type(), 0, 0)
	for i := 0; d.more(i == 0); i++ {
		s = reflect.Append(s, reflect.Zero(v.Type().Elem()))
		p := jsonPath{parent: path, index: i}
		if err := d.value(&p, s.Index(i)); err != nil {
			return err
		}
	}
	v.Set(s)
	return nil
}

// mapping decodes an object whose '{' has been read into a map with string
// keys.
func (d *strictDecoder) mapping(path *jsonPath, v reflect.Value) error {
	m := reflect.MakeMap(v.Type())
	for first := true; d.more(first); first = false {
		key, err := d.key()
		if err != nil {
			return invalid(path.String(), "%v", err)
		}
		e := reflect.New(v.Type().Elem()).Elem()
		p := jsonPath{parent: path, key: key}
		if err := d.value(&p, e); err != nil {
			return err
		}
		m.SetMapIndex(reflect.ValueOf(key), e)
	}
	v.Set(m)
	return nil
}

// syntaxError describes why a body is not JSON.
func syntaxError(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se) && strings.HasSuffix(se.Error(), "after top-level value"):
		return invalid("", "invalid JSON: unexpected data after the top-level value")
	case errors.As(err, &se) && se.Error() == "unexpected end of JSON input":
		return invalid("", "invalid JSON: unexpected end of input")
	case errors.As(err, &se):
		return invalid("", "invalid JSON at byte %d: %v", se.Offset, se)
	}
	return invalid("", "invalid JSON: %v", err)
}

// wireNames holds the JSON field names of every struct type a request
// body decodes into, computed once when the package loads and only read
// afterwards.
var wireNames = structNames(reflect.TypeFor[ChatRequest](), reflect.TypeFor[EmbeddingRequest]())

// structNames returns the JSON field names of the struct types reachable
// from roots through fields, pointers, slices, arrays and maps.
func structNames(roots ...reflect.Type) map[reflect.Type][]string {
	out := map[reflect.Type][]string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for {
			switch t.Kind() {
			case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
				t = t.Elem()
				continue
			}
			break
		}
		if t.Kind() != reflect.Struct || out[t] != nil {
			return
		}
		names := make([]string, t.NumField())
		out[t] = names
		for i := range names {
			names[i] = jsonName(t.Field(i))
			walk(t.Field(i).Type)
		}
	}
	for _, t := range roots {
		walk(t)
	}
	return out
}

// fieldNames returns the JSON names of t's fields by index ("" for a field
// without one): from wireNames, or computed once per decoding for a type
// outside it.
func (d *strictDecoder) fieldNames(t reflect.Type) []string {
	if names, ok := wireNames[t]; ok {
		return names
	}
	for _, tn := range d.names {
		if tn.t == t {
			return tn.names
		}
	}
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = jsonName(t.Field(i))
	}
	d.names = append(d.names, typeNames{t, names})
	return names
}

// fieldIndex returns the index of t's field whose JSON name is key, or -1.
func fieldIndex(t reflect.Type, key string) int {
	for i := range t.NumField() {
		if jsonName(t.Field(i)) == key {
			return i
		}
	}
	return -1
}

// jsonName is the member name encoding/json gives a field, or "" when it
// has none here: only exported fields with an explicit name count.
func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	return name
}
