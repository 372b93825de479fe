// Package anthropic speaks Anthropic's Messages API in both directions.
//
// As a channel (egress) it turns a canonical llm.Request into a POST
// /v1/messages call, and the answer (JSON or an SSE event stream) back into
// llm values. As a dialect codec (ingress) it decodes what Anthropic SDK
// clients send to the gateway's front door and encodes answers and stream
// frames the way those SDKs expect them.
//
// Wire shapes follow API version 2023-06-01 as the official Go SDK v1
// models it. Nothing is dropped silently: a canonical feature Anthropic
// cannot express fails with an error wrapping llm.ErrUnsupported, and a
// client field the gateway does not model travels in
// llm.Request.Passthrough["anthropic"] (top-level fields), or in
// Passthrough["anthropic.messages"] by JSON path (fields nested in
// messages, tools and other objects), which only the client's own bytes
// carry: every translating channel refuses it by name.
package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"switchyard/internal/jsonwire"
)

// Dialect names the Messages wire format in llm.Raw: a request whose Raw
// has this dialect is forwarded as is, with only the model replaced.
const Dialect = "anthropic.messages"

// DefaultVersion is the anthropic-version header the adapter sends unless
// configured otherwise. 2023-06-01 still accepts sampling parameters.
const DefaultVersion = "2023-06-01"

// DefaultMaxTokens is the max_tokens sent when a canonical request leaves
// the output bound to the channel; Messages requires the field.
const DefaultMaxTokens = 4096

// Block types.
const (
	BlockText             = "text"
	BlockImage            = "image"
	BlockToolUse          = "tool_use"
	BlockToolResult       = "tool_result"
	BlockThinking         = "thinking"
	BlockRedactedThinking = "redacted_thinking"
)

// Stop reasons.
const (
	StopEndTurn                    = "end_turn"
	StopMaxTokens                  = "max_tokens"
	StopStopSequence               = "stop_sequence"
	StopToolUse                    = "tool_use"
	StopPauseTurn                  = "pause_turn"
	StopRefusal                    = "refusal"
	StopModelContextWindowExceeded = "model_context_window_exceeded"
)

// MessagesRequest is the body of POST /v1/messages.
type MessagesRequest struct {
	Model string `json:"model"`
	// MaxTokens is required by the API; 0 means the client left it out.
	MaxTokens     int            `json:"max_tokens"`
	Messages      []Message      `json:"messages"`
	System        []ContentBlock `json:"system,omitempty"`
	Tools         []Tool         `json:"tools,omitempty"`
	ToolChoice    *ToolChoice    `json:"tool_choice,omitempty"`
	StopSequences []string       `json:"stop_sequences,omitempty"`
	Stream        bool           `json:"stream,omitempty"`
	Temperature   *float64       `json:"temperature,omitempty"`
	TopP          *float64       `json:"top_p,omitempty"`
	TopK          *int           `json:"top_k,omitempty"`
	Metadata      *Metadata      `json:"metadata,omitempty"`
	Thinking      *Thinking      `json:"thinking,omitempty"`
	OutputConfig  *OutputConfig  `json:"output_config,omitempty"`
	// Extra holds every other top-level field (service_tier, container,
	// mcp_servers, context_management, fields newer than this package...)
	// as raw JSON. It is written back inline; its keys must not name a
	// field above.
	Extra map[string]json.RawMessage `json:"-"`
	// Unknown holds the fields nested deeper (in a message, block, tool,
	// ...) that the gateway does not model, keyed by JSON path
	// ("messages[0].content[1].weight"). Only the client's own bytes carry
	// them (the fast path); MarshalJSON does not write them.
	Unknown map[string]json.RawMessage `json:"-"`
}

// modelledField reports whether key is a top-level field MessagesRequest
// models (and so cannot travel in Extra).
func modelledField(key string) bool {
	switch key {
	case "model", "max_tokens", "messages", "system", "tools", "tool_choice", "stop_sequences",
		"stream", "temperature", "top_p", "top_k", "metadata", "thinking", "output_config":
		return true
	}
	return false
}

