package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// Response statuses, as the Responses API names them.
const (
	ResponseCompleted  = "completed"
	ResponseIncomplete = "incomplete"
	ResponseFailed     = "failed"
)

// Item types. Items are kept in one provider-neutral shape, close to the
// Responses API's, whichever channel produced them, so that a history can
// be replayed to any other channel.
const (
	ItemMessage            = "message"
	ItemFunctionCall       = "function_call"
	ItemFunctionCallOutput = "function_call_output"
	ItemReasoning          = "reasoning"
)

// Content types of an item's content parts.
const (
	ContentInputText     = "input_text"
	ContentOutputText    = "output_text"
	ContentRefusal       = "refusal"
	ContentInputImage    = "input_image"
	ContentReasoningText = "reasoning_text"
)

// Item is one entry of a stored history: a message, a function call, a
// function call's output or a reasoning block. Type says which fields are
// set. Stores keep every field but ID as JSON, so the JSON names below are
// the stored format and must not change.
type Item struct {
	// ID identifies the item within the response or conversation holding
	// it ("msg_…", "fc_…", "fco_…", "rs_…").
	ID   string `json:"-"`
	Type string `json:"type"`
	// Status is "completed", or "incomplete" for an item cut short.
	Status string `json:"status,omitempty"`

	// Role is a message's author: user, assistant, system or developer.
	Role string `json:"role,omitempty"`
	// Content is a message's parts, or a reasoning item's text.
	Content []Content `json:"content,omitempty"`

	// CallID pairs a function call with its output; Name and Arguments
	// (a JSON object, as text) are the call's.
	CallID    string `json:"call_id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments,omitempty"`
	// Output is a function call output given as text; OutputParts one
	// given as content parts. At most one of them is set.
	Output      string    `json:"output,omitempty"`
	OutputParts []Content `json:"output_parts,omitempty"`

	// Summary is a reasoning item's summary text, if any.
	Summary []string `json:"summary,omitempty"`
	// Signature authenticates reasoning text for the channel that made
	// it; Redacted holds reasoning the channel returned encrypted.
	Signature string `json:"signature,omitempty"`
	Redacted  string `json:"redacted,omitempty"`
}

// Content is one part of an item's content.
type Content struct {
	Type string `json:"type"`
	// Text is set for text, refusal and reasoning parts.
	Text string `json:"text,omitempty"`
	// ImageURL is an input image: an http(s) URL or a data: URL.
	ImageURL string `json:"image_url,omitempty"`
	// Detail is the image detail hint ("low", "high", "auto").
	Detail string `json:"detail,omitempty"`
}

// Response is a stored answer of the Responses API with the items it was
// given and produced. Only its tenant can read it, and only until it
// expires.
type Response struct {
	// ID identifies the response ("resp_…").
	ID       string
	TenantID string
	// Model is the client-facing model name.
	Model  string
	Status string
	// PreviousResponseID is the response this one continues; its history
	// comes before Input. ConversationID is the conversation it ran in.
	PreviousResponseID string
	ConversationID     string
	Metadata           map[string]string
	// Settings are the request's settings (instructions, tools, sampling,
	// output format) as the front door echoes them, in its own JSON. The
	// store keeps them verbatim.
	Settings json.RawMessage
	Usage    ResponseUsage
	// ErrorCode and ErrorMessage are set for a failed response;
	// IncompleteReason for an incomplete one.
	ErrorCode        string
	ErrorMessage     string
	IncompleteReason string
	CreatedAt        time.Time
	// CompletedAt is set when the response completed.
	CompletedAt *time.Time
	// ExpiresAt is when the response stops being readable. Continuing a
	// response extends the expiry of its whole chain to the new
	// response's, so a history still in use never loses its beginning.
	ExpiresAt time.Time
	// Input and Output are the items the response was given and produced.
	// Both are written when the response is saved; reads return Output
	// and leave Input to paged listing.
	Input  []Item
	Output []Item
}

// ResponseUsage counts a response's tokens, as the Responses API reports
// them: cached tokens are part of the input, reasoning tokens part of the
// output.
type ResponseUsage struct {
	InputTokens       int64
	CachedInputTokens int64
	OutputTokens      int64
	ReasoningTokens   int64
}

// Conversation is a long-lived, append-only history that responses run in.
// It does not expire; its tenant deletes it.
type Conversation struct {
	// ID identifies the conversation ("conv_…").
	ID        string
	TenantID  string
	Metadata  map[string]string
	CreatedAt time.Time
}

// ItemPage selects a page of a list of items.
type ItemPage struct {
	// After is the ID of the item the page starts after; empty starts at
	// the beginning (the end when Descending).
	After string
	// Limit bounds the page; zero means no bound.
	Limit int
	// Descending lists newest first.
	Descending bool
}

// MissingAncestorError reports that a response's history cannot be
// rebuilt because an earlier response of its chain was deleted or has
// expired. It wraps ErrNotFound.
type MissingAncestorError struct {
	// ResponseID is the response whose history was asked for; AncestorID
	// the earlier response that is gone.
	ResponseID string
	AncestorID string
}

func (e *MissingAncestorError) Error() string {
	return fmt.Sprintf("history of response %q: earlier response %q: %v", e.ResponseID, e.AncestorID, ErrNotFound)
}

// Unwrap returns ErrNotFound.
func (e *MissingAncestorError) Unwrap() error { return ErrNotFound }
