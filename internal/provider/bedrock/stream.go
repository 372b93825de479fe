package bedrock

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"switchyard/internal/llm"
)

// EncodedEvent is one ConverseStream event for a client: the frame's
// :event-type and its JSON payload. Write it with EventEncoder.Event.
type EncodedEvent struct {
	EventType string
	Payload   []byte
}

// blockKind is the kind of an open content block.
type blockKind uint8

const (
	blockText blockKind = iota + 1
	blockReasoning
	blockToolUse
)

func (k blockKind) String() string {
	switch k {
	case blockText:
		return "text"
	case blockReasoning:
		return "reasoning"
	case blockToolUse:
		return "toolUse"
	}
	return "unknown"
}

// StreamEncoder turns canonical stream events into the ConverseStream
// events a Bedrock SDK client expects: messageStart, then per block an
// optional contentBlockStart (tool blocks only), contentBlockDelta events
// and contentBlockStop, then messageStop and a closing metadata event with
// usage and metrics. Blocks are sent one after another, as Bedrock does;
// an event for a block that was already closed is an error. A
// StreamEncoder serves one response and is not safe for concurrent use.
type StreamEncoder struct {
	// Latency is reported as metrics.latencyMs in the metadata event; set
	// it before encoding the EventStop event.
	Latency time.Duration

	started  bool
	stopped  bool
	open     int // index of the open block, or -1
	openKind blockKind
	argsSent bool // the open tool block has received input, or the open text block text
	next     int  // lowest index a new block may have
}

// NewStreamEncoder returns an encoder for one response.
func NewStreamEncoder() *StreamEncoder { return &StreamEncoder{open: -1} }

// Encode returns the events for ev, in order; it may return none.
func (e *StreamEncoder) Encode(ev llm.Event) ([]EncodedEvent, error) {
	if e.stopped {
		return nil, fmt.Errorf("bedrock: encoding %s event after the stop event", ev.Kind)
	}
	var out []EncodedEvent
	if !e.started {
		e.started = true
		out = appendEvent(out, eventMessageStart, MessageStartEvent{Role: "assistant"})
	}
	switch ev.Kind {
	case llm.EventStart:
	case llm.EventTextDelta:
		var err error
		if out, err = e.enter(out, ev.Index, blockText, nil); err != nil {
			return nil, err
		}
		// An empty delta only opens the block (an Anthropic channel's
		// content_block_start); Bedrock never sends one, so it is held
		// back unless the block stays empty (closeBlock).
		if ev.Text != "" {
			e.argsSent = true
			out = appendEvent(out, eventContentBlockDelta, ContentBlockDeltaEvent{ContentBlockIndex: ev.Index, Delta: ContentBlockDelta{Text: ptr(ev.Text)}})
		}
	case llm.EventReasoningDelta:
		var err error
		if out, err = e.enter(out, ev.Index, blockReasoning, nil); err != nil {
			return nil, err
		}
		if ev.Text != "" || ev.Signature == "" {
			out = appendEvent(out, eventContentBlockDelta, ContentBlockDeltaEvent{ContentBlockIndex: ev.Index,
				Delta: ContentBlockDelta{ReasoningContent: &ReasoningContentBlockDelta{Text: ptr(ev.Text)}}})
		}
		if ev.Signature != "" {
			out = appendEvent(out, eventContentBlockDelta, ContentBlockDeltaEvent{ContentBlockIndex: ev.Index,
				Delta: ContentBlockDelta{ReasoningContent: &ReasoningContentBlockDelta{Signature: ptr(ev.Signature)}}})
		}
	case llm.EventToolCallDelta:
		tc := ev.ToolCall
		if tc == nil {
			tc = &llm.ToolCallDelta{}
		}
		var err error
		if out, err = e.enter(out, ev.Index, blockToolUse, tc); err != nil {
			return nil, err
		}
		if tc.Arguments != "" {
			e.argsSent = true
			out = appendEvent(out, eventContentBlockDelta, ContentBlockDeltaEvent{ContentBlockIndex: ev.Index,
				Delta: ContentBlockDelta{ToolUse: &ToolUseBlockDelta{Input: tc.Arguments}}})
		}
	case llm.EventStop:
		out = e.closeBlock(out)
		e.stopped = true
		stop := MessageStopEvent{StopReason: finishFromLLM(ev.FinishReason)}
		if ev.StopSequence != "" {
			stop.AdditionalModelResponseFields, _ = json.Marshal(map[string]string{"stop_sequence": ev.StopSequence})
		}
		out = appendEvent(out, eventMessageStop, stop)
		var u llm.Usage
		if ev.Usage != nil {
			u = *ev.Usage
		}
		out = appendEvent(out, eventMetadata, MetadataEvent{Usage: usageFromLLM(u), Metrics: &Metrics{LatencyMs: e.Latency.Milliseconds()}})
	default:
		return nil, fmt.Errorf("bedrock: encoding unknown event kind %d", ev.Kind)
	}
	return out, nil
}

