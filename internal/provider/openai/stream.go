package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"switchyard/internal/jsonwire"
	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// StreamDecoder turns the data payloads of an upstream Chat Completions
// event stream into llm events (PROTOCOLS §2.1). Parts are numbered in the
// order they first appear: the text, each tool call, and the reasoning
// text some OpenAI-compatible servers stream. Azure's chunks without
// choices (prompt filter results) and its choices without a delta (content
// filter results) carry nothing and are skipped. EventStop comes at
// "[DONE]", or at the end of the bytes if the finish reason and the usage
// have been seen. Each tool call's arguments are held until the answer
// ends and must then be empty or a JSON object (the last call of an
// answer cut off by the output limit excepted): a stream that breaks this
// fails with KindBadResponse instead of stopping. A decoder serves one
// response and is not safe for concurrent use.
type StreamDecoder struct {
	provider string
	started  bool
	done     bool
	finish   string
	refused  bool
	usage    *llm.Usage
	parts    int // parts numbered so far
	// text and reasoning are the part numbers of the text and the
	// reasoning text plus one; 0 until they appear.
	text, reasoning int
	calls           []streamCall
	// maxArgs bounds the tool call arguments held, over all calls;
	// argBytes is what is held.
	maxArgs, argBytes int64
}

// streamCall is one tool call of the stream, by its upstream index.
type streamCall struct {
	index int
	id    string
	name  string
	part  int // the part number plus one; 0 until its first event
	named bool
	args  []byte // the fragments so far, checked at the stop
}

// NewStreamDecoder returns a decoder whose errors name the channel. The
// tool call arguments it holds are bounded by DefaultMaxResponseBytes, as
// a non-streamed answer is.
func NewStreamDecoder(providerName string) *StreamDecoder {
	return &StreamDecoder{provider: providerName, maxArgs: DefaultMaxResponseBytes}
}

// Done reports whether EventStop has been returned.
func (d *StreamDecoder) Done() bool { return d.done }

// Decode reads one data payload and appends the events it carries to dst.
// Errors are *provider.Error: KindBadResponse for a malformed payload, or
// the kind of an error the upstream reports in the stream. After the stop,
// further payloads are ignored.
func (d *StreamDecoder) Decode(dst []llm.Event, data []byte) ([]llm.Event, error) {
	if d.done {
		return dst, nil
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("[DONE]")) {
		return d.stop(dst, "stream ended without a finish reason")
	}
	var ch streamChunk
	if err := json.Unmarshal(data, &ch); err != nil {
		return dst, d.badResponse("malformed stream chunk", err)
	}
	if ch.Error != nil {
		return dst, apiError(d.provider, 0, 0, ch.Error, data)
	}
	if ch.Usage != nil {
		u := usageToLLM(ch.Usage)
		d.usage = &u
	}
	if len(ch.Choices) == 0 {
		return dst, nil
	}
	if !d.started {
		d.started = true
		dst = append(dst, llm.Event{Kind: llm.EventStart, ID: ch.ID, Model: ch.Model})
	}
	for _, c := range ch.Choices {
		if c.Index != 0 {
			return dst, d.badResponse(fmt.Sprintf("stream chunk for choice %d; only one was asked for", c.Index), nil)
		}
		if c.Delta != nil {
			var err error
			if dst, err = d.delta(dst, c.Delta); err != nil {
				return dst, err
			}
		}
		if c.FinishReason != nil && *c.FinishReason != "" {
			d.finish = *c.FinishReason
		}
	}
	return dst, nil
}

// streamChunk is the part of a ChatChunk the decoder reads. The members
// it has no use for (object, created, service_tier, system_fingerprint,
// logprobs) are skipped instead of copied out of every chunk.
type streamChunk struct {
	ID      string         `json:"id"`
	Model   string         `json:"model"`
	Choices []streamChoice `json:"choices"`
	Usage   *Usage         `json:"usage"`
	Error   *APIError      `json:"error"`
}

