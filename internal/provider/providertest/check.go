package providertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"switchyard/internal/llm"
)

// echoPattern matches fakecloud's plain answer: "Echo: LAST_USER_TEXT"
// and the tag "[turns=N history=H]", with " images=K" when the
// conversation carries images.
var echoPattern = regexp.MustCompile(`(?s)^Echo: (.*?) ?\[turns=(\d+) history=([0-9a-f]{8})(?: images=(\d+))?(?: documents=\d+)?\]$`)

// echo is a parsed plain answer.
type echo struct {
	said    string
	turns   int
	history string
	images  int
}

// parseEcho parses fakecloud's plain answer.
func parseEcho(text string) (echo, error) {
	m := echoPattern.FindStringSubmatch(text)
	if m == nil {
		return echo{}, fmt.Errorf("answer %q is not fakecloud's echo of the last user text", text)
	}
	e := echo{said: m[1], history: m[3]}
	e.turns, _ = strconv.Atoi(m[2])
	if m[4] != "" {
		e.images, _ = strconv.Atoi(m[4])
	}
	return e, nil
}

// textOf joins the text parts of a response and fails on any other part
// but reasoning.
func textOf(r *llm.Response) (string, error) {
	var b strings.Builder
	for i, p := range r.Message.Parts {
		switch p.Kind {
		case llm.PartText:
			b.WriteString(p.Text)
		case llm.PartReasoning:
		default:
			return "", fmt.Errorf("part %d is a %s part, want text", i, p.Kind)
		}
	}
	return b.String(), nil
}

// toolCalls returns the tool calls of a response.
func toolCalls(r *llm.Response) []llm.ToolCall {
	var calls []llm.ToolCall
	for _, p := range r.Message.Parts {
		if p.Kind == llm.PartToolCall && p.ToolCall != nil {
			calls = append(calls, *p.ToolCall)
		}
	}
	return calls
}

// maxEvents bounds how many events drain reads, so that an adapter that
// loops fails instead of exhausting memory.
const maxEvents = 100000

// drain reads a stream to its end. It returns the events read and the
// error that ended the stream: nil after io.EOF.
func drain(s llm.Stream) ([]llm.Event, error) {
	var evs []llm.Event
	for len(evs) < maxEvents {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, fmt.Errorf("stream still going after %d events", maxEvents)
}

// accumulate folds events into a response.
func accumulate(evs []llm.Event) *llm.Response {
	var acc llm.Accumulator
	for _, ev := range evs {
		acc.Add(ev)
	}
	return acc.Response()
}

// checkEvents checks the shape of a whole stream: EventStart first with
// an ID and a model; content deltas whose part indexes start at 0 and
// never skip one, a part keeping one kind, and the first delta of a tool
// call carrying its ID and name; EventStop last, once, with usage.
func checkEvents(evs []llm.Event) error {
	if len(evs) == 0 {
		return errors.New("the stream has no events")
	}
	if evs[0].Kind != llm.EventStart {
		return fmt.Errorf("event 0 is %s, want start", evs[0].Kind)
	}
	if evs[0].ID == "" || evs[0].Model == "" {
		return fmt.Errorf("start event has ID %q and model %q; both must be set", evs[0].ID, evs[0].Model)
	}
	var kinds []llm.EventKind // kind of each part started, by index
	for i := 1; i < len(evs); i++ {
		ev := evs[i]
		switch ev.Kind {
		case llm.EventTextDelta, llm.EventReasoningDelta, llm.EventToolCallDelta:
			switch {
			case ev.Index < 0 || ev.Index > len(kinds):
				return fmt.Errorf("event %d (%s) has part index %d; the next new part is %d", i, ev.Kind, ev.Index, len(kinds))
			case ev.Index == len(kinds):
				kinds = append(kinds, ev.Kind)
				if ev.Kind == llm.EventToolCallDelta && (ev.ToolCall == nil || ev.ToolCall.ID == "" || ev.ToolCall.Name == "") {
					return fmt.Errorf("event %d opens tool call part %d without its ID and name: %+v", i, ev.Index, ev.ToolCall)
				}
			case kinds[ev.Index] != ev.Kind:
				return fmt.Errorf("event %d is a %s for part %d, which started with a %s", i, ev.Kind, ev.Index, kinds[ev.Index])
			}
		case llm.EventStop:
			if i != len(evs)-1 {
				return fmt.Errorf("event %d is stop but %d events follow it", i, len(evs)-1-i)
			}
			if ev.Usage == nil {
				return fmt.Errorf("stop event has no usage")
			}
			if ev.FinishReason == "" {
				return fmt.Errorf("stop event has no finish reason")
			}
		default:
			return fmt.Errorf("event %d is %s; only the first event may be one", i, ev.Kind)
		}
	}
	if last := evs[len(evs)-1]; last.Kind != llm.EventStop {
		return fmt.Errorf("the stream ended after a %s event, without stop", last.Kind)
	}
	return nil
}

// schema is the subset of JSON Schema the suite's tools use.
type schema struct {
	Type       string             `json:"type"`
	Properties map[string]*schema `json:"properties"`
	Required   []string           `json:"required"`
	Enum       []any              `json:"enum"`
}

// checkArgs checks that args is a JSON object satisfying the tool's
// parameters schema.
func checkArgs(params json.RawMessage, args string) error {
	var s schema
	if err := json.Unmarshal(params, &s); err != nil {
		return fmt.Errorf("decoding the tool's schema: %w", err)
	}
	var v any
	if err := json.Unmarshal([]byte(args), &v); err != nil {
		return fmt.Errorf("arguments %q are not JSON: %w", args, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("arguments %s are not a JSON object", args)
	}
	return s.check("arguments", v)
}

// check validates v against s; at names v in errors.
func (s *schema) check(at string, v any) error {
	ok := true
	switch s.Type {
	case "object":
		_, ok = v.(map[string]any)
	case "string":
		_, ok = v.(string)
	case "number":
		_, ok = v.(float64)
	case "integer":
		f, isNum := v.(float64)
		ok = isNum && f == float64(int64(f))
	case "boolean":
		_, ok = v.(bool)
	case "array":
		_, ok = v.([]any)
	}
	if !ok {
		return fmt.Errorf("%s = %v is not of type %s", at, v, s.Type)
	}
	if len(s.Enum) > 0 && !slices.ContainsFunc(s.Enum, func(e any) bool { return reflect.DeepEqual(e, v) }) {
		return fmt.Errorf("%s = %v is not one of %v", at, v, s.Enum)
	}
	obj, _ := v.(map[string]any)
	for _, name := range s.Required {
		if _, ok := obj[name]; !ok {
			return fmt.Errorf("%s lacks the required property %q", at, name)
		}
	}
	for name, sub := range s.Properties {
		if pv, ok := obj[name]; ok {
			if err := sub.check(at+"."+name, pv); err != nil {
				return err
			}
		}
	}
	return nil
}
