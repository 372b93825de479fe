package api

import (
	"encoding/json"
	"strings"

	"switchyard/internal/llm"
	"switchyard/internal/store"
)

// outputBuilder folds canonical stream events into a response's output
// items and, when emit is set, produces the Responses API's stream events
// for them: each part of the assistant message becomes an item (text parts
// in a row share one message item, as content parts), announced when it
// starts, grown by deltas and finished when the next starts or the stream
// ends. The same builder makes a non-streamed response's output, so both
// have the same items. It is per response and not safe for concurrent
// use.
type outputBuilder struct {
	newItemID func(itemType string) string
	newCallID func() string
	// encrypted adds reasoning items' encrypted_content to events.
	encrypted bool
	// emit receives each stream event; nil builds items only.
	emit func(ev *streamEvent) error

	items []store.Item
	// part is the canonical part index being built, and loc where it is.
	part int
	loc  partLoc
	open bool
	// buf grows the open part's text or arguments, which are copied into
	// its item when it closes: appending to the item's string on every
	// delta would cost the square of the part's length.
	buf strings.Builder
	// finish and usage come from the stop event.
	finish  llm.FinishReason
	usage   llm.Usage
	stopped bool
}

// partLoc is where a canonical part lives: an output item and, for text,
// a content index in it.
type partLoc struct {
	kind    llm.PartKind
	item    int
	content int
}

// streamEvent is one Responses stream event. Only the members of its type
// are set; the "error" key is never used, since the SDKs take any
// top-level "error" as a failed stream.
type streamEvent struct {
	Type           string          `json:"type"`
	SequenceNumber int             `json:"sequence_number"`
	Response       *responseObject `json:"response,omitempty"`
	OutputIndex    *int            `json:"output_index,omitempty"`
	ItemID         string          `json:"item_id,omitempty"`
	ContentIndex   *int            `json:"content_index,omitempty"`
	Item           *wireItem       `json:"item,omitempty"`
	Part           json.Marshaler  `json:"part,omitempty"`
	Delta          *string         `json:"delta,omitempty"`
	Text           *string         `json:"text,omitempty"`
	Arguments      *string         `json:"arguments,omitempty"`
	Logprobs       *[]struct{}     `json:"logprobs,omitempty"`
	// Code, Message and Param are set on an "error" event.
	Code    *string `json:"code,omitempty"`
	Message string  `json:"message,omitempty"`
	Param   *string `json:"param,omitempty"`
}

var noLogprobs = &[]struct{}{}

// Add folds one canonical event in.
func (b *outputBuilder) Add(ev llm.Event) error {
	switch ev.Kind {
	case llm.EventTextDelta:
		if err := b.enter(ev.Index, llm.PartText, nil); err != nil {
			return err
		}
		b.buf.WriteString(ev.Text)
		if ev.Text == "" {
			return nil
		}
		return b.send(&streamEvent{Type: "response.output_text.delta", OutputIndex: &b.loc.item, ItemID: b.items[b.loc.item].ID,
			ContentIndex: &b.loc.content, Delta: &ev.Text, Logprobs: noLogprobs})
	case llm.EventReasoningDelta:
		if err := b.enter(ev.Index, llm.PartReasoning, nil); err != nil {
			return err
		}
		it := &b.items[b.loc.item]
		if ev.Signature != "" {
			it.Signature = ev.Signature
		}
		if ev.Text == "" {
			return nil
		}
		b.buf.WriteString(ev.Text)
		return b.send(&streamEvent{Type: "response.reasoning_text.delta", OutputIndex: &b.loc.item, ItemID: it.ID,
			ContentIndex: &b.loc.content, Delta: &ev.Text})
	case llm.EventToolCallDelta:
		if err := b.enter(ev.Index, llm.PartToolCall, ev.ToolCall); err != nil {
			return err
		}
		if ev.ToolCall == nil || ev.ToolCall.Arguments == "" {
			return nil
		}
		it := &b.items[b.loc.item]
		b.buf.WriteString(ev.ToolCall.Arguments)
		return b.send(&streamEvent{Type: "response.function_call_arguments.delta", OutputIndex: &b.loc.item, ItemID: it.ID,
			Delta: &ev.ToolCall.Arguments})
	case llm.EventStop:
		b.finish, b.stopped = ev.FinishReason, true
		if ev.Usage != nil {
			b.usage = *ev.Usage
		}
	}
	return nil
}

