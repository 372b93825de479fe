package anthropic

import (
	"encoding/json"

	"switchyard/internal/jsonwire"
)

// decodeTextAnswer reads the common shape of a Messages answer (text
// blocks only, no thinking details in its usage) by walking its bytes in
// place, several times cheaper than encoding/json's reflection. It fills
// exactly what json.Unmarshal would: members MessagesResponse does not
// declare are skipped, as encoding/json skips them. It fills mr, which
// must be zero, and reports false for any other shape (a block of another
// type, or with a member only other blocks have, a member name not in
// lower case, which encoding/json would match case-insensitively, a
// repeated member, a value of an unexpected type), having filled it in
// part; json.Unmarshal then decodes the answer as before, into a zero
// value again.
func decodeTextAnswer(data []byte, mr *MessagesResponse) bool {
	if !json.Valid(data) {
		return false
	}
	return jsonwire.EachMember(data, func(name, value []byte) bool {
		var ok bool
		switch string(name) {
		case "id":
			mr.ID, ok = jsonwire.StringValue(value)
		case "type":
			mr.Type, ok = jsonwire.StringValue(value)
		case "role":
			mr.Role, ok = jsonwire.StringValue(value)
		case "model":
			mr.Model, ok = jsonwire.StringValue(value)
		case "stop_reason":
			if string(value) == "null" {
				return true
			}
			var s string
			s, ok = jsonwire.StringValue(value)
			mr.StopReason = StopReason(s)
		case "stop_sequence":
			if string(value) == "null" {
				return true
			}
			var s string
			s, ok = jsonwire.StringValue(value)
			mr.StopSequence = &s
		case "content":
			ok = decodeTextBlocks(value, mr)
		case "usage":
			ok = decodeUsage(value, &mr.Usage)
		default:
			return true // not a field: encoding/json skips it too
		}
		return ok
	})
}

// decodeTextBlocks reads a content array of text blocks.
func decodeTextBlocks(raw []byte, mr *MessagesResponse) bool {
	mr.Content = []ContentBlock{} // an empty array decodes to an empty slice, as with encoding/json
	return jsonwire.EachElement(raw, func(elem []byte) bool {
		mr.Content = append(mr.Content, ContentBlock{})
		b := &mr.Content[len(mr.Content)-1]
		return jsonwire.EachMember(elem, func(name, value []byte) bool {
			var ok bool
			switch string(name) {
			case "type":
				b.Type, ok = jsonwire.StringValue(value)
				ok = ok && b.Type == BlockText
			case "text":
				b.Text, ok = jsonwire.StringValue(value)
			case "source", "id", "name", "input", "tool_use_id", "content", "is_error", "thinking", "signature", "data", "cache_control":
				return false // a field of other blocks: left to encoding/json
			default:
				return true // not a field (citations): skipped
			}
			return ok
		}) && b.Type == BlockText
	})
}

// decodeUsage reads a usage object without output_tokens_details.
func decodeUsage(raw []byte, u *Usage) bool {
	return jsonwire.EachMember(raw, func(name, value []byte) bool {
		var dst *int64
		switch string(name) {
		case "input_tokens":
			dst = &u.InputTokens
		case "output_tokens":
			dst = &u.OutputTokens
		case "cache_creation_input_tokens":
			dst = &u.CacheCreationInputTokens
		case "cache_read_input_tokens":
			dst = &u.CacheReadInputTokens
		case "output_tokens_details":
			return false
		default:
			return true // not a field (service_tier, server_tool_use): skipped
		}
		if string(value) == "null" {
			return true
		}
		var ok bool
		*dst, ok = jsonwire.IntValue(value)
		return ok
	})
}