// enter makes the block at index the open one, closing the previous block
// and starting a tool block when needed.
func (e *StreamEncoder) enter(out []EncodedEvent, index int, kind blockKind, tc *llm.ToolCallDelta) ([]EncodedEvent, error) {
	if index == e.open {
		if kind != e.openKind {
			return nil, fmt.Errorf("bedrock: content block %d is %s, got a %s delta", index, e.openKind, kind)
		}
		return out, nil
	}
	if index < e.next {
		return nil, fmt.Errorf("bedrock: content block %d was already closed", index)
	}
	out = e.closeBlock(out)
	e.open, e.openKind, e.argsSent, e.next = index, kind, false, index+1
	if kind == blockToolUse {
		out = appendEvent(out, eventContentBlockStart, ContentBlockStartEvent{ContentBlockIndex: index,
			Start: ContentBlockStart{ToolUse: &ToolUseBlockStart{ToolUseID: tc.ID, Name: tc.Name}}})
	}
	return out, nil
}

func (e *StreamEncoder) closeBlock(out []EncodedEvent) []EncodedEvent {
	if e.open < 0 {
		return out
	}
	switch {
	case e.openKind == blockToolUse && !e.argsSent:
		// A call without arguments still needs valid JSON input for
		// clients that parse the concatenated fragments.
		out = appendEvent(out, eventContentBlockDelta, ContentBlockDeltaEvent{ContentBlockIndex: e.open,
			Delta: ContentBlockDelta{ToolUse: &ToolUseBlockDelta{Input: "{}"}}})
	case e.openKind == blockText && !e.argsSent:
		// A text block is started by its first delta: an empty block
		// still gets one, so that its stop follows a start.
		out = appendEvent(out, eventContentBlockDelta, ContentBlockDeltaEvent{ContentBlockIndex: e.open,
			Delta: ContentBlockDelta{Text: ptr("")}})
	}
	out = appendEvent(out, eventContentBlockStop, ContentBlockStopEvent{ContentBlockIndex: e.open})
	e.open = -1
	return out
}

func appendEvent(out []EncodedEvent, eventType string, v any) []EncodedEvent {
	// The payload types hold only strings, numbers and raw JSON that was
	// validated when it was built, so encoding cannot fail.
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("bedrock: encoding %s event: %v", eventType, err))
	}
	return append(out, EncodedEvent{EventType: eventType, Payload: b})
}

// ExceptionError is an error Bedrock reported inside an event stream:
// a modeled exception (Type is the union member, such as
// "throttlingException") or an unmodeled error frame (Type is its
// :error-code).
type ExceptionError struct {
	Type    string
	Message string
	// Modeled is true for exception frames, false for error frames.
	Modeled bool
}

// Error returns the exception type and message.
func (e *ExceptionError) Error() string {
	return "bedrock stream " + e.Type + ": " + e.Message
}

// StreamDecoder turns a ConverseStream response body into canonical stream
// events. Content block indexes are renumbered from 0 in the order blocks
// start. The EventStop event follows the metadata event and carries its
// usage; if the body ends cleanly after messageStop without metadata, the
// stop event is sent with a nil Usage (usage unknown), while a body that
// ends before messageStop is an error wrapping io.ErrUnexpectedEOF. An
// exception or error frame is returned as an *ExceptionError. A
// StreamDecoder is not safe for concurrent use.
type StreamDecoder struct {
	frameQueue
	id, model string

	started bool

	index    map[int]int // Bedrock contentBlockIndex → canonical index
	kinds    []blockKind // by canonical index
	argsSeen []bool      // by canonical index: a tool block received input

	sawStop      bool
	finish       llm.FinishReason
	stopSequence string
}