// MarshalJSON writes the modelled fields followed by Extra in key order.
func (r MessagesRequest) MarshalJSON() ([]byte, error) {
	type plain MessagesRequest
	b, err := json.Marshal(plain(r))
	if err != nil {
		return nil, err
	}
	return appendExtra(b, r.Extra)
}

// UnmarshalJSON decodes strictly, as DecodeMessagesRequest does.
func (r *MessagesRequest) UnmarshalJSON(b []byte) error {
	dec, err := DecodeMessagesRequest(b)
	if err != nil {
		return err
	}
	*r = *dec
	return nil
}

// appendExtra splices extra fields, sorted by key, into the JSON object b.
func appendExtra(b []byte, extra map[string]json.RawMessage) ([]byte, error) {
	if len(extra) == 0 {
		return b, nil
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if modelledField(k) {
			return nil, fmt.Errorf("encoding messages request: extra field %q shadows a modelled field", k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	buf.Grow(len(b) + 64*len(keys))
	buf.Write(b[:len(b)-1])
	for i, k := range keys {
		if i > 0 || len(b) > 2 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		if err := json.Compact(&buf, extra[k]); err != nil {
			return nil, fmt.Errorf("encoding messages request field %q: %w", k, err)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// Message is one conversation turn. A string content in the request is
// decoded as a single text block.
type Message struct {
	Role    string         `json:"role"`
	Content []ContentBlock `json:"content"`
}

// ContentBlock is one element of a message's content, of a system prompt
// or of a tool result. Type says which fields are set.
type ContentBlock struct {
	Type string `json:"type"`
	// Text is set for text blocks.
	Text string `json:"text,omitempty"`
	// Source is set for image blocks.
	Source *ImageSource `json:"source,omitempty"`
	// ID, Name and Input are set for tool_use blocks; Input is a JSON object.
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// ToolUseID, Content and IsError are set for tool_result blocks.
	ToolUseID string         `json:"tool_use_id,omitempty"`
	Content   []ContentBlock `json:"content,omitempty"`
	IsError   bool           `json:"is_error,omitempty"`
	// Thinking and Signature are set for thinking blocks.
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	// Data is set for redacted_thinking blocks.
	Data         string        `json:"data,omitempty"`
	CacheControl *CacheControl `json:"cache_control,omitempty"`
}

// MarshalJSON writes exactly the fields of the block's type, including
// the ones the API requires even when empty (a text block's "text", a
// tool_use block's "input").
func (b ContentBlock) MarshalJSON() ([]byte, error) {
	switch b.Type {
	case BlockText:
		if b.CacheControl == nil {
			// The bulk of every request, written as json.Marshal would.
			out := make([]byte, 0, len(`{"type":"text","text":""}`)+len(b.Text)+8)
			out = jsonwire.AppendString(append(out, `{"type":"text","text":`...), b.Text)
			return append(out, '}'), nil
		}
		return json.Marshal(struct {
			Type         string        `json:"type"`
			Text         string        `json:"text"`
			CacheControl *CacheControl `json:"cache_control,omitempty"`
		}{b.Type, b.Text, b.CacheControl})
	case BlockImage:
		return json.Marshal(struct {
			Type         string        `json:"type"`
			Source       *ImageSource  `json:"source"`
			CacheControl *CacheControl `json:"cache_control,omitempty"`
		}{b.Type, b.Source, b.CacheControl})
	case BlockToolUse:
		input := b.Input
		if len(input) == 0 {
			input = json.RawMessage(`{}`)
		}
		return json.Marshal(struct {
			Type         string          `json:"type"`
			ID           string          `json:"id"`
			Name         string          `json:"name"`
			Input        json.RawMessage `json:"input"`
			CacheControl *CacheControl   `json:"cache_control,omitempty"`
		}{b.Type, b.ID, b.Name, input, b.CacheControl})
	case BlockToolResult:
		return json.Marshal(struct {
			Type         string         `json:"type"`
			ToolUseID    string         `json:"tool_use_id"`
			Content      []ContentBlock `json:"content,omitempty"`
			IsError      bool           `json:"is_error,omitempty"`
			CacheControl *CacheControl  `json:"cache_control,omitempty"`
		}{b.Type, b.ToolUseID, b.Content, b.IsError, b.CacheControl})
	case BlockThinking:
		return json.Marshal(struct {
			Type      string `json:"type"`
			Thinking  string `json:"thinking"`
			Signature string `json:"signature"`
		}{b.Type, b.Thinking, b.Signature})
	case BlockRedactedThinking:
		return json.Marshal(struct {
			Type string `json:"type"`
			Data string `json:"data"`
		}{b.Type, b.Data})
	}
	type plain ContentBlock
	return json.Marshal(plain(b))
}

// ImageSource is where an image block's bytes come from: "base64"
// (MediaType and Data), "url" (URL) or "file" (FileID).
type ImageSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
	FileID    string `json:"file_id,omitempty"`
}

// CacheControl marks the end of a cacheable prompt prefix.
type CacheControl struct {
	// Type is always "ephemeral".
	Type string `json:"type"`
	// TTL is "5m" (the default when empty) or "1h".
	TTL string `json:"ttl,omitempty"`
}

// Tool declares a function the model may call. Type is empty (or
// "custom") for client tools; other types name Anthropic server tools.
type Tool struct {
	Type         string          `json:"type,omitempty"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	Strict       bool            `json:"strict,omitempty"`
	CacheControl *CacheControl   `json:"cache_control,omitempty"`
}

// ToolChoice is "auto", "any", "none" or "tool" (with Name).
type ToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use,omitempty"`
}

// Metadata describes the request for Anthropic's abuse detection.
type Metadata struct {
	UserID string `json:"user_id,omitempty"`
}

// Thinking configures extended thinking: "enabled" (with BudgetTokens),
// "disabled" or "adaptive".
type Thinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
	// Display is "summarized" or "omitted".
	Display string `json:"display,omitempty"`
}

// OutputConfig shapes the output: a JSON schema the answer must match,
// and an effort level.
type OutputConfig struct {
	Format *OutputFormat `json:"format,omitempty"`
	Effort string        `json:"effort,omitempty"`
}

// OutputFormat is a structured-output format; Type is "json_schema".
type OutputFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

// MessagesResponse is a whole (non-streamed) answer, and the message
// object inside a message_start stream event.
type MessagesResponse struct {
	ID      string         `json:"id"`
	Type    string         `json:"type"`
	Role    string         `json:"role"`
	Model   string         `json:"model"`
	Content []ContentBlock `json:"content"`
	// StopReason is empty (encoded as null) until the answer has stopped.
	StopReason   StopReason `json:"stop_reason"`
	StopSequence *string    `json:"stop_sequence"`
	Usage        Usage      `json:"usage"`
}

// StopReason says why the model stopped. The empty value encodes as null.
type StopReason string

// MarshalJSON writes null for the empty value.
func (s StopReason) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(s))
}

// Usage counts tokens. InputTokens excludes the cache reads and writes,
// which are counted separately.
type Usage struct {
	InputTokens              int64                `json:"input_tokens"`
	OutputTokens             int64                `json:"output_tokens"`
	CacheCreationInputTokens int64                `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64                `json:"cache_read_input_tokens"`
	OutputTokensDetails      *OutputTokensDetails `json:"output_tokens_details,omitempty"`
}

// OutputTokensDetails breaks output tokens down; ThinkingTokens are part
// of OutputTokens.
type OutputTokensDetails struct {
	ThinkingTokens int64 `json:"thinking_tokens"`
}

// ErrorResponse is the body of every non-2xx answer and the data of an
// "error" stream event.
type ErrorResponse struct {
	Type      string      `json:"type"`
	Error     ErrorDetail `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

// ErrorDetail names an error: its Type is "invalid_request_error",
// "authentication_error", "permission_error", "not_found_error",
// "request_too_large", "rate_limit_error", "api_error",
// "overloaded_error", "timeout_error" or "billing_error".
type ErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}
