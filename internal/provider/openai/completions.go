package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
	"switchyard/internal/sse"
)

// The legacy Completions API (POST /v1/completions) is served only by
// channels that speak it natively: OpenAI, Azure OpenAI and
// OpenAI-compatible servers such as vLLM. A request goes upstream as the
// client sent it, with the model renamed; the gateway reads the answer's
// usage for its ledger. Other channels refuse it: the canonical request
// carries the prompt as a passthrough field of this dialect, which no
// other adapter writes.
const (
	RawDialectCompletions = "openai.completions"
	// OpCompletions is the Completions endpoint.
	OpCompletions Operation = "completions"
	// maxStops is the API's limit on stop sequences.
	maxStops = 4
)

// CompletionRequest is what the gateway reads of a Completions request;
// every member, read or not, goes upstream as sent.
type CompletionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	MaxTokens     *int            `json:"max_tokens"`
	Temperature   *float64        `json:"temperature"`
	Stop          json.RawMessage `json:"stop"`
	N             *int            `json:"n"`
	BestOf        *int            `json:"best_of"`
	Stream        bool            `json:"stream"`
	StreamOptions *StreamOptions  `json:"stream_options"`
	Echo          bool            `json:"echo"`
	Logprobs      *int            `json:"logprobs"`
	// Prompts is Prompt as strings.
	Prompts []string `json:"-"`
}

// DecodeCompletionRequest reads and checks a Completions request, and
// returns it with its canonical form (for limits, routing and the
// ledger): the prompts as one user message, the client's body as Raw.
//
// Refused with a 400, naming the member: token-id prompts, n or best_of
// other than 1, echo, and logprobs on a stream (the gateway re-encodes
// streams from canonical events, which carry no log probabilities;
// unstreamed answers go back as the channel sent them, logprobs included).
func DecodeCompletionRequest(body []byte) (*CompletionRequest, *llm.Request, error) {
	var cr CompletionRequest
	if err := json.Unmarshal(body, &cr); err != nil {
		return nil, nil, invalid("", "request body is not a valid Completions request: %v", err)
	}
	switch kindOf(cr.Prompt) {
	case kindString:
		var s string
		_ = json.Unmarshal(cr.Prompt, &s)
		cr.Prompts = []string{s}
	case kindArray:
		if err := json.Unmarshal(cr.Prompt, &cr.Prompts); err != nil {
			return nil, nil, unsupported("prompt", "token-id prompts (arrays of integers) are not supported; send text")
		}
		if len(cr.Prompts) == 0 {
			return nil, nil, invalid("prompt", "at least one prompt is required")
		}
	case kindNull, kindInvalid:
		return nil, nil, invalid("prompt", "required")
	default:
		return nil, nil, invalid("prompt", "expected a string or an array of strings, got %s", kindOf(cr.Prompt))
	}
	switch {
	case cr.N != nil && *cr.N != 1:
		return nil, nil, unsupported("n", "only n=1 is supported")
	case cr.BestOf != nil && *cr.BestOf != 1:
		return nil, nil, unsupported("best_of", "only best_of=1 is supported")
	case cr.Echo:
		return nil, nil, unsupported("echo", "echo=true is not supported")
	case cr.MaxTokens != nil && *cr.MaxTokens < 0:
		return nil, nil, invalid("max_tokens", "must not be negative")
	case cr.Stream && cr.Logprobs != nil:
		return nil, nil, unsupported("logprobs", "log probabilities are not supported on a streamed completion; ask without stream")
	case cr.Stream && len(cr.Prompts) > 1:
		return nil, nil, unsupported("prompt", "a streamed completion takes one prompt")
	}
	req := &llm.Request{Model: cr.Model, Stream: cr.Stream, Temperature: cr.Temperature,
		Messages:    []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{llm.Text(strings.Join(cr.Prompts, "\n"))}}},
		Raw:         &llm.Raw{Dialect: RawDialectCompletions, Body: body},
		Passthrough: map[string]map[string]json.RawMessage{RawDialectCompletions: {"prompt": cr.Prompt}},
	}
	if cr.MaxTokens != nil {
		req.MaxTokens = *cr.MaxTokens
	}
	switch kindOf(cr.Stop) {
	case kindString:
		var s string
		_ = json.Unmarshal(cr.Stop, &s)
		req.Stop = []string{s}
	case kindArray:
		if err := json.Unmarshal(cr.Stop, &req.Stop); err != nil {
			return nil, nil, invalid("stop", "expected a string or an array of strings")
		}
		if len(req.Stop) > maxStops {
			return nil, nil, invalid("stop", "at most %d stop sequences", maxStops)
		}
	case kindNull, kindInvalid:
	default:
		return nil, nil, invalid("stop", "expected a string or an array of strings, got %s", kindOf(cr.Stop))
	}
	return &cr, req, nil
}

