package providertest

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// request returns a request for the cloud's model with the messages.
func (s *suite) request(msgs ...llm.Message) *llm.Request {
	return &llm.Request{Model: s.cloud.model, Messages: msgs}
}

func user(parts ...llm.Part) llm.Message { return llm.Message{Role: llm.RoleUser, Parts: parts} }

func assistant(parts ...llm.Part) llm.Message {
	return llm.Message{Role: llm.RoleAssistant, Parts: parts}
}

// chat sends a non-streamed call that must succeed.
func chat(t *testing.T, p provider.Provider, req *llm.Request) *llm.Response {
	t.Helper()
	resp, err := p.Chat(callContext(t), req)
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if resp == nil {
		t.Fatal("Chat returned neither a response nor an error")
	}
	return resp
}

// chatStream sends a streamed call that must succeed, reads it to the
// end, checks the events' order and returns them with the response they
// accumulate to. The stream is closed.
func chatStream(t *testing.T, p provider.Provider, req *llm.Request) ([]llm.Event, *llm.Response) {
	t.Helper()
	st, err := p.ChatStream(callContext(t), req)
	if err != nil {
		t.Fatalf("ChatStream: %v", err)
	}
	evs, err := drain(st)
	if err != nil {
		st.Close()
		t.Fatalf("stream failed after %d events: %v", len(evs), err)
	}
	if _, err := st.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next after io.EOF returned %v, want io.EOF again", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("Close after io.EOF: %v", err)
	}
	if err := checkEvents(evs); err != nil {
		t.Fatalf("stream events: %v\nevents: %+v", err, evs)
	}
	return evs, accumulate(evs)
}

// echoed checks that resp is fakecloud's plain answer to a last user text
// said, over the given number of user turns, and returns it parsed.
func echoed(t *testing.T, resp *llm.Response, said string, turns int) echo {
	t.Helper()
	text, err := textOf(resp)
	if err != nil {
		t.Fatal(err)
	}
	e, err := parseEcho(text)
	if err != nil {
		t.Fatal(err)
	}
	if e.said != said || e.turns != turns {
		t.Errorf("answer %q echoes %q over %d turns, want %q over %d", text, e.said, e.turns, said, turns)
	}
	if resp.FinishReason != llm.FinishStop {
		t.Errorf("finish reason %q, want %q", resp.FinishReason, llm.FinishStop)
	}
	if resp.Message.Role != llm.RoleAssistant {
		t.Errorf("message role %q, want %q", resp.Message.Role, llm.RoleAssistant)
	}
	return e
}

// checkRecord checks the record of the last request: answered 200, with
// the suite's model, streamed or not as asked.
func (s *suite) checkRecord(t *testing.T, u *upstream, stream bool) recorded {
	t.Helper()
	rec := u.lastRecord(t)
	if rec.Status != 200 || rec.Model != s.cloud.model || rec.Stream != stream {
		t.Errorf("upstream saw status %d, model %q, stream %v; want 200, %q, %v", rec.Status, rec.Model, rec.Stream, s.cloud.model, stream)
	}
	v, err := s.cloud.view(rec.Body)
	if err != nil {
		t.Fatalf("reading the recorded request: %v\nbody: %s", err, rec.Body)
	}
	return v
}

// text: a plain answer echoes the user, stops, and counts its tokens.
func (s *suite) text(t *testing.T) {
	u, p := s.channel(t)
	const said = "Hello there, how are you today?"
	resp := chat(t, p, s.request(user(llm.Text(said))))
	echoed(t, resp, said, 1)
	if resp.Usage.InputTokens <= 0 || resp.Usage.OutputTokens <= 0 {
		t.Errorf("usage %+v: input and output tokens must be counted", resp.Usage)
	}
	if resp.ID == "" || resp.Model == "" {
		t.Errorf("response ID %q, model %q: both must be set", resp.ID, resp.Model)
	}
	s.checkRecord(t, u, false)
}

