package openai

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"

	"switchyard/internal/jsonwire"
)

// member is one top-level member of a JSON object: its decoded name, and
// the raw bytes of its quoted key and of its value.
type member struct {
	name       string
	key, value []byte
}

// members splits a JSON object into its top-level members without
// decoding their values, so that a body can be edited member by member and
// every other byte kept as sent. It checks the object's structure, not
// its values' grammar: the fast path only edits bodies that the front door
// has already decoded. ok is false when body is not an object.
func members(body []byte) (ms []member, ok bool) {
	return appendMembers(nil, body)
}

// appendMembers is members appending to ms, so that a caller can give it
// room on its stack.
func appendMembers(ms []member, body []byte) ([]member, bool) {
	i := jsonwire.SkipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, false
	}
	i = jsonwire.SkipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return ms, jsonwire.SkipSpace(body, i+1) == len(body)
	}
	for {
		if i >= len(body) || body[i] != '"' {
			return nil, false
		}
		end, ok := jsonwire.SkipString(body, i)
		if !ok {
			return nil, false
		}
		key := body[i:end]
		name := memberName(key[1 : len(key)-1])
		if bytes.IndexByte(key, '\\') >= 0 && json.Unmarshal(key, &name) != nil {
			return nil, false
		}
		i = jsonwire.SkipSpace(body, end)
		if i >= len(body) || body[i] != ':' {
			return nil, false
		}
		start := jsonwire.SkipSpace(body, i+1)
		if end, ok = jsonwire.SkipValue(body, start); !ok {
			return nil, false
		}
		ms = append(ms, member{name: name, key: key, value: body[start:end]})
		i = jsonwire.SkipSpace(body, end)
		if i >= len(body) {
			return nil, false
		}
		switch body[i] {
		case ',':
			i = jsonwire.SkipSpace(body, i+1)
		case '}':
			return ms, jsonwire.SkipSpace(body, i+1) == len(body)
		default:
			return nil, false
		}
	}
}

// memberName returns the name of a member as a string, without allocating
// one for the names a chat request's members usually have.
func memberName(b []byte) string {
	switch string(b) {
	case "model":
		return "model"
	case "messages":
		return "messages"
	case "stream":
		return "stream"
	case "stream_options":
		return "stream_options"
	case "temperature":
		return "temperature"
	case "max_tokens":
		return "max_tokens"
	case "max_completion_tokens":
		return "max_completion_tokens"
	case "tools":
		return "tools"
	case "tool_choice":
		return "tool_choice"
	case "user":
		return "user"
	case "input":
		return "input"
	}
	return string(b)
}

// rewrite rebuilds an object from its members, in their order and with
// their bytes untouched, except for the members named in edit: each of
// those is written once, at its first place, with its edited value (a nil
// value drops it), or appended when the object lacks it.
func rewrite(ms []member, edit map[string][]byte) []byte {
	n := 2
	for _, m := range ms {
		n += len(m.key) + len(m.value) + 2
	}
	out := make([]byte, 0, n+64)
	out = append(out, '{')
	put := func(key, value []byte) {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(append(append(out, key...), ':'), value...)
	}
	var room [4]string
	done := room[:0] // the edited names written or dropped
	for _, m := range ms {
		value, edited := edit[m.name]
		if !edited {
			put(m.key, m.value)
			continue
		}
		if slices.Contains(done, m.name) {
			continue
		}
		if value != nil {
			put(m.key, value)
		}
		done = append(done, m.name)
	}
	if len(done) < len(edit) {
		for _, name := range slices.Sorted(maps.Keys(edit)) {
			if value := edit[name]; !slices.Contains(done, name) && value != nil {
				put(marshalRaw(name), value)
			}
		}
	}
	return append(out, '}')
}

// AnswerModel finds the model member of a Chat Completions answer, for
// the response side of the same-dialect fast path: the answer goes to the
// client as head, the client's model name (a JSON string), tail, with
// every other byte as the channel sent it. ok is false, and the answer
// must take the full path, when body is not an object with exactly one
// model member, or when a member name is written with escapes (which a
// byte comparison could not match safely). body is expected to be valid
// JSON (the client decoded it already); only its top level is checked.
func AnswerModel(body []byte) (head, tail []byte, ok bool) {
	found := false
	var start, end int
	i := jsonwire.SkipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, nil, false
	}
	i = jsonwire.SkipSpace(body, i+1)
	first := true
	for i < len(body) && (body[i] != '}' || !first) {
		if body[i] != '"' {
			return nil, nil, false
		}
		kend, ok := jsonwire.SkipString(body, i)
		if !ok {
			return nil, nil, false
		}
		key := body[i:kend]
		if bytes.IndexByte(key, '\\') >= 0 {
			return nil, nil, false
		}
		i = jsonwire.SkipSpace(body, kend)
		if i >= len(body) || body[i] != ':' {
			return nil, nil, false
		}
		vstart := jsonwire.SkipSpace(body, i+1)
		vend, ok := jsonwire.SkipValue(body, vstart)
		if !ok {
			return nil, nil, false
		}
		if string(key) == `"model"` {
			if found {
				return nil, nil, false
			}
			found, start, end = true, vstart, vend
		}
		first = false
		i = jsonwire.SkipSpace(body, vend)
		if i >= len(body) {
			return nil, nil, false
		}
		if body[i] == '}' {
			break
		}
		if body[i] != ',' {
			return nil, nil, false
		}
		i = jsonwire.SkipSpace(body, i+1)
	}
	if i >= len(body) || jsonwire.SkipSpace(body, i+1) != len(body) || !found {
		return nil, nil, false
	}
	return body[:start], body[end:], true
}