// CompletionResponse is a Completions answer.
type CompletionResponse struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []CompletionChoice `json:"choices"`
	Usage   *Usage             `json:"usage,omitempty"`
	Error   *APIError          `json:"error,omitempty"`
}

// CompletionChoice is one generated text.
type CompletionChoice struct {
	Text         string          `json:"text"`
	Index        int             `json:"index"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

func (r *CompletionResponse) upstreamError() *APIError { return r.Error }

// completionRequest reports whether req is a Completions request.
func completionRequest(req *llm.Request) bool {
	return req.Raw != nil && req.Raw.Dialect == RawDialectCompletions
}

// complete forwards a Completions request and reads its answer: the first
// choice's text, the usage, and the answer's bytes as Raw.
func (c *Client) complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	body, err := rawChatBody(req.Raw.Body, req.Model, false)
	if err != nil {
		return nil, err
	}
	var cr CompletionResponse
	data, err := c.roundTrip(ctx, OpCompletions, req.Model, body, &cr)
	if err != nil {
		return nil, err
	}
	if len(cr.Choices) == 0 {
		return nil, c.badResponse("completion without choices", nil)
	}
	out := &llm.Response{ID: cr.ID, Model: cr.Model,
		Message: llm.Message{Role: llm.RoleAssistant, Parts: []llm.Part{llm.Text(cr.Choices[0].Text)}},
		Raw:     &llm.Raw{Dialect: RawDialectCompletions, Body: data}}
	if f := cr.Choices[0].FinishReason; f != nil {
		out.FinishReason = finishToLLM(*f, false, false)
	} else {
		out.FinishReason = llm.FinishStop
	}
	if cr.Usage != nil {
		out.Usage = usageToLLM(cr.Usage)
	}
	return out, nil
}

// completeStream forwards a streamed Completions request, with usage
// asked for (the gateway meters every stream), and decodes its chunks.
func (c *Client) completeStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	body, err := rawChatBody(req.Raw.Body, req.Model, true)
	if err != nil {
		return nil, err
	}
	o := provider.SSEOptions{Provider: c.o.Name, IdleTimeout: c.o.Timeout}
	return provider.StreamSSE(ctx, o, &completionDecoder{name: c.o.Name}, func(ctx context.Context) (*http.Response, error) {
		return c.send(ctx, OpCompletions, req.Model, body, true)
	})
}

// completionDecoder turns Completions chunks into canonical events: a
// start, a text delta per chunk with text, and at [DONE] a stop with the
// finish reason and usage. It is not safe for concurrent use.
type completionDecoder struct {
	name    string
	started bool
	stopped bool
	finish  llm.FinishReason
	usage   *llm.Usage
}

func (d *completionDecoder) Decode(ev sse.Event) ([]llm.Event, error) {
	if d.stopped {
		return nil, nil
	}
	if string(ev.Data) == "[DONE]" {
		d.stopped = true
		if d.finish == "" {
			d.finish = llm.FinishStop
		}
		var out []llm.Event
		if !d.started {
			out = append(out, llm.Event{Kind: llm.EventStart})
		}
		return append(out, llm.Event{Kind: llm.EventStop, FinishReason: d.finish, Usage: d.usage}), nil
	}
	var ch CompletionResponse
	if err := json.Unmarshal(ev.Data, &ch); err != nil {
		return nil, &provider.Error{Provider: d.name, Kind: provider.KindBadResponse,
			Message: "malformed stream chunk", Err: fmt.Errorf("decoding completion chunk: %w", err)}
	}
	if ch.Error != nil {
		return nil, apiError(d.name, 0, 0, ch.Error, ev.Data)
	}
	var out []llm.Event
	if !d.started {
		d.started = true
		out = append(out, llm.Event{Kind: llm.EventStart, ID: ch.ID, Model: ch.Model})
	}
	for _, choice := range ch.Choices {
		if choice.Index != 0 {
			continue
		}
		if choice.Text != "" {
			out = append(out, llm.Event{Kind: llm.EventTextDelta, Text: choice.Text})
		}
		if choice.FinishReason != nil && *choice.FinishReason != "" {
			d.finish = finishToLLM(*choice.FinishReason, false, false)
		}
	}
	if ch.Usage != nil {
		u := usageToLLM(ch.Usage)
		d.usage = &u
	}
	return out, nil
}

// End reports a stream cut before [DONE].
func (d *completionDecoder) End() ([]llm.Event, error) {
	if d.stopped {
		return nil, nil
	}
	return nil, &provider.Error{Provider: d.name, Kind: provider.KindBadResponse,
		Message: "upstream stream was cut", Err: fmt.Errorf("completion stream ended before [DONE]")}
}

func (d *completionDecoder) Stopped() bool { return d.stopped }

// CompletionStreamEncoder writes canonical stream events as Completions
// chunks for a client: one text_completion chunk per text delta, one with
// the finish reason, the usage chunk when the client asked for it, and
// [DONE]. It is not safe for concurrent use.
type CompletionStreamEncoder struct {
	id, model    string
	created      int64
	includeUsage bool
}

// NewCompletionStreamEncoder returns an encoder for an answer named id,
// for a client that asked for model.
func NewCompletionStreamEncoder(id, model string, created time.Time, includeUsage bool) *CompletionStreamEncoder {
	if !strings.HasPrefix(id, "cmpl-") {
		id = "cmpl-" + id
	}
	return &CompletionStreamEncoder{id: id, model: model, created: created.Unix(), includeUsage: includeUsage}
}

type completionChunk struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []CompletionChoice `json:"choices"`
	Usage   *Usage             `json:"usage,omitempty"`
}

func (e *CompletionStreamEncoder) chunk(choices []CompletionChoice, u *Usage) []byte {
	b, err := json.Marshal(completionChunk{ID: e.id, Object: "text_completion", Created: e.created, Model: e.model, Choices: choices, Usage: u})
	if err != nil {
		// Strings and numbers always encode.
		panic(fmt.Sprintf("openai: encoding completion chunk: %v", err))
	}
	return b
}

// Encode returns the chunks of one event. Events a Completions stream has
// no place for (reasoning, tool calls, which a text completion never
// carries) write nothing.
func (e *CompletionStreamEncoder) Encode(ev llm.Event) [][]byte {
	null := json.RawMessage("null")
	switch ev.Kind {
	case llm.EventTextDelta:
		if ev.Text == "" {
			return nil
		}
		return [][]byte{e.chunk([]CompletionChoice{{Text: ev.Text, Logprobs: null}}, nil)}
	case llm.EventStop:
		f := finishFromLLM(ev.FinishReason)
		out := [][]byte{e.chunk([]CompletionChoice{{Logprobs: null, FinishReason: &f}}, nil)}
		if e.includeUsage && ev.Usage != nil {
			u := usageFromLLM(*ev.Usage)
			out = append(out, e.chunk([]CompletionChoice{}, &u))
		}
		return out
	}
	return nil
}

// Done returns the stream's last data line.
func (e *CompletionStreamEncoder) Done() [][]byte { return [][]byte{[]byte("[DONE]")} }
