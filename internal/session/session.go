// Package session is the stateful runtime behind the Responses API: stored
// responses and conversations, the assembly of a turn's history into a
// canonical request, and retention. State lives in the store, keyed by
// tenant and kept in a provider-neutral item shape, so any channel can
// serve any turn and any replica can continue any conversation. One
// tenant can never read, list or continue another's state: a foreign ID
// behaves exactly like an unknown one.
//
// A turn runs in two steps around the gateway call: Begin loads and checks
// the history and builds the request; Finish stores what came back.
package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/outage"
	"switchyard/internal/store"
)

// DefaultResponseTTL is how long a stored response stays readable unless
// Options.ResponseTTL says otherwise.
const DefaultResponseTTL = 30 * 24 * time.Hour

// Store is what the runtime keeps state in; sqlstore.Store implements it.
// Every method is scoped by tenant and returns an error wrapping
// store.ErrNotFound for an unknown or foreign ID.
type Store interface {
	SaveResponse(ctx context.Context, r *store.Response) error
	ResponseByID(ctx context.Context, tenantID, id string, now time.Time) (*store.Response, error)
	ResponseInputItems(ctx context.Context, tenantID, id string, now time.Time, page store.ItemPage) ([]store.Item, bool, error)
	ResponseHistory(ctx context.Context, tenantID, id string, now time.Time) ([]store.Item, error)
	DeleteResponse(ctx context.Context, tenantID, id string, now time.Time) error
	PurgeExpiredResponses(ctx context.Context, now time.Time) (int64, error)

	CreateConversation(ctx context.Context, c *store.Conversation, items []store.Item) error
	ConversationByID(ctx context.Context, tenantID, id string) (*store.Conversation, error)
	UpdateConversationMetadata(ctx context.Context, tenantID, id string, metadata map[string]string) (*store.Conversation, error)
	DeleteConversation(ctx context.Context, tenantID, id string) error
	AppendConversationItems(ctx context.Context, tenantID, id string, items []store.Item) error
	ConversationItems(ctx context.Context, tenantID, id string, page store.ItemPage) ([]store.Item, bool, error)
	ConversationHistory(ctx context.Context, tenantID, id string) ([]store.Item, error)
	ConversationItem(ctx context.Context, tenantID, id, itemID string) (*store.Item, error)
	DeleteConversationItem(ctx context.Context, tenantID, id, itemID string) error
}

// Options configure a Runtime. Only Store is required.
type Options struct {
	Store Store
	// ResponseTTL is how long a stored response stays readable.
	// Default: DefaultResponseTTL.
	ResponseTTL time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// NewID returns a fresh identifier starting with prefix. Default:
	// the prefix and 32 random hex digits.
	NewID func(prefix string) string
	// Breaker guards the store calls made while a client waits (all but
	// PurgeExpired): each gets the breaker's deadline, and while it is
	// open none is made; the call fails at once with an error wrapping
	// outage.ErrUnavailable, which the API answers with 503. Give the one
	// breaker the store's other request-path users share. Default: none,
	// the calls are made with the caller's ctx as it is.
	Breaker *outage.Breaker
}

// Runtime runs stateful turns and serves stored state. It is safe for
// concurrent use; all its state is in the store.
type Runtime struct {
	st      Store
	ttl     time.Duration
	now     func() time.Time
	newID   func(prefix string) string
	breaker *outage.Breaker
}

// New returns a runtime over o.Store.
func New(o Options) *Runtime {
	rt := &Runtime{st: o.Store, ttl: o.ResponseTTL, now: o.Now, newID: o.NewID, breaker: o.Breaker}
	if rt.ttl <= 0 {
		rt.ttl = DefaultResponseTTL
	}
	if rt.now == nil {
		rt.now = time.Now
	}
	if rt.newID == nil {
		rt.newID = randomID
	}
	return rt
}