// stream_order: a stream starts, numbers its parts from 0, stops with
// usage and ends, and adds up to the non-streamed answer.
func (s *suite) streamOrder(t *testing.T) {
	u, p := s.channel(t)
	const said = "Tell me a story about a lighthouse keeper and a storm."
	req := s.request(user(llm.Text(said)))
	want := chat(t, p, req)
	echoed(t, want, said, 1)
	evs, got := chatStream(t, p, req)
	s.checkRecord(t, u, true)
	deltas := 0
	for _, ev := range evs {
		if ev.Kind == llm.EventTextDelta {
			deltas++
		}
	}
	if deltas < 2 {
		t.Errorf("the answer came in %d text deltas; fakecloud streams it word by word", deltas)
	}
	// IDs differ per call; the rest must not.
	if diff := cmp.Diff(want.Message, got.Message); diff != "" {
		t.Errorf("streamed message differs from the non-streamed one (-chat +stream):\n%s", diff)
	}
	if got.FinishReason != want.FinishReason {
		t.Errorf("streamed finish reason %q, non-streamed %q", got.FinishReason, want.FinishReason)
	}
	if diff := cmp.Diff(want.Usage, got.Usage); diff != "" {
		t.Errorf("streamed usage differs from the non-streamed one (-chat +stream):\n%s", diff)
	}
}

// system_and_history: a system prompt travels in the vendor's system
// field, and earlier turns reach the model in order.
func (s *suite) systemAndHistory(t *testing.T) {
	u, p := s.channel(t)
	const system = "You are a terse assistant for lighthouse keepers."
	const said = "And what is my name?"
	req := s.request(
		user(llm.Text("My name is Ada.")),
		assistant(llm.Text("Hello Ada, nice to meet you.")),
		user(llm.Text(said)),
	)
	req.System = []llm.Part{llm.Text(system)}
	first := echoed(t, chat(t, p, req), said, 2)
	v := s.checkRecord(t, u, false)
	if !slices.Equal(v.system, []string{system}) {
		t.Errorf("upstream saw system %q in its system field, want %q", v.system, system)
	}
	if want := []string{"user", "assistant", "user"}; !slices.Equal(v.roles, want) {
		t.Errorf("upstream saw turns %q, want %q", v.roles, want)
	}

	// The history tag hashes the whole conversation: another system
	// prompt must reach the model as another conversation.
	req.System = []llm.Part{llm.Text("You are a verbose assistant.")}
	if second := echoed(t, chat(t, p, req), said, 2); second.history == first.history {
		t.Errorf("changing the system prompt left the conversation hash at %s: the system prompt did not reach the model", first.history)
	}
}

// image: an inline image reaches the model in the vendor's image shape.
func (s *suite) image(t *testing.T) {
	u, p := s.channel(t)
	img := tinyPNG(t)
	const said = "What is in this picture?"
	req := s.request(user(llm.Text(said), llm.Part{Kind: llm.PartImage, Image: &llm.Image{MIMEType: "image/png", Data: img}}))
	e := echoed(t, chat(t, p, req), said, 1)
	if e.images != 1 {
		t.Errorf("the model saw %d images, want 1", e.images)
	}
	v := s.checkRecord(t, u, false)
	if len(v.images) != 1 {
		t.Fatalf("upstream saw %d inline images in the last message, want 1", len(v.images))
	}
	if v.images[0].mime != "image/png" || !bytes.Equal(v.images[0].data, img) {
		t.Errorf("upstream saw a %s image of %d bytes, want the %d-byte PNG sent", v.images[0].mime, len(v.images[0].data), len(img))
	}
}

// tinyPNG encodes a 2x2 image.
func tinyPNG(t *testing.T) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, 2, 2))
	m.Set(0, 0, color.RGBA{R: 255, A: 255})
	m.Set(1, 1, color.RGBA{B: 255, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