// NewStreamDecoder reads events from r. id and model are reported on the
// EventStart event (Converse has no response id; the adapter uses the
// x-amzn-RequestId header).
func NewStreamDecoder(r io.Reader, id, model string) *StreamDecoder {
	d := &StreamDecoder{id: id, model: model, index: map[int]int{}}
	d.frameQueue = frameQueue{dec: NewEventDecoder(r), step: d.step}
	return d
}

// frameQueue is the pull side of a decoder that turns event-stream frames
// into canonical events: step reads one frame and queues what it yields in
// pending, or sets done after the last. It is not safe for concurrent use.
type frameQueue struct {
	dec     *EventDecoder
	step    func() error
	pending []llm.Event
	done    bool
	failed  error // a frame's failure met by Ready, for Next
}

// Next returns the next event, or io.EOF after the last.
func (q *frameQueue) Next() (llm.Event, error) {
	for len(q.pending) == 0 {
		if q.done {
			return llm.Event{}, io.EOF
		}
		if err := q.failed; err != nil {
			q.done = true
			return llm.Event{}, err
		}
		if err := q.step(); err != nil {
			q.done = true
			return llm.Event{}, err
		}
	}
	ev := q.pending[0]
	q.pending = q.pending[1:]
	return ev, nil
}

// Ready reports whether the next event is at hand. It decodes the frames
// already whole in the buffer until one yields an event, so that a frame
// that yields none (a block's stop) does not make it report one that Next
// would then have to wait for. A failure is kept for Next to return.
func (q *frameQueue) Ready() bool {
	for len(q.pending) == 0 && !q.done && q.failed == nil && q.dec.Ready() {
		if err := q.step(); err != nil {
			q.failed = err
		}
	}
	return len(q.pending) > 0
}

// step reads one frame and queues the events it yields.
func (d *StreamDecoder) step() error {
	f, err := d.dec.Next()
	if errors.Is(err, io.EOF) {
		if !d.sawStop {
			return fmt.Errorf("bedrock stream ended before messageStop: %w", io.ErrUnexpectedEOF)
		}
		d.ensureStart()
		d.pending = append(d.pending, llm.Event{Kind: llm.EventStop, FinishReason: d.finish, StopSequence: d.stopSequence})
		d.done = true
		return nil
	}
	if err != nil {
		return err
	}
	switch f.MessageType {
	case messageTypeEvent:
		return d.event(f)
	case messageTypeException:
		var body exceptionBody
		_ = json.Unmarshal(f.Payload, &body) // a payload without a message still names the exception
		return &ExceptionError{Type: f.ExceptionType, Message: body.Message, Modeled: true}
	case messageTypeError:
		return &ExceptionError{Type: f.ErrorCode, Message: f.ErrorMessage}
	}
	return fmt.Errorf("bedrock stream: unknown message type %q", f.MessageType)
}

func (d *StreamDecoder) ensureStart() {
	if !d.started {
		d.started = true
		d.pending = append(d.pending, llm.Event{Kind: llm.EventStart, ID: d.id, Model: d.model})
	}
}