// call makes one store call through the breaker, if there is one. The
// store's own answers (not found, a conflict) are answers, not failures:
// they come back as they are and count as the store answering.
func (rt *Runtime) call(ctx context.Context, f func(ctx context.Context) error) error {
	if rt.breaker == nil {
		return f(ctx)
	}
	var err error
	berr := rt.breaker.Do(ctx, func(ctx context.Context) error {
		err = f(ctx)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			return nil
		}
		return err
	})
	if berr != nil {
		return berr
	}
	return err
}

func randomID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return prefix + hex.EncodeToString(b[:])
}

// ID prefixes.
const (
	prefixResponse     = "resp_"
	prefixConversation = "conv_"
)

// NewItemID returns a fresh ID for an item of the given type: "msg_…",
// "fc_…", "fco_…" or "rs_…".
func (rt *Runtime) NewItemID(itemType string) string {
	switch itemType {
	case store.ItemFunctionCall:
		return rt.newID("fc_")
	case store.ItemFunctionCallOutput:
		return rt.newID("fco_")
	case store.ItemReasoning:
		return rt.newID("rs_")
	}
	return rt.newID("msg_")
}

// NewCallID returns a fresh function call ID ("call_…"), for a call whose
// channel gave it none.
func (rt *Runtime) NewCallID() string { return rt.newID("call_") }

// NotFoundError reports an unknown, foreign or expired response,
// conversation or item. It wraps store.ErrNotFound.
type NotFoundError struct {
	// Kind is "response", "conversation" or "item".
	Kind string
	ID   string
	// Ancestor is set when the response exists but an earlier response of
	// its chain was deleted or has expired, so its history is gone.
	Ancestor string
}

// Kinds of NotFoundError.
const (
	KindResponse     = "response"
	KindConversation = "conversation"
	KindItem         = "item"
)

func (e *NotFoundError) Error() string {
	if e.Ancestor != "" {
		return fmt.Sprintf("history of response %q: earlier response %q not found", e.ID, e.Ancestor)
	}
	return fmt.Sprintf("%s %q not found", e.Kind, e.ID)
}

// Unwrap returns store.ErrNotFound.
func (e *NotFoundError) Unwrap() error { return store.ErrNotFound }

// InputError is a request the client can fix: Param names the request
// member at fault and Message says what is wrong, in words fit for the
// client. It wraps llm.ErrInvalid.
type InputError struct {
	Param   string
	Message string
}

func (e *InputError) Error() string { return e.Message }

// Unwrap returns llm.ErrInvalid.
func (e *InputError) Unwrap() error { return llm.ErrInvalid }

// notFound turns a store miss into a NotFoundError of kind, and passes
// other errors through.
func notFound(err error, kind, id string) error {
	var mae *store.MissingAncestorError
	if errors.As(err, &mae) {
		return &NotFoundError{Kind: KindResponse, ID: id, Ancestor: mae.AncestorID}
	}
	if errors.Is(err, store.ErrNotFound) {
		return &NotFoundError{Kind: kind, ID: id}
	}
	return err
}

// Turn is the stateful side of one Responses API request.
type Turn struct {
	TenantID string
	// Model is the client-facing model name, stored with the response.
	Model string
	// PreviousResponseID continues a stored response; ConversationID runs
	// the turn in a conversation. At most one of them is set.
	PreviousResponseID string
	ConversationID     string
	// Instructions are this turn's system text. They are not stored as
	// items, so a continuation does not inherit them.
	Instructions string
	// Input holds the new items; Begin gives those without an ID a fresh
	// one.
	Input []store.Item
	// Store keeps the response readable (the API's "store" flag).
	Store bool
	// Metadata and Settings are stored with the response as they are.
	Metadata map[string]string
	Settings json.RawMessage
}

// Stateful reports whether the turn uses server-side state: the routing
// traffic class "stateful" rather than "stateless".
func (t *Turn) Stateful() bool {
	return t.Store || t.PreviousResponseID != "" || t.ConversationID != ""
}

// Pending is a turn whose history is loaded. Its Request is ready for the
// gateway; Finish stores the outcome.
type Pending struct {
	// ResponseID is the ID the response will have ("resp_…").
	ResponseID string
	CreatedAt  time.Time
	// Turn is the turn as begun, its input items all with IDs.
	Turn Turn
	// Request carries the assembled system parts and messages on top of
	// the base request given to Begin.
	Request *llm.Request
}

