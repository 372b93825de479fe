package openai

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"switchyard/internal/jsonwire"
)

// decodeTextAnswer reads the common shape of a Chat Completions answer (one
// choice whose message is text or a refusal, no error) by walking its
// bytes in place, several times cheaper than encoding/json's reflection.
// It fills exactly what json.Unmarshal would, so ResponseToLLM treats both
// alike. It fills cr, which must be zero, and reports false for any other
// shape (an error member, tool calls, content parts, several choices, a
// member name not in lower case, which encoding/json would match
// case-insensitively, or a value of an unexpected type), having filled it
// in part; json.Unmarshal then decodes the answer as before, into a zero
// value again.
func decodeTextAnswer(data []byte, cr *ChatResponse) bool {
	if !json.Valid(data) {
		return false
	}
	ok := jsonwire.EachMember(data, func(name, value []byte) bool {
		ok := true
		switch string(name) {
		case "id":
			ok = decodeString(value, &cr.ID)
		case "object":
			ok = decodeString(value, &cr.Object)
		case "model":
			ok = decodeString(value, &cr.Model)
		case "service_tier":
			ok = decodeString(value, &cr.ServiceTier)
		case "system_fingerprint":
			ok = decodeString(value, &cr.SystemFingerprint)
		case "created":
			ok = decodeInt(value, &cr.Created)
		case "error":
			ok = kindOf(value) == kindNull
		case "usage":
			switch kindOf(value) {
			case kindNull:
				cr.Usage = nil
			case kindObject:
				u := new(Usage)
				ok = decodeUsage(value, u)
				cr.Usage = u
			default:
				ok = false
			}
		case "choices":
			cr.Choices = make([]Choice, 1)
			ok = decodeTextChoice(value, &cr.Choices[0])
		}
		return ok
	})
	return ok && len(cr.Choices) == 1
}

// decodeUsage reads a usage object, whose members are all integers.
func decodeUsage(raw []byte, u *Usage) bool {
	return jsonwire.EachMember(raw, func(name, value []byte) bool {
		switch string(name) {
		case "prompt_tokens":
			return decodeInt(value, &u.PromptTokens)
		case "completion_tokens":
			return decodeInt(value, &u.CompletionTokens)
		case "total_tokens":
			return decodeInt(value, &u.TotalTokens)
		case "prompt_tokens_details":
			if kindOf(value) == kindNull {
				u.PromptTokensDetails = nil
				return true
			}
			d := new(PromptTokensDetails)
			u.PromptTokensDetails = d
			return jsonwire.EachMember(value, func(name, value []byte) bool {
				switch string(name) {
				case "cached_tokens":
					return decodeInt(value, &d.CachedTokens)
				case "audio_tokens":
					return decodeInt(value, &d.AudioTokens)
				case "cache_write_tokens":
					return decodeInt(value, &d.CacheWriteTokens)
				}
				return true
			})
		case "completion_tokens_details":
			if kindOf(value) == kindNull {
				u.CompletionTokensDetails = nil
				return true
			}
			d := new(CompletionTokensDetails)
			u.CompletionTokensDetails = d
			return jsonwire.EachMember(value, func(name, value []byte) bool {
				switch string(name) {
				case "reasoning_tokens":
					return decodeInt(value, &d.ReasoningTokens)
				case "audio_tokens":
					return decodeInt(value, &d.AudioTokens)
				case "accepted_prediction_tokens":
					return decodeInt(value, &d.AcceptedPredictionTokens)
				case "rejected_prediction_tokens":
					return decodeInt(value, &d.RejectedPredictionTokens)
				}
				return true
			})
		}
		return true
	})
}

// decodeTextChoice reads a choices array of one text choice.
func decodeTextChoice(raw []byte, c *Choice) bool {
	i := jsonwire.SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return false
	}
	start := jsonwire.SkipSpace(raw, i+1)
	end, ok := jsonwire.SkipValue(raw, start)
	if !ok || jsonwire.SkipSpace(raw, end) != len(raw)-1 || raw[len(raw)-1] != ']' {
		return false // none, or more than one
	}
	return jsonwire.EachMember(raw[start:end], func(name, value []byte) bool {
		ok := true
		switch string(name) {
		case "index":
			var n int64
			ok = decodeInt(value, &n)
			c.Index = int(n)
		case "logprobs":
			c.Logprobs = json.RawMessage(value)
		case "finish_reason":
			ok = decodeString(value, &c.FinishReason)
		case "message":
			ok = decodeTextMessage(value, &c.Message)
		}
		return ok
	})
}

// decodeTextMessage reads a message whose content is a string or null and
// that has no tool calls.
func decodeTextMessage(raw []byte, msg *ResponseMessage) bool {
	return jsonwire.EachMember(raw, func(name, value []byte) bool {
		ok := true
		switch string(name) {
		case "role":
			ok = decodeString(value, &msg.Role)
		case "content":
			switch kindOf(value) {
			case kindNull:
				msg.Content = Content{}
			case kindString:
				var s string
				ok = decodeString(value, &s)
				msg.Content = TextContent(s)
			default:
				ok = false
			}
		case "refusal":
			switch kindOf(value) {
			case kindNull:
				msg.Refusal = nil
			case kindString:
				var s string
				ok = decodeString(value, &s)
				msg.Refusal = &s
			default:
				ok = false
			}
		case "tool_calls":
			ok = kindOf(value) == kindNull
			msg.ToolCalls = nil
		// Raw members are kept as json.Unmarshal keeps them, null included.
		case "annotations":
			msg.Annotations = json.RawMessage(value)
		case "reasoning_content":
			msg.ReasoningContent = json.RawMessage(value)
		case "reasoning":
			msg.Reasoning = json.RawMessage(value)
		case "audio":
			msg.Audio = json.RawMessage(value)
		case "function_call":
			msg.FunctionCall = json.RawMessage(value)
		}
		return ok
	})
}

// decodeString decodes a JSON string, or leaves s alone for null, as
// json.Unmarshal does; raw is valid JSON.
func decodeString(raw []byte, s *string) bool {
	switch kindOf(raw) {
	case kindNull:
		return true
	case kindString:
		if in := raw[1 : len(raw)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
			*s = string(in)
			return true
		}
		return json.Unmarshal(raw, s) == nil
	}
	return false
}

// decodeInt decodes a JSON integer, or leaves n alone for null.
func decodeInt(raw []byte, n *int64) bool {
	switch kindOf(raw) {
	case kindNull:
		return true
	case kindNumber:
		// As json.Unmarshal into an int64: an integer in range, not 1.0
		// or 1e3.
		v, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return false
		}
		*n = v
		return true
	}
	return false
}