func (d *StreamDecoder) event(f Frame) error {
	decode := func(v any) error {
		if err := json.Unmarshal(f.Payload, v); err != nil {
			return fmt.Errorf("decoding %s event: %w", f.EventType, err)
		}
		return nil
	}
	if d.sawStop && f.EventType != eventMetadata {
		return fmt.Errorf("bedrock stream: %s event after messageStop", f.EventType)
	}
	switch f.EventType {
	case eventMessageStart:
		var ev MessageStartEvent
		if err := decode(&ev); err != nil {
			return err
		}
		d.ensureStart()
	case eventContentBlockStart:
		var ev ContentBlockStartEvent
		if err := decode(&ev); err != nil {
			return err
		}
		tu := ev.Start.ToolUse
		switch {
		case tu == nil && ev.Start.ToolResult != nil:
			return unsupportedf("stream toolResult block")
		case tu == nil && ev.Start.Image != nil:
			return unsupportedf("stream image block")
		case tu == nil:
			return fmt.Errorf("bedrock stream: contentBlockStart %d has no supported member", ev.ContentBlockIndex)
		case tu.Type != "":
			return unsupportedf("stream toolUse type %q", tu.Type)
		}
		i, err := d.block(ev.ContentBlockIndex, blockToolUse)
		if err != nil {
			return err
		}
		d.pending = append(d.pending, llm.Event{Kind: llm.EventToolCallDelta, Index: i, ToolCall: &llm.ToolCallDelta{ID: tu.ToolUseID, Name: tu.Name}})
	case eventContentBlockDelta:
		var ev ContentBlockDeltaEvent
		if err := decode(&ev); err != nil {
			return err
		}
		return d.delta(ev)
	case eventContentBlockStop:
		var ev ContentBlockStopEvent
		if err := decode(&ev); err != nil {
			return err
		}
		i, ok := d.index[ev.ContentBlockIndex]
		if ok && d.kinds[i] == blockToolUse && !d.argsSeen[i] {
			// Bedrock may send no input for a call without arguments;
			// the canonical arguments are a JSON object.
			d.argsSeen[i] = true
			d.pending = append(d.pending, llm.Event{Kind: llm.EventToolCallDelta, Index: i, ToolCall: &llm.ToolCallDelta{Arguments: "{}"}})
		}
	case eventMessageStop:
		var ev MessageStopEvent
		if err := decode(&ev); err != nil {
			return err
		}
		fr, err := finishToLLM(ev.StopReason)
		if err != nil {
			return err
		}
		d.sawStop, d.finish, d.stopSequence = true, fr, stopSequence(ev.AdditionalModelResponseFields)
	case eventMetadata:
		if !d.sawStop {
			return fmt.Errorf("bedrock stream: metadata event before messageStop")
		}
		var ev MetadataEvent
		if err := decode(&ev); err != nil {
			return err
		}
		stop := llm.Event{Kind: llm.EventStop, FinishReason: d.finish, StopSequence: d.stopSequence}
		if ev.Usage != nil {
			u := usageToLLM(ev.Usage)
			stop.Usage = &u
		}
		d.ensureStart()
		d.pending = append(d.pending, stop)
		d.done = true
	default:
		return fmt.Errorf("bedrock stream: unknown event type %q", f.EventType)
	}
	return nil
}

func (d *StreamDecoder) delta(ev ContentBlockDeltaEvent) error {
	dl := ev.Delta
	switch {
	case dl.Text != nil:
		i, err := d.block(ev.ContentBlockIndex, blockText)
		if err != nil {
			return err
		}
		d.pending = append(d.pending, llm.Event{Kind: llm.EventTextDelta, Index: i, Text: *dl.Text})
	case dl.ToolUse != nil:
		i, err := d.block(ev.ContentBlockIndex, blockToolUse)
		if err != nil {
			return err
		}
		if dl.ToolUse.Input != "" {
			d.argsSeen[i] = true
		}
		d.pending = append(d.pending, llm.Event{Kind: llm.EventToolCallDelta, Index: i, ToolCall: &llm.ToolCallDelta{Arguments: dl.ToolUse.Input}})
	case dl.ReasoningContent != nil:
		rc := dl.ReasoningContent
		if rc.RedactedContent != nil {
			return unsupportedf("redacted reasoning in a stream (the canonical stream has no field for it)")
		}
		i, err := d.block(ev.ContentBlockIndex, blockReasoning)
		if err != nil {
			return err
		}
		e := llm.Event{Kind: llm.EventReasoningDelta, Index: i}
		if rc.Text != nil {
			e.Text = *rc.Text
		}
		if rc.Signature != nil {
			e.Signature = *rc.Signature
		}
		d.pending = append(d.pending, e)
	case dl.Citation != nil:
		return unsupportedf("stream citation delta")
	case dl.Image != nil:
		return unsupportedf("stream image delta")
	case dl.ToolResult != nil:
		return unsupportedf("stream toolResult delta")
	default:
		return fmt.Errorf("bedrock stream: contentBlockDelta %d has no supported member", ev.ContentBlockIndex)
	}
	return nil
}

// block returns the canonical index of Bedrock block bi, assigning the next
// one on first sight, and checks that the block keeps one kind.
func (d *StreamDecoder) block(bi int, kind blockKind) (int, error) {
	d.ensureStart()
	i, ok := d.index[bi]
	if !ok {
		i = len(d.kinds)
		d.index[bi] = i
		d.kinds = append(d.kinds, kind)
		d.argsSeen = append(d.argsSeen, false)
		return i, nil
	}
	if d.kinds[i] != kind {
		return 0, fmt.Errorf("bedrock stream: content block %d is %s, got a %s delta", bi, d.kinds[i], kind)
	}
	return i, nil
}