// Begin starts a turn: it checks the input, loads the history the turn
// continues (the chain of PreviousResponseID, or the conversation), and
// assembles base's System and Messages from it. base carries the
// request's other settings (tools, sampling, output format) and is not
// modified. Errors are *InputError, *NotFoundError or the store's.
func (rt *Runtime) Begin(ctx context.Context, t Turn, base *llm.Request) (*Pending, error) {
	if t.TenantID == "" {
		return nil, errors.New("beginning a turn: empty tenant ID")
	}
	if t.PreviousResponseID != "" && t.ConversationID != "" {
		return nil, &InputError{Param: "conversation",
			Message: "Mutually exclusive parameters: provide either 'previous_response_id' or 'conversation', not both."}
	}
	t.Input = rt.withIDs(t.Input)
	if err := uniqueIDs(t.Input); err != nil {
		return nil, err
	}
	if t.Stateful() && rt.breaker != nil {
		// Its outcome could not be stored: do not pay for an answer.
		if err := rt.breaker.Check(); err != nil {
			return nil, fmt.Errorf("beginning a stateful turn: %w", err)
		}
	}
	now := rt.now()
	var (
		history []store.Item
		err     error
	)
	switch {
	case t.PreviousResponseID != "":
		err = rt.call(ctx, func(ctx context.Context) (err error) {
			history, err = rt.st.ResponseHistory(ctx, t.TenantID, t.PreviousResponseID, now)
			return err
		})
		err = notFound(err, KindResponse, t.PreviousResponseID)
	case t.ConversationID != "":
		err = rt.call(ctx, func(ctx context.Context) (err error) {
			history, err = rt.st.ConversationHistory(ctx, t.TenantID, t.ConversationID)
			return err
		})
		err = notFound(err, KindConversation, t.ConversationID)
	}
	if err != nil {
		return nil, err
	}
	system, msgs, err := Assemble(t.Instructions, history, t.Input)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, &InputError{Param: "input", Message: "There is nothing to answer: give at least one input item."}
	}
	req := *base
	req.System, req.Messages = system, msgs
	return &Pending{ResponseID: rt.newID(prefixResponse), CreatedAt: now, Turn: t, Request: &req}, nil
}

// withIDs returns items with a fresh ID on each item that has none. The
// caller's slice is not modified.
func (rt *Runtime) withIDs(items []store.Item) []store.Item {
	out := make([]store.Item, len(items))
	copy(out, items)
	for i := range out {
		if out[i].ID == "" {
			out[i].ID = rt.NewItemID(out[i].Type)
		}
	}
	return out
}

func uniqueIDs(items []store.Item) error {
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if seen[it.ID] {
			return &InputError{Param: "input", Message: fmt.Sprintf("Duplicate item ID '%s' in the input.", it.ID)}
		}
		seen[it.ID] = true
	}
	return nil
}

// Outcome is how a turn ended.
type Outcome struct {
	// Status is store.ResponseCompleted, ResponseIncomplete or
	// ResponseFailed.
	Status string
	// Output holds the produced items, with IDs.
	Output []store.Item
	Usage  llm.Usage
	// IncompleteReason is set when Status is incomplete ("max_output_tokens",
	// "content_filter"); ErrorCode and ErrorMessage when it is failed.
	IncompleteReason string
	ErrorCode        string
	ErrorMessage     string
}