// enter makes the canonical part at index the one being built, closing the
// previous one and announcing the new one as needed.
func (b *outputBuilder) enter(index int, kind llm.PartKind, tc *llm.ToolCallDelta) error {
	if b.open && index == b.part {
		return nil
	}
	prev := b.loc
	wasOpen := b.open
	if wasOpen {
		// A text part right after another stays in the same message.
		if err := b.closePart(store.ResponseCompleted, kind != llm.PartText || prev.kind != llm.PartText); err != nil {
			return err
		}
	}
	b.part, b.open = index, true
	if kind == llm.PartText && wasOpen && prev.kind == llm.PartText {
		it := &b.items[prev.item]
		it.Content = append(it.Content, store.Content{Type: store.ContentOutputText})
		b.loc = partLoc{kind: kind, item: prev.item, content: len(it.Content) - 1}
		return b.sendPartAdded()
	}
	it := store.Item{Status: "in_progress"}
	switch kind {
	case llm.PartText:
		it.Type, it.Role = store.ItemMessage, "assistant"
	case llm.PartReasoning:
		it.Type = store.ItemReasoning
	case llm.PartToolCall:
		it.Type = store.ItemFunctionCall
		if tc != nil {
			it.CallID, it.Name = tc.ID, tc.Name
		}
		if it.CallID == "" {
			it.CallID = b.newCallID()
		}
	}
	it.ID = b.newItemID(it.Type)
	b.items = append(b.items, it)
	b.loc = partLoc{kind: kind, item: len(b.items) - 1}
	added := it // announced empty, as the API does
	if err := b.send(&streamEvent{Type: "response.output_item.added", OutputIndex: &b.loc.item, Item: &wireItem{it: &added}}); err != nil {
		return err
	}
	if kind == llm.PartToolCall {
		return nil
	}
	last := &b.items[b.loc.item]
	if kind == llm.PartText {
		last.Content = append(last.Content, store.Content{Type: store.ContentOutputText})
	} else {
		last.Content = append(last.Content, store.Content{Type: store.ContentReasoningText})
	}
	return b.sendPartAdded()
}

func (b *outputBuilder) sendPartAdded() error {
	it := &b.items[b.loc.item]
	empty := store.Content{Type: it.Content[b.loc.content].Type}
	return b.send(&streamEvent{Type: "response.content_part.added", OutputIndex: &b.loc.item, ItemID: it.ID,
		ContentIndex: &b.loc.content, Part: contentPart(&empty)})
}

// contentPart renders a content part in an event.
func contentPart(c *store.Content) json.Marshaler {
	if c.Type == store.ContentReasoningText {
		return reasoningPart{Text: c.Text}
	}
	return wirePart{c}
}

type reasoningPart struct{ Text string }

func (p reasoningPart) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}{store.ContentReasoningText, p.Text})
}

// closePart finishes the part being built with the given item status; when
// item is set it also finishes its item.
func (b *outputBuilder) closePart(status string, item bool) error {
	b.open = false
	loc := b.loc
	it := &b.items[loc.item]
	grown := b.buf.String()
	b.buf = strings.Builder{}
	switch loc.kind {
	case llm.PartText, llm.PartReasoning:
		c := &it.Content[loc.content]
		c.Text = grown
		done := "response.output_text.done"
		var logprobs *[]struct{}
		if loc.kind == llm.PartText {
			logprobs = noLogprobs
		} else {
			done = "response.reasoning_text.done"
		}
		if err := b.send(&streamEvent{Type: done, OutputIndex: &loc.item, ItemID: it.ID, ContentIndex: &loc.content,
			Text: &c.Text, Logprobs: logprobs}); err != nil {
			return err
		}
		if err := b.send(&streamEvent{Type: "response.content_part.done", OutputIndex: &loc.item, ItemID: it.ID,
			ContentIndex: &loc.content, Part: contentPart(c)}); err != nil {
			return err
		}
	case llm.PartToolCall:
		it.Arguments = grown
		if err := b.send(&streamEvent{Type: "response.function_call_arguments.done", OutputIndex: &loc.item, ItemID: it.ID,
			Arguments: &it.Arguments}); err != nil {
			return err
		}
	}
	if !item {
		return nil
	}
	it.Status = status
	return b.send(&streamEvent{Type: "response.output_item.done", OutputIndex: &loc.item, Item: &wireItem{it: it, encrypted: b.encrypted}})
}

// Close finishes the part and item still open, with status (completed, or
// incomplete for output that was cut short), and returns the items.
func (b *outputBuilder) Close(status string) ([]store.Item, error) {
	if b.open {
		if err := b.closePart(status, true); err != nil {
			return b.items, err
		}
	}
	return b.items, nil
}

func (b *outputBuilder) send(ev *streamEvent) error {
	if b.emit == nil {
		return nil
	}
	return b.emit(ev)
}

// outcomeOf says how a response ended from its stop reason: its status
// and, for an incomplete one, why.
func outcomeOf(f llm.FinishReason) (status, reason string) {
	switch f {
	case llm.FinishLength:
		return store.ResponseIncomplete, "max_output_tokens"
	case llm.FinishContentFilter:
		return store.ResponseIncomplete, "content_filter"
	}
	return store.ResponseCompleted, ""
}
