package anthropic

import (
	"encoding/json"
	"errors"
	"fmt"

	"switchyard/internal/jsonwire"
	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// Stream event types.
const (
	EventMessageStart      = "message_start"
	EventMessageDelta      = "message_delta"
	EventMessageStop       = "message_stop"
	EventContentBlockStart = "content_block_start"
	EventContentBlockDelta = "content_block_delta"
	EventContentBlockStop  = "content_block_stop"
	EventPing              = "ping"
	EventError             = "error"
)

// streamEvent is the union of every stream event's data.
type streamEvent struct {
	Type         string            `json:"type"`
	Message      *MessagesResponse `json:"message,omitempty"`
	Index        *int              `json:"index,omitempty"`
	ContentBlock *ContentBlock     `json:"content_block,omitempty"`
	Delta        *streamDelta      `json:"delta,omitempty"`
	Usage        *deltaUsage       `json:"usage,omitempty"`
	Error        *ErrorDetail      `json:"error,omitempty"`
}

// streamDelta is a content_block_delta's or a message_delta's delta.
type streamDelta struct {
	Type         string  `json:"type"`
	Text         string  `json:"text"`
	PartialJSON  string  `json:"partial_json"`
	Thinking     string  `json:"thinking"`
	Signature    string  `json:"signature"`
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

// deltaUsage is message_delta's usage: cumulative counts, of which only
// output_tokens is always present.
type deltaUsage struct {
	InputTokens              *int64               `json:"input_tokens,omitempty"`
	OutputTokens             int64                `json:"output_tokens"`
	CacheCreationInputTokens *int64               `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int64               `json:"cache_read_input_tokens,omitempty"`
	OutputTokensDetails      *OutputTokensDetails `json:"output_tokens_details,omitempty"`
}

// StreamDecoder turns the events of an upstream Messages stream into llm
// events, one response at a time. Event indexes are Anthropic's block
// indexes, which the API numbers from 0 without gaps. It is not safe for
// concurrent use.
type StreamDecoder struct {
	name     string
	started  bool
	stopped  bool
	blocks   int    // content blocks started so far
	open     int    // index of the open block, -1 when none is open
	openType string // its type
	// startInput is the input of the open tool_use block's start event,
	// sent at the block's end when no partial_json delta replaced it.
	startInput json.RawMessage
	gotArgs    bool
	finish     llm.FinishReason
	stopSeq    string
	usage      Usage
	out        []llm.Event
}

// NewStreamDecoder returns a decoder for one response of the channel
// called name (used in errors).
func NewStreamDecoder(name string) *StreamDecoder {
	return &StreamDecoder{name: name, open: -1}
}

// Decode folds in one SSE event: its "event:" name (which may be empty,
// the data's "type" then decides) and its data. The returned events are
// valid until the next call. Errors are *provider.Error: an upstream
// "error" event is classified by its error type, and anything malformed
// or out of order is KindBadResponse.
func (d *StreamDecoder) Decode(event string, data []byte) ([]llm.Event, error) {
	d.out = d.out[:0]
	if d.stopped || event == EventPing {
		return nil, nil
	}
	if d.started && (event == EventContentBlockDelta || event == "") {
		var delta streamDelta
		if i, ok := decodeBlockDelta(data, event == "", &delta); ok {
			return d.blockDelta(i, &delta)
		}
	}
	var ev streamEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, d.bad("decoding %s event: %v", event, err)
	}
	typ := event
	if typ == "" {
		typ = ev.Type
	}
	switch typ {
	case EventPing:
		return nil, nil
	case EventError:
		detail := ErrorDetail{Type: "api_error", Message: "upstream stream error"}
		if ev.Error != nil {
			detail = *ev.Error
		}
		return nil, apiError(d.name, 0, detail, 0)
	case EventMessageStart:
		if d.started {
			return nil, d.bad("second message_start")
		}
		if ev.Message == nil {
			return nil, d.bad("message_start without a message")
		}
		d.started = true
		d.usage = ev.Message.Usage
		start := llm.Event{Kind: llm.EventStart, ID: ev.Message.ID, Model: ev.Message.Model}
		// message_start reports the input counts; its output_tokens is a
		// placeholder, settled by message_delta.
		if u := usageToLLM(ev.Message.Usage); u.InputTokens > 0 {
			start.Usage = &llm.Usage{InputTokens: u.InputTokens, CachedInputTokens: u.CachedInputTokens, CacheWriteTokens: u.CacheWriteTokens}
		}
		d.out = append(d.out, start)
		return d.out, nil
	}
	if !d.started {
		return nil, d.bad("%s before message_start", typ)
	}
	switch typ {
	case EventContentBlockStart:
		return d.blockStart(ev)
	case EventContentBlockDelta:
		if ev.Index == nil || ev.Delta == nil {
			return nil, d.bad("content_block_delta without index or delta")
		}
		return d.blockDelta(*ev.Index, ev.Delta)
	case EventContentBlockStop:
		return d.blockStop(ev)
	case EventMessageDelta:
		if ev.Delta != nil {
			d.finish = finishToLLM(ev.Delta.StopReason)
			if ev.Delta.StopSequence != nil {
				d.stopSeq = *ev.Delta.StopSequence
			}
		}
		if u := ev.Usage; u != nil {
			d.usage.OutputTokens = u.OutputTokens
			if u.InputTokens != nil {
				d.usage.InputTokens = *u.InputTokens
			}
			if u.CacheCreationInputTokens != nil {
				d.usage.CacheCreationInputTokens = *u.CacheCreationInputTokens
			}
			if u.CacheReadInputTokens != nil {
				d.usage.CacheReadInputTokens = *u.CacheReadInputTokens
			}
			if u.OutputTokensDetails != nil {
				d.usage.OutputTokensDetails = u.OutputTokensDetails
			}
		}
		return nil, nil
	case EventMessageStop:
		if d.open >= 0 {
			if err := d.closeBlock(); err != nil {
				return nil, err
			}
		}
		if d.finish == "" {
			return nil, d.bad("message_stop without a stop reason")
		}
		d.stopped = true
		u := usageToLLM(d.usage)
		d.out = append(d.out, llm.Event{Kind: llm.EventStop, FinishReason: d.finish, StopSequence: d.stopSeq, Usage: &u})
		return d.out, nil
	}
	// Anthropic may add event types; ones without content are safe to skip.
	return nil, nil
}

func (d *StreamDecoder) blockStart(ev streamEvent) ([]llm.Event, error) {
	if ev.Index == nil || ev.ContentBlock == nil {
		return nil, d.bad("content_block_start without index or block")
	}
	i, b := *ev.Index, ev.ContentBlock
	if i != d.blocks {
		return nil, d.bad("content block %d started, want %d", i, d.blocks)
	}
	if d.open >= 0 {
		// Blocks are stopped before the next starts; tolerate a missing stop.
		if err := d.closeBlock(); err != nil {
			return nil, err
		}
	}
	d.blocks++
	d.open, d.openType = i, b.Type
	switch b.Type {
	case BlockText:
		d.out = append(d.out, llm.Event{Kind: llm.EventTextDelta, Index: i, Text: b.Text})
	case BlockThinking:
		d.out = append(d.out, llm.Event{Kind: llm.EventReasoningDelta, Index: i, Text: b.Thinking, Signature: b.Signature})
	case BlockToolUse:
		d.startInput, d.gotArgs = b.Input, false
		d.out = append(d.out, llm.Event{Kind: llm.EventToolCallDelta, Index: i, ToolCall: &llm.ToolCallDelta{ID: b.ID, Name: b.Name}})
	case BlockRedactedThinking:
		return nil, d.unsupported("redacted_thinking blocks in a stream (stream events carry no redacted reasoning)")
	default:
		return nil, d.unsupported("%q blocks", b.Type)
	}
	return d.out, nil
}

// decodeBlockDelta reads the data of a content_block_delta event, the
// bulk of every stream, without encoding/json: its index and its delta,
// whose members are all strings. ok is false, for the caller to decode
// the data with encoding/json as any other event, when the data is not
// exactly that shape: a member missing, unknown, null or of another type,
// a name in other letters than encoding/json would see (see
// jsonwire.EachMember), or, when checkType is set (the event came
// without a name), a type other than content_block_delta.
func decodeBlockDelta(data []byte, checkType bool, delta *streamDelta) (index int, ok bool) {
	var haveType, haveIndex, haveDelta bool
	ok = jsonwire.EachMember(data, func(name, value []byte) bool {
		switch string(name) {
		case "type":
			typ, ok := deltaString(value)
			haveType = ok
			return haveType && (!checkType || typ == EventContentBlockDelta)
		case "index":
			var n int64
			n, haveIndex = jsonwire.IntValue(value)
			index = int(n)
			return haveIndex && int64(index) == n
		case "delta":
			haveDelta = jsonwire.EachMember(value, func(name, value []byte) bool {
				var dst *string
				switch string(name) {
				case "type":
					dst = &delta.Type
				case "text":
					dst = &delta.Text
				case "partial_json":
					dst = &delta.PartialJSON
				case "thinking":
					dst = &delta.Thinking
				case "signature":
					dst = &delta.Signature
				default:
					return false
				}
				var ok bool
				*dst, ok = deltaString(value)
				return ok
			})
			return haveDelta
		}
		return false
	})
	return index, ok && haveIndex && haveDelta && (haveType || !checkType)
}

// deltaString decodes raw, one JSON string, as jsonwire.StringValue
// does, but without copying the names every delta event repeats.
func deltaString(raw []byte) (string, bool) {
	switch string(raw) {
	case `"content_block_delta"`:
		return EventContentBlockDelta, true
	case `"text_delta"`:
		return "text_delta", true
	case `"input_json_delta"`:
		return "input_json_delta", true
	case `"thinking_delta"`:
		return "thinking_delta", true
	case `"signature_delta"`:
		return "signature_delta", true
	}
	return jsonwire.StringValue(raw)
}

func (d *StreamDecoder) blockDelta(i int, delta *streamDelta) ([]llm.Event, error) {
	if i != d.open {
		return nil, d.bad("delta for content block %d, which is not open", i)
	}
	want := deltaBlockType(delta.Type)
	if want == "" {
		return nil, d.unsupported("%q deltas", delta.Type)
	}
	if want != d.openType {
		return nil, d.bad("%s for a %s block", delta.Type, d.openType)
	}
	switch delta.Type {
	case "text_delta":
		d.out = append(d.out, llm.Event{Kind: llm.EventTextDelta, Index: i, Text: delta.Text})
	case "input_json_delta":
		if delta.PartialJSON == "" {
			return nil, nil
		}
		d.gotArgs = true
		d.out = append(d.out, llm.Event{Kind: llm.EventToolCallDelta, Index: i, ToolCall: &llm.ToolCallDelta{Arguments: delta.PartialJSON}})
	case "thinking_delta":
		d.out = append(d.out, llm.Event{Kind: llm.EventReasoningDelta, Index: i, Text: delta.Thinking})
	case "signature_delta":
		d.out = append(d.out, llm.Event{Kind: llm.EventReasoningDelta, Index: i, Signature: delta.Signature})
	}
	return d.out, nil
}

// deltaBlockType is the block type a delta type applies to, or "" for a
// delta type this package does not know.
func deltaBlockType(deltaType string) string {
	switch deltaType {
	case "text_delta":
		return BlockText
	case "input_json_delta":
		return BlockToolUse
	case "thinking_delta", "signature_delta":
		return BlockThinking
	}
	return ""
}

func (d *StreamDecoder) blockStop(ev streamEvent) ([]llm.Event, error) {
	if ev.Index == nil || *ev.Index != d.open {
		return nil, d.bad("content_block_stop for a block that is not open")
	}
	if err := d.closeBlock(); err != nil {
		return nil, err
	}
	return d.out, nil
}

// closeBlock ends the open block. A tool_use block that received no
// partial_json carries its arguments in the start event's input (usually
// {}, a call without arguments).
func (d *StreamDecoder) closeBlock() error {
	if d.openType == BlockToolUse && !d.gotArgs {
		args, err := compactObject(d.startInput)
		if err != nil {
			return d.bad("tool_use input: %v", err)
		}
		d.out = append(d.out, llm.Event{Kind: llm.EventToolCallDelta, Index: d.open, ToolCall: &llm.ToolCallDelta{Arguments: args}})
	}
	d.open, d.openType, d.startInput = -1, "", nil
	return nil
}

// End checks the stream's end: an answer cut before message_stop is an
// error.
func (d *StreamDecoder) End() error {
	if !d.stopped {
		return d.bad("stream ended before message_stop")
	}
	return nil
}

// Stopped reports whether message_stop has been seen.
func (d *StreamDecoder) Stopped() bool { return d.stopped }

func (d *StreamDecoder) bad(format string, args ...any) error {
	return &provider.Error{Provider: d.name, Kind: provider.KindBadResponse,
		Message: "malformed upstream stream", Err: fmt.Errorf("anthropic stream: "+format, args...)}
}

func (d *StreamDecoder) unsupported(format string, args ...any) error {
	return &provider.Error{Provider: d.name, Kind: provider.KindBadResponse,
		Message: "upstream answer not supported by the gateway", Err: unsupportedf(format, args...)}
}

// Frame is one SSE event for an Anthropic client: "event: <Event>" then
// "data: <Data>".
type Frame struct {
	Event string
	Data  []byte
}

// ErrorFrame is an "error" event, the way the API reports a failure after
// the stream has started. errType is an ErrorDetail type such as
// "overloaded_error".
func ErrorFrame(errType, message string) Frame {
	b, _ := json.Marshal(ErrorResponse{Type: EventError, Error: ErrorDetail{Type: errType, Message: message}})
	return Frame{Event: EventError, Data: b}
}

// PingFrame is a "ping" event, which clients skip: the API sends one after
// the first content_block_start, and more to keep a quiet stream alive.
func PingFrame() Frame { return Frame{Event: EventPing, Data: []byte(`{"type":"ping"}`)} }

// StreamEncoder turns llm events into the SSE frames of a Messages stream,
// in the API's order: message_start, with the input counts when the start
// event carries them; per part content_block_start, its deltas and
// content_block_stop, each block stopped before the next starts, with a
// ping after the first content_block_start; message_delta with the stop
// reason and usage; message_stop. Blocks are numbered from 0 without gaps
// whatever the events' indexes. It is not safe for concurrent use.
type StreamEncoder struct {
	model string
	id    string // used when the start event carries none
	// inputEstimate is message_start's input_tokens when the start event
	// carries no usage.
	inputEstimate int64
	started       bool
	stopped       bool
	pinged        bool
	blocks        int // blocks started so far
	open          bool
	openKind      llm.EventKind
	lastIdx       int // llm index of the latest block
}

// NewStreamEncoder returns an encoder for one response; model is the name
// the client asked for.
func NewStreamEncoder(model string) *StreamEncoder { return &StreamEncoder{model: model} }

// WithID sets the id message_start carries when the stream's start event
// has none, and returns e. Ids are given the "msg_" form (MessageID).
func (e *StreamEncoder) WithID(id string) *StreamEncoder {
	e.id = id
	return e
}

// WithInputEstimate sets the input_tokens message_start reports when the
// stream's start event carries no usage, and returns e.
//
// Anthropic sends the prompt's token count in message_start, and clients
// read it there (LangChain adds it to the output count of message_delta).
// A channel that reports usage only at the end of the stream (Bedrock
// ConverseStream, OpenAI) cannot tell it before the first event,
// and holding message_start back until the end would buffer the whole
// stream. So message_start carries an estimate (CountTokens, the figure
// count_tokens answers when no channel can count), which is nearer the truth than 0, and
// message_delta carries the channel's exact count, which the SDKs'
// accumulators keep and the usage ledger records.
func (e *StreamEncoder) WithInputEstimate(n int) *StreamEncoder {
	e.inputEstimate = int64(n)
	return e
}

// Encode returns the frames for one event. An event for a part whose
// block has already been stopped cannot be expressed and is an error, as
// is any event after EventStop.
func (e *StreamEncoder) Encode(ev llm.Event) ([]Frame, error) {
	if e.stopped {
		return nil, errors.New("anthropic stream encoder: event after stop")
	}
	var frames []Frame
	var err error
	add := func(event string, v any) {
		if err != nil {
			return
		}
		var b []byte
		if b, err = json.Marshal(v); err == nil {
			frames = append(frames, Frame{Event: event, Data: b})
		}
	}
	if !e.started {
		e.started = true
		id := e.id
		// output_tokens is 1 in message_start, as the API sends it;
		// message_delta carries the real count.
		usage := Usage{OutputTokens: 1, InputTokens: e.inputEstimate}
		if ev.Kind == llm.EventStart {
			if ev.ID != "" {
				id = ev.ID
			}
			if ev.Usage != nil {
				wu := usageFromLLM(llm.Usage{InputTokens: ev.Usage.InputTokens, CachedInputTokens: ev.Usage.CachedInputTokens,
					CacheWriteTokens: ev.Usage.CacheWriteTokens})
				usage.InputTokens, usage.CacheReadInputTokens, usage.CacheCreationInputTokens =
					wu.InputTokens, wu.CacheReadInputTokens, wu.CacheCreationInputTokens
			}
		}
		add(EventMessageStart, streamEvent{Type: EventMessageStart, Message: &MessagesResponse{
			ID: MessageID(id), Type: "message", Role: "assistant", Model: e.model, Content: []ContentBlock{},
			Usage: usage,
		}})
		if ev.Kind == llm.EventStart {
			return frames, err
		}
	}
	switch ev.Kind {
	case llm.EventStart:
		return nil, fmt.Errorf("anthropic stream encoder: second start event")
	case llm.EventTextDelta, llm.EventReasoningDelta, llm.EventToolCallDelta:
		idx, isNew, ferr := e.block(ev)
		if ferr != nil {
			return nil, ferr
		}
		if isNew {
			if e.open {
				add(EventContentBlockStop, blockStop{Type: EventContentBlockStop, Index: idx - 1})
			}
			e.open, e.openKind, e.lastIdx = true, ev.Kind, ev.Index
			e.blocks++
			add(EventContentBlockStart, streamEvent{Type: EventContentBlockStart, Index: &idx, ContentBlock: startBlock(ev)})
			if !e.pinged {
				e.pinged = true
				frames = append(frames, PingFrame())
			}
		}
		for _, d := range deltas(ev) {
			add(EventContentBlockDelta, blockDelta{Type: EventContentBlockDelta, Index: idx, Delta: d})
		}
	case llm.EventStop:
		if e.open {
			add(EventContentBlockStop, blockStop{Type: EventContentBlockStop, Index: e.blocks - 1})
			e.open = false
		}
		md := messageDelta{Type: EventMessageDelta}
		md.Delta.StopReason = finishFromLLM(ev.FinishReason)
		if ev.FinishReason == llm.FinishStopSequence && ev.StopSequence != "" {
			s := ev.StopSequence
			md.Delta.StopSequence = &s
		}
		var u llm.Usage
		if ev.Usage != nil {
			u = *ev.Usage
		}
		wu := usageFromLLM(u)
		md.Usage = deltaUsage{
			InputTokens:              &wu.InputTokens,
			OutputTokens:             wu.OutputTokens,
			CacheCreationInputTokens: &wu.CacheCreationInputTokens,
			CacheReadInputTokens:     &wu.CacheReadInputTokens,
			OutputTokensDetails:      wu.OutputTokensDetails,
		}
		add(EventMessageDelta, md)
		add(EventMessageStop, struct {
			Type string `json:"type"`
		}{EventMessageStop})
		e.stopped = true
	default:
		return nil, fmt.Errorf("anthropic stream encoder: unknown event kind %d", ev.Kind)
	}
	return frames, err
}

// block returns the Anthropic index for a content event and whether it
// starts a new block.
func (e *StreamEncoder) block(ev llm.Event) (idx int, isNew bool, err error) {
	if e.blocks > 0 && ev.Index == e.lastIdx {
		if !e.open || ev.Kind != e.openKind {
			return 0, false, fmt.Errorf("anthropic stream encoder: %s for part %d, whose block is %s", ev.Kind, ev.Index, e.openKind)
		}
		return e.blocks - 1, false, nil
	}
	if e.blocks > 0 && ev.Index < e.lastIdx {
		return 0, false, fmt.Errorf("anthropic stream encoder: %s for part %d after part %d started", ev.Kind, ev.Index, e.lastIdx)
	}
	return e.blocks, true, nil
}

// startBlock is the content_block of a block's start event: empty, with
// the call's id and name for tool use.
func startBlock(ev llm.Event) *ContentBlock {
	switch ev.Kind {
	case llm.EventReasoningDelta:
		return &ContentBlock{Type: BlockThinking}
	case llm.EventToolCallDelta:
		b := &ContentBlock{Type: BlockToolUse, Input: json.RawMessage(`{}`)}
		if ev.ToolCall != nil {
			b.ID, b.Name = ev.ToolCall.ID, ev.ToolCall.Name
		}
		return b
	}
	return &ContentBlock{Type: BlockText}
}

// deltaFrame is the delta of a content_block_delta event: exactly the
// field of its type.
type deltaFrame struct {
	Type        string  `json:"type"`
	Text        *string `json:"text,omitempty"`
	PartialJSON *string `json:"partial_json,omitempty"`
	Thinking    *string `json:"thinking,omitempty"`
	Signature   *string `json:"signature,omitempty"`
}

type blockDelta struct {
	Type  string     `json:"type"`
	Index int        `json:"index"`
	Delta deltaFrame `json:"delta"`
}

type blockStop struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
}

type messageDelta struct {
	Type  string `json:"type"`
	Delta struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	} `json:"delta"`
	Usage deltaUsage `json:"usage"`
}

// deltas are the content_block_delta payloads an event carries. Empty
// fragments are skipped.
func deltas(ev llm.Event) []deltaFrame {
	var out []deltaFrame
	switch ev.Kind {
	case llm.EventTextDelta:
		if ev.Text != "" {
			t := ev.Text
			out = append(out, deltaFrame{Type: "text_delta", Text: &t})
		}
	case llm.EventReasoningDelta:
		if ev.Text != "" {
			t := ev.Text
			out = append(out, deltaFrame{Type: "thinking_delta", Thinking: &t})
		}
		if ev.Signature != "" {
			s := ev.Signature
			out = append(out, deltaFrame{Type: "signature_delta", Signature: &s})
		}
	case llm.EventToolCallDelta:
		if ev.ToolCall != nil && ev.ToolCall.Arguments != "" {
			a := ev.ToolCall.Arguments
			out = append(out, deltaFrame{Type: "input_json_delta", PartialJSON: &a})
		}
	}
	return out
}