// Finish records a turn's outcome and returns the response as stored (or
// as it would have been, when the turn's Store flag is off). A kept
// response expires ResponseTTL after it finished. In a conversation, the
// input and output items are appended to it, whether or not the response
// itself is kept. ctx should outlive the client's request: a stream the
// client abandoned is still recorded.
func (rt *Runtime) Finish(ctx context.Context, p *Pending, o Outcome) (*store.Response, error) {
	now := rt.now()
	r := &store.Response{
		ID: p.ResponseID, TenantID: p.Turn.TenantID, Model: p.Turn.Model, Status: o.Status,
		PreviousResponseID: p.Turn.PreviousResponseID, ConversationID: p.Turn.ConversationID,
		Metadata: p.Turn.Metadata, Settings: p.Turn.Settings,
		Usage: store.ResponseUsage{InputTokens: o.Usage.InputTokens, CachedInputTokens: o.Usage.CachedInputTokens,
			OutputTokens: o.Usage.OutputTokens, ReasoningTokens: o.Usage.ReasoningTokens},
		ErrorCode: o.ErrorCode, ErrorMessage: o.ErrorMessage, IncompleteReason: o.IncompleteReason,
		CreatedAt: p.CreatedAt, ExpiresAt: now.Add(rt.ttl),
		Input: p.Turn.Input, Output: o.Output,
	}
	if o.Status == store.ResponseCompleted {
		r.CompletedAt = &now
	}
	switch {
	case p.Turn.Store:
		if err := rt.call(ctx, func(ctx context.Context) error { return rt.st.SaveResponse(ctx, r) }); err != nil {
			return nil, finishError(err, p.Turn.ConversationID)
		}
	case p.Turn.ConversationID != "":
		items := make([]store.Item, 0, len(r.Input)+len(r.Output))
		items = append(append(items, r.Input...), r.Output...)
		err := rt.call(ctx, func(ctx context.Context) error {
			return rt.st.AppendConversationItems(ctx, p.Turn.TenantID, p.Turn.ConversationID, items)
		})
		if err != nil {
			return nil, finishError(err, p.Turn.ConversationID)
		}
	}
	return r, nil
}

// finishError explains why a turn's outcome could not be recorded: its
// conversation was deleted meanwhile, or an input item's ID is already in
// it.
func finishError(err error, conversationID string) error {
	if errors.Is(err, store.ErrConflict) && conversationID != "" {
		return &InputError{Param: "input", Message: "An input item's ID is already in the conversation."}
	}
	if conversationID != "" {
		err = notFound(err, KindConversation, conversationID)
	}
	return fmt.Errorf("recording the response: %w", err)
}

// Response returns a tenant's stored, unexpired response with its output.
func (rt *Runtime) Response(ctx context.Context, tenantID, id string) (*store.Response, error) {
	var r *store.Response
	err := rt.call(ctx, func(ctx context.Context) (err error) {
		r, err = rt.st.ResponseByID(ctx, tenantID, id, rt.now())
		return err
	})
	return r, notFound(err, KindResponse, id)
}

// DeleteResponse deletes a tenant's stored response.
func (rt *Runtime) DeleteResponse(ctx context.Context, tenantID, id string) error {
	err := rt.call(ctx, func(ctx context.Context) error { return rt.st.DeleteResponse(ctx, tenantID, id, rt.now()) })
	return notFound(err, KindResponse, id)
}

// InputItems returns a page of the items a tenant's response was given,
// and whether more follow. An After that is not one of them is a
// NotFoundError of kind item.
func (rt *Runtime) InputItems(ctx context.Context, tenantID, id string, page store.ItemPage) ([]store.Item, bool, error) {
	if _, err := rt.Response(ctx, tenantID, id); err != nil {
		return nil, false, err
	}
	var (
		items []store.Item
		more  bool
	)
	err := rt.call(ctx, func(ctx context.Context) (err error) {
		items, more, err = rt.st.ResponseInputItems(ctx, tenantID, id, rt.now(), page)
		return err
	})
	return items, more, notFound(err, KindItem, page.After)
}

// PurgeExpired deletes the responses that have expired at now and returns
// how many. The composition root runs it periodically; reads never return
// an expired response whether or not it has been purged.
func (rt *Runtime) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	n, err := rt.st.PurgeExpiredResponses(ctx, now)
	if err != nil {
		return n, fmt.Errorf("purging expired responses: %w", err)
	}
	return n, nil
}