// streamChoice is the part of a ChunkChoice the decoder reads.
type streamChoice struct {
	Index        int     `json:"index"`
	Delta        *Delta  `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

func (d *StreamDecoder) delta(dst []llm.Event, delta *Delta) ([]llm.Event, error) {
	switch {
	case delta.Audio != nil:
		return dst, d.badResponse("stream carries audio", fmt.Errorf("%w: audio output", llm.ErrUnsupported))
	case delta.FunctionCall != nil:
		return dst, d.badResponse("stream carries a legacy function_call", nil)
	}
	if s := firstString(delta.ReasoningContent, delta.Reasoning); s != "" {
		dst = append(dst, llm.Event{Kind: llm.EventReasoningDelta, Index: d.number(&d.reasoning), Text: s})
	}
	if delta.Content != nil && *delta.Content != "" {
		dst = append(dst, llm.Event{Kind: llm.EventTextDelta, Index: d.number(&d.text), Text: *delta.Content})
	}
	if delta.Refusal != nil && *delta.Refusal != "" {
		d.refused = true
		dst = append(dst, llm.Event{Kind: llm.EventTextDelta, Index: d.number(&d.text), Text: *delta.Refusal})
	}
	for _, tc := range delta.ToolCalls {
		var name, args string
		if tc.Function != nil {
			name, args = tc.Function.Name, tc.Function.Arguments
		}
		c := d.call(tc)
		if d.argBytes += int64(len(args)); d.argBytes > d.maxArgs {
			return dst, d.badResponse(fmt.Sprintf("stream's tool call arguments exceed %d bytes", d.maxArgs), nil)
		}
		c.args = append(c.args, args...)
		ev := llm.Event{Kind: llm.EventToolCallDelta, ToolCall: &llm.ToolCallDelta{Arguments: args}}
		if !c.named && (tc.ID != "" || name != "") {
			// The first fragment of a call carries its ID and name.
			ev.ToolCall.ID, ev.ToolCall.Name = tc.ID, name
			if tc.ID != "" {
				c.id = tc.ID
			}
			c.name, c.named = name, name != ""
		} else if args == "" {
			continue
		}
		ev.Index = d.number(&c.part)
		dst = append(dst, ev)
	}
	return dst, nil
}

// call finds the tool call a fragment belongs to, or starts a new one. A
// fragment without an index continues the last call unless it brings a
// new ID; a known index with a different ID is a new call too, as some
// servers number every call 0.
func (d *StreamDecoder) call(tc ToolCall) *streamCall {
	if tc.Index == nil && len(d.calls) > 0 {
		last := &d.calls[len(d.calls)-1]
		if tc.ID == "" || tc.ID == last.id || last.id == "" {
			return last
		}
	}
	index := len(d.calls)
	if tc.Index != nil {
		index = *tc.Index
		for i := len(d.calls) - 1; i >= 0; i-- {
			c := &d.calls[i]
			if c.index == index {
				if tc.ID == "" || c.id == "" || tc.ID == c.id {
					return c
				}
				break
			}
		}
	}
	d.calls = append(d.calls, streamCall{index: index})
	return &d.calls[len(d.calls)-1]
}

// number returns the part number stored (plus one) in *slot, numbering
// the part first if it is new: parts are numbered by their first event.
func (d *StreamDecoder) number(slot *int) int {
	if *slot == 0 {
		d.parts++
		*slot = d.parts
	}
	return *slot - 1
}

// End is called at the end of the upstream bytes. It appends EventStop if
// "[DONE]" was missing but the finish reason and the usage were seen, and
// otherwise reports a stream cut short (KindBadResponse).
func (d *StreamDecoder) End(dst []llm.Event) ([]llm.Event, error) {
	if d.done {
		return dst, nil
	}
	if d.finish == "" || d.usage == nil {
		return dst, d.badResponse("stream ended before [DONE]", nil)
	}
	return d.stop(dst, "")
}

func (d *StreamDecoder) stop(dst []llm.Event, noFinish string) ([]llm.Event, error) {
	if d.finish == "" {
		return dst, d.badResponse(noFinish, nil)
	}
	if err := d.checkCalls(); err != nil {
		return dst, err
	}
	d.done = true
	u := llm.Usage{}
	if d.usage != nil {
		u = *d.usage
	}
	return append(dst, llm.Event{
		Kind:         llm.EventStop,
		FinishReason: finishToLLM(d.finish, len(d.calls) > 0, d.refused),
		Usage:        &u,
	}), nil
}

// checkCalls checks that every tool call's arguments are empty or a JSON
// object, the last call of an answer cut off by the output limit excepted.
func (d *StreamDecoder) checkCalls() error {
	for i := range d.calls {
		c := &d.calls[i]
		if d.finish == "length" && i == len(d.calls)-1 {
			continue // cut off by the output limit, maybe mid-arguments
		}
		if _, ok := llm.ObjectArguments(string(c.args)); !ok {
			return badArguments(d.provider, &argumentsError{id: c.id, name: c.name, args: string(c.args)})
		}
	}
	return nil
}

func (d *StreamDecoder) badResponse(msg string, cause error) error {
	err := errors.New(msg)
	if cause != nil {
		err = fmt.Errorf("%s: %w", msg, cause)
	}
	return &provider.Error{Provider: d.provider, Kind: provider.KindBadResponse, Message: "upstream " + msg, Err: err}
}

// StreamEncoder turns llm events into the data payloads of a Chat
// Completions event stream for an OpenAI client, in OpenAI's exact order:
// a first chunk with the assistant role and empty content, content and
// tool-call deltas, a final chunk with an empty delta and the finish
// reason, then (when the client asked for usage) a chunk with no choices
// and the usage, then "[DONE]". Every chunk has the same id, created and
// model, and none has a top-level "error" member, which the openai-go SDK
// treats as a stream error even when null (PROTOCOLS §1.1). An encoder
// serves one response and is not safe for concurrent use.
type StreamEncoder struct {
	id           string
	model        string
	created      int64
	includeUsage bool
	started      bool
	stopped      bool
	usage        llm.Usage
	calls        []encodedCall
	// textHead and textTail frame a content delta's JSON string in its
	// chunk (see textChunk); set by the first.
	textHead, textTail []byte
}

// encodedCall is a tool call already announced to the client.
type encodedCall struct {
	part     int
	index    int
	argBytes int
}

// NewStreamEncoder returns an encoder for one response. id gets the
// "chatcmpl-" prefix if it lacks it; model is the name the client asked
// for; includeUsage is the client's stream_options.include_usage.
func NewStreamEncoder(id, model string, created time.Time, includeUsage bool) *StreamEncoder {
	return &StreamEncoder{id: chatID(id), model: model, created: created.Unix(), includeUsage: includeUsage}
}

// Encode returns the data payloads (JSON) for one event, possibly none.
// It fails for an event after EventStop and for a tool call whose first
// delta has no name.
func (e *StreamEncoder) Encode(ev llm.Event) ([][]byte, error) {
	if e.stopped {
		return nil, fmt.Errorf("encoding %s event after the stop", ev.Kind)
	}
	var out [][]byte
	if !e.started {
		e.started = true
		out = append(out, e.chunk(&Delta{Role: "assistant", Content: new("")}, nil))
	}
	switch ev.Kind {
	case llm.EventStart:
	case llm.EventTextDelta:
		if ev.Text != "" {
			out = append(out, e.textChunk(ev.Text))
		}
	case llm.EventReasoningDelta:
		// Chat Completions has no reasoning text on the wire, so it is
		// not sent to the client; its tokens are still counted in usage.
		// This is the one place the gateway drops content on purpose.
	case llm.EventToolCallDelta:
		return e.toolCall(out, ev)
	case llm.EventStop:
		for i := range e.calls {
			if e.calls[i].argBytes == 0 {
				// OpenAI sends "{}" for a call without arguments.
				out = append(out, e.arguments(e.calls[i].index, "{}"))
			}
		}
		if ev.Usage != nil {
			e.usage = *ev.Usage
		}
		e.stopped = true
		out = append(out, e.chunk(&Delta{}, new(finishFromLLM(ev.FinishReason))))
	default:
		return nil, fmt.Errorf("encoding event of unknown kind %d", ev.Kind)
	}
	return out, nil
}

func (e *StreamEncoder) toolCall(out [][]byte, ev llm.Event) ([][]byte, error) {
	var d llm.ToolCallDelta
	if ev.ToolCall != nil {
		d = *ev.ToolCall
	}
	for i := range e.calls {
		if c := &e.calls[i]; c.part == ev.Index {
			if d.Arguments != "" {
				c.argBytes += len(d.Arguments)
				out = append(out, e.arguments(c.index, d.Arguments))
			}
			return out, nil
		}
	}
	if d.Name == "" {
		return nil, fmt.Errorf("tool call at part %d starts without a name", ev.Index)
	}
	c := encodedCall{part: ev.Index, index: len(e.calls), argBytes: len(d.Arguments)}
	e.calls = append(e.calls, c)
	out = append(out, e.chunk(&Delta{ToolCalls: []ToolCall{{
		Index: new(c.index), ID: d.ID, Type: "function", Function: &FunctionCall{Name: d.Name},
	}}}, nil))
	if d.Arguments != "" {
		out = append(out, e.arguments(c.index, d.Arguments))
	}
	return out, nil
}

func (e *StreamEncoder) arguments(index int, args string) []byte {
	return e.chunk(&Delta{ToolCalls: []ToolCall{{Index: new(index), Function: &FunctionCall{Arguments: args}}}}, nil)
}

// chunk writes one chunk with a single choice.
func (e *StreamEncoder) chunk(d *Delta, finish *string) []byte {
	return e.marshal(ChatChunk{
		ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model,
		Choices: []ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}},
	})
}

// textChunk writes the chunk of a content delta, the bulk of a stream:
// the bytes chunk writes for it, but around the text alone, since every
// other member is the same for the whole stream.
func (e *StreamEncoder) textChunk(text string) []byte {
	if e.textHead == nil {
		empty := ""
		whole := e.chunk(&Delta{Content: &empty}, nil)
		at := bytes.Index(whole, []byte(`"delta":{"content":""}`)) + len(`"delta":{"content":`)
		e.textHead, e.textTail = whole[:at:at], whole[at+len(`""`):]
	}
	b := make([]byte, 0, len(e.textHead)+len(text)+len(e.textTail)+8)
	b = append(b, e.textHead...)
	b = jsonwire.AppendString(b, text)
	return append(b, e.textTail...)
}

// marshal writes a chunk; with usage asked for, a chunk without it says
// "usage":null, as OpenAI's do.
func (e *StreamEncoder) marshal(c ChatChunk) []byte {
	b, err := json.Marshal(c)
	if err != nil {
		// Chunks hold only strings and numbers.
		panic(fmt.Sprintf("openai: marshaling stream chunk: %v", err))
	}
	if e.includeUsage && c.Usage == nil {
		b = append(b[:len(b)-1], `,"usage":null}`...)
	}
	return b
}

// Done returns the payloads that end a stream after EventStop: the usage
// chunk when the client asked for usage, then "[DONE]".
func (e *StreamEncoder) Done() [][]byte {
	var out [][]byte
	if e.includeUsage {
		u := usageFromLLM(e.usage)
		out = append(out, e.marshal(ChatChunk{
			ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model,
			Choices: []ChunkChoice{}, Usage: &u,
		}))
	}
	return append(out, []byte("[DONE]"))
}

// ErrorChunk returns the payload of a mid-stream error,
// {"error":{"message","type","param":null,"code"}}; an empty code is null.
func ErrorChunk(message, typ, code string) []byte {
	b, err := json.Marshal(struct {
		Error APIError `json:"error"`
	}{APIError{Message: message, Type: typ, Code: code}})
	if err != nil {
		panic(fmt.Sprintf("openai: marshaling error chunk: %v", err))
	}
	return b
}