// CreateConversation starts a tenant's conversation with optional first
// items (given fresh IDs where they have none) and returns it.
func (rt *Runtime) CreateConversation(ctx context.Context, tenantID string, metadata map[string]string, items []store.Item) (*store.Conversation, error) {
	items = rt.withIDs(items)
	if err := uniqueIDs(items); err != nil {
		return nil, err
	}
	c := &store.Conversation{ID: rt.newID(prefixConversation), TenantID: tenantID, Metadata: metadata, CreatedAt: rt.now()}
	if err := rt.call(ctx, func(ctx context.Context) error { return rt.st.CreateConversation(ctx, c, items) }); err != nil {
		return nil, fmt.Errorf("creating conversation: %w", err)
	}
	return c, nil
}

// Conversation returns a tenant's conversation.
func (rt *Runtime) Conversation(ctx context.Context, tenantID, id string) (*store.Conversation, error) {
	var c *store.Conversation
	err := rt.call(ctx, func(ctx context.Context) (err error) {
		c, err = rt.st.ConversationByID(ctx, tenantID, id)
		return err
	})
	return c, notFound(err, KindConversation, id)
}

// UpdateConversation replaces a tenant's conversation's metadata.
func (rt *Runtime) UpdateConversation(ctx context.Context, tenantID, id string, metadata map[string]string) (*store.Conversation, error) {
	var c *store.Conversation
	err := rt.call(ctx, func(ctx context.Context) (err error) {
		c, err = rt.st.UpdateConversationMetadata(ctx, tenantID, id, metadata)
		return err
	})
	return c, notFound(err, KindConversation, id)
}

// DeleteConversation deletes a tenant's conversation and its items.
func (rt *Runtime) DeleteConversation(ctx context.Context, tenantID, id string) error {
	err := rt.call(ctx, func(ctx context.Context) error { return rt.st.DeleteConversation(ctx, tenantID, id) })
	return notFound(err, KindConversation, id)
}

// AddConversationItems appends items to a tenant's conversation and
// returns them with their IDs. An ID already in the conversation is an
// *InputError.
func (rt *Runtime) AddConversationItems(ctx context.Context, tenantID, id string, items []store.Item) ([]store.Item, error) {
	items = rt.withIDs(items)
	if err := uniqueIDs(items); err != nil {
		return nil, err
	}
	err := rt.call(ctx, func(ctx context.Context) error { return rt.st.AppendConversationItems(ctx, tenantID, id, items) })
	if errors.Is(err, store.ErrConflict) {
		return nil, &InputError{Param: "items", Message: "An item with one of these IDs is already in the conversation."}
	}
	if err != nil {
		return nil, notFound(err, KindConversation, id)
	}
	return items, nil
}

// ConversationItems returns a page of a tenant's conversation's items and
// whether more follow. An After that is not one of them is a
// NotFoundError of kind item.
func (rt *Runtime) ConversationItems(ctx context.Context, tenantID, id string, page store.ItemPage) ([]store.Item, bool, error) {
	if _, err := rt.Conversation(ctx, tenantID, id); err != nil {
		return nil, false, err
	}
	var (
		items []store.Item
		more  bool
	)
	err := rt.call(ctx, func(ctx context.Context) (err error) {
		items, more, err = rt.st.ConversationItems(ctx, tenantID, id, page)
		return err
	})
	return items, more, notFound(err, KindItem, page.After)
}

// ConversationItem returns one item of a tenant's conversation.
func (rt *Runtime) ConversationItem(ctx context.Context, tenantID, id, itemID string) (*store.Item, error) {
	if _, err := rt.Conversation(ctx, tenantID, id); err != nil {
		return nil, err
	}
	var it *store.Item
	err := rt.call(ctx, func(ctx context.Context) (err error) {
		it, err = rt.st.ConversationItem(ctx, tenantID, id, itemID)
		return err
	})
	return it, notFound(err, KindItem, itemID)
}

// DeleteConversationItem removes one item from a tenant's conversation and
// returns the conversation.
func (rt *Runtime) DeleteConversationItem(ctx context.Context, tenantID, id, itemID string) (*store.Conversation, error) {
	c, err := rt.Conversation(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if err := rt.call(ctx, func(ctx context.Context) error { return rt.st.DeleteConversationItem(ctx, tenantID, id, itemID) }); err != nil {
		return nil, notFound(err, KindItem, itemID)
	}
	return c, nil
}
