package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/session"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// ids returns deterministic IDs: prefix and a counter.
func ids() func(string) string {
	var (
		mu sync.Mutex
		n  int
	)
	return func(prefix string) string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("%s%03d", prefix, n)
	}
}

type fixture struct {
	rt    *session.Runtime
	st    *sqlstore.Store
	clock *clock
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	st := sqlstore.OpenTestStore(t, sqlstore.DriverSQLite)
	c := &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	rt := session.New(session.Options{Store: st, ResponseTTL: 24 * time.Hour, Now: c.Now, NewID: ids()})
	return &fixture{rt: rt, st: st, clock: c}
}

func userText(text string) store.Item {
	return store.Item{Type: store.ItemMessage, Role: "user", Content: []store.Content{{Type: store.ContentInputText, Text: text}}}
}

func answer(id, text string) store.Item {
	return store.Item{ID: id, Type: store.ItemMessage, Role: "assistant", Status: "completed",
		Content: []store.Content{{Type: store.ContentOutputText, Text: text}}}
}

// run begins and finishes one completed turn with a canned answer.
func (f *fixture) run(t testing.TB, turn session.Turn, reply string) (*session.Pending, *store.Response) {
	t.Helper()
	p, err := f.rt.Begin(t.Context(), turn, &llm.Request{Model: "m"})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	r, err := f.rt.Finish(t.Context(), p, session.Outcome{Status: store.ResponseCompleted,
		Output: []store.Item{answer(f.rt.NewItemID(store.ItemMessage), reply)}, Usage: llm.Usage{InputTokens: 10, OutputTokens: 2}})
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return p, r
}

func texts(msgs []llm.Message) []string {
	var out []string
	for _, m := range msgs {
		for _, p := range m.Parts {
			out = append(out, string(m.Role)+": "+p.Text)
		}
	}
	return out
}

func TestRuntime_ContinuesAChain(t *testing.T) {
	f := newFixture(t)
	_, first := f.run(t, session.Turn{TenantID: "ten_a", Model: "gpt", Instructions: "first rules", Store: true,
		Input: []store.Item{userText("hello")}}, "hi there")
	if first.ID != "resp_002" || first.Input[0].ID != "msg_001" || first.Status != store.ResponseCompleted {
		t.Errorf("first response %+v", first)
	}
	if want := f.clock.Now().Add(24 * time.Hour); !first.ExpiresAt.Equal(want) || first.CompletedAt == nil {
		t.Errorf("expiry %v completed %v; want %v and set", first.ExpiresAt, first.CompletedAt, want)
	}

	f.clock.Advance(time.Minute)
	p, err := f.rt.Begin(t.Context(), session.Turn{TenantID: "ten_a", Model: "gpt", PreviousResponseID: first.ID,
		Instructions: "second rules", Store: true, Input: []store.Item{userText("again")}},
		&llm.Request{Model: "m", MaxTokens: 7})
	if err != nil {
		t.Fatal(err)
	}
	// The history comes first, the instructions are this turn's only, and
	// the base request's settings are kept.
	want := []string{"user: hello", "assistant: hi there", "user: again"}
	if diff := cmp.Diff(want, texts(p.Request.Messages)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if len(p.Request.System) != 1 || p.Request.System[0].Text != "second rules" || p.Request.MaxTokens != 7 {
		t.Errorf("system %v, max tokens %d", p.Request.System, p.Request.MaxTokens)
	}
	second, err := f.rt.Finish(t.Context(), p, session.Outcome{Status: store.ResponseIncomplete, IncompleteReason: "max_output_tokens",
		Output: []store.Item{answer("msg_x", "cut")}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.rt.Response(t.Context(), "ten_a", second.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PreviousResponseID != first.ID || got.Status != store.ResponseIncomplete || got.IncompleteReason != "max_output_tokens" ||
		got.CompletedAt != nil || len(got.Output) != 1 {
		t.Errorf("stored continuation %+v", got)
	}
	items, more, err := f.rt.InputItems(t.Context(), "ten_a", second.ID, store.ItemPage{})
	if err != nil || more || len(items) != 1 || items[0].Content[0].Text != "again" {
		t.Errorf("input items %+v more %v, %v", items, more, err)
	}
}

func TestRuntime_NotFound(t *testing.T) {
	f := newFixture(t)
	_, mine := f.run(t, session.Turn{TenantID: "ten_a", Store: true, Input: []store.Item{userText("secret")}}, "ok")
	_, unstored := f.run(t, session.Turn{TenantID: "ten_a", Store: false, Input: []store.Item{userText("private")}}, "ok")
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		err  func() error
		kind string
		id   string
	}{
		{"foreign_previous", func() error {
			_, err := f.rt.Begin(ctx, session.Turn{TenantID: "ten_b", PreviousResponseID: mine.ID, Input: []store.Item{userText("x")}}, &llm.Request{})
			return err
		}, session.KindResponse, mine.ID},
		{"unknown_previous", func() error {
			_, err := f.rt.Begin(ctx, session.Turn{TenantID: "ten_a", PreviousResponseID: "resp_nope", Input: []store.Item{userText("x")}}, &llm.Request{})
			return err
		}, session.KindResponse, "resp_nope"},
		{"unstored_previous", func() error {
			_, err := f.rt.Begin(ctx, session.Turn{TenantID: "ten_a", PreviousResponseID: unstored.ID, Input: []store.Item{userText("x")}}, &llm.Request{})
			return err
		}, session.KindResponse, unstored.ID},
		{"foreign_get", func() error { _, err := f.rt.Response(ctx, "ten_b", mine.ID); return err }, session.KindResponse, mine.ID},
		{"foreign_delete", func() error { return f.rt.DeleteResponse(ctx, "ten_b", mine.ID) }, session.KindResponse, mine.ID},
		{"foreign_input_items", func() error {
			_, _, err := f.rt.InputItems(ctx, "ten_b", mine.ID, store.ItemPage{})
			return err
		}, session.KindResponse, mine.ID},
		{"unknown_cursor", func() error {
			_, _, err := f.rt.InputItems(ctx, "ten_a", mine.ID, store.ItemPage{After: "msg_nope"})
			return err
		}, session.KindItem, "msg_nope"},
		{"unknown_conversation", func() error {
			_, err := f.rt.Begin(ctx, session.Turn{TenantID: "ten_a", ConversationID: "conv_nope", Input: []store.Item{userText("x")}}, &llm.Request{})
			return err
		}, session.KindConversation, "conv_nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			var nf *session.NotFoundError
			if !errors.As(err, &nf) || nf.Kind != tc.kind || nf.ID != tc.id || nf.Ancestor != "" {
				t.Fatalf("error = %v, want %s %s not found", err, tc.kind, tc.id)
			}
			if !errors.Is(err, store.ErrNotFound) {
				t.Error("error does not wrap store.ErrNotFound")
			}
		})
	}
	if _, err := f.rt.Response(ctx, "ten_a", mine.ID); err != nil {
		t.Errorf("owner lost its response: %v", err)
	}
}

func TestRuntime_Retention(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	_, r := f.run(t, session.Turn{TenantID: "ten_a", Store: true, Input: []store.Item{userText("one")}}, "ok")
	f.clock.Advance(24*time.Hour - time.Second)
	if _, err := f.rt.Response(ctx, "ten_a", r.ID); err != nil {
		t.Fatalf("response gone before its TTL: %v", err)
	}
	f.clock.Advance(time.Second)
	_, err := f.rt.Response(ctx, "ten_a", r.ID)
	var nf *session.NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("expired response: %v, want not found", err)
	}
	_, err = f.rt.Begin(ctx, session.Turn{TenantID: "ten_a", PreviousResponseID: r.ID, Input: []store.Item{userText("x")}}, &llm.Request{})
	if !errors.As(err, &nf) {
		t.Fatalf("continuing an expired response: %v, want not found", err)
	}
	n, err := f.rt.PurgeExpired(ctx, f.clock.Now())
	if err != nil || n != 1 {
		t.Errorf("PurgeExpired = %d, %v; want 1", n, err)
	}
}

func TestRuntime_DeletedAncestor(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	_, r1 := f.run(t, session.Turn{TenantID: "ten_a", Store: true, Input: []store.Item{userText("one")}}, "1")
	_, r2 := f.run(t, session.Turn{TenantID: "ten_a", Store: true, PreviousResponseID: r1.ID, Input: []store.Item{userText("two")}}, "2")
	if err := f.rt.DeleteResponse(ctx, "ten_a", r1.ID); err != nil {
		t.Fatal(err)
	}
	_, err := f.rt.Begin(ctx, session.Turn{TenantID: "ten_a", PreviousResponseID: r2.ID, Input: []store.Item{userText("three")}}, &llm.Request{})
	var nf *session.NotFoundError
	if !errors.As(err, &nf) || nf.ID != r2.ID || nf.Ancestor != r1.ID {
		t.Fatalf("continuing past a deleted ancestor: %v", err)
	}
}

func TestRuntime_InputErrors(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		turn  session.Turn
		param string
		msg   string
	}{
		{"previous_and_conversation", session.Turn{TenantID: "ten_a", PreviousResponseID: "resp_1", ConversationID: "conv_1",
			Input: []store.Item{userText("x")}}, "conversation",
			"Mutually exclusive parameters: provide either 'previous_response_id' or 'conversation', not both."},
		{"duplicate_ids", session.Turn{TenantID: "ten_a", Input: []store.Item{answer("msg_1", "a"), answer("msg_1", "b")}}, "input",
			"Duplicate item ID 'msg_1' in the input."},
		{"orphan_output", session.Turn{TenantID: "ten_a", Input: []store.Item{userText("x"),
			{Type: store.ItemFunctionCallOutput, CallID: "call_zz", Output: "42"}}}, "input",
			"No tool call found for function call output with call_id call_zz."},
		{"nothing_to_answer", session.Turn{TenantID: "ten_a", Instructions: "hi"}, "input",
			"There is nothing to answer: give at least one input item."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.rt.Begin(ctx, tc.turn, &llm.Request{})
			var ie *session.InputError
			if !errors.As(err, &ie) || ie.Param != tc.param || ie.Message != tc.msg {
				t.Fatalf("error = %v, want input error on %s: %s", err, tc.param, tc.msg)
			}
		})
	}
}

func TestRuntime_Conversation(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	c, err := f.rt.CreateConversation(ctx, "ten_a", map[string]string{"topic": "x"}, []store.Item{userText("seed")})
	if err != nil {
		t.Fatal(err)
	}
	// A stored and an unstored turn both extend the conversation.
	_, r1 := f.run(t, session.Turn{TenantID: "ten_a", ConversationID: c.ID, Store: true, Input: []store.Item{userText("one")}}, "1")
	_, r2 := f.run(t, session.Turn{TenantID: "ten_a", ConversationID: c.ID, Store: false, Input: []store.Item{userText("two")}}, "2")
	if _, err := f.rt.Response(ctx, "ten_a", r1.ID); err != nil {
		t.Errorf("stored turn: %v", err)
	}
	if _, err := f.rt.Response(ctx, "ten_a", r2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unstored turn readable: %v", err)
	}
	p, err := f.rt.Begin(ctx, session.Turn{TenantID: "ten_a", ConversationID: c.ID, Input: []store.Item{userText("three")}}, &llm.Request{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"user: seed", "user: one", "assistant: 1", "user: two", "assistant: 2", "user: three"}
	if diff := cmp.Diff(want, texts(p.Request.Messages)); diff != "" {
		t.Errorf("conversation history (-want +got):\n%s", diff)
	}

	added, err := f.rt.AddConversationItems(ctx, "ten_a", c.ID, []store.Item{userText("manual")})
	if err != nil || added[0].ID == "" {
		t.Fatalf("AddConversationItems: %v, %v", added, err)
	}
	if _, err := f.rt.AddConversationItems(ctx, "ten_a", c.ID, []store.Item{answer(added[0].ID, "dup")}); err == nil {
		t.Error("adding an item ID twice succeeded")
	}
	items, more, err := f.rt.ConversationItems(ctx, "ten_a", c.ID, store.ItemPage{Descending: true, Limit: 1})
	if err != nil || !more || len(items) != 1 || items[0].ID != added[0].ID {
		t.Errorf("newest item %v more %v, %v", items, more, err)
	}
	if _, err := f.rt.DeleteConversationItem(ctx, "ten_a", c.ID, added[0].ID); err != nil {
		t.Fatal(err)
	}
	var nf *session.NotFoundError
	if _, err := f.rt.ConversationItem(ctx, "ten_a", c.ID, added[0].ID); !errors.As(err, &nf) || nf.Kind != session.KindItem {
		t.Errorf("deleted item: %v", err)
	}
	if _, err := f.rt.ConversationItem(ctx, "ten_b", c.ID, "msg_any"); !errors.As(err, &nf) || nf.Kind != session.KindConversation {
		t.Errorf("foreign conversation item: %v", err)
	}
	if err := f.rt.DeleteConversation(ctx, "ten_a", c.ID); err != nil {
		t.Fatal(err)
	}
	// A turn whose conversation is deleted before it finishes reports it.
	c2, _ := f.rt.CreateConversation(ctx, "ten_a", nil, nil)
	p, err = f.rt.Begin(ctx, session.Turn{TenantID: "ten_a", ConversationID: c2.ID, Input: []store.Item{userText("x")}}, &llm.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.rt.DeleteConversation(ctx, "ten_a", c2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.rt.Finish(ctx, p, session.Outcome{Status: store.ResponseCompleted}); !errors.As(err, &nf) || nf.Kind != session.KindConversation {
		t.Errorf("finishing in a deleted conversation: %v", err)
	}
}

// TestRuntime_TwoInstances runs one conversation across two runtimes over
// one database, as two gateway replicas would.
func TestRuntime_TwoInstances(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	open := func() *session.Runtime {
		st, err := sqlstore.Open(context.Background(), sqlstore.DriverSQLite, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return session.New(session.Options{Store: st})
	}
	a, b := open(), open()
	ctx := t.Context()
	p, err := a.Begin(ctx, session.Turn{TenantID: "ten_a", Store: true, Input: []store.Item{userText("on a")}}, &llm.Request{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Finish(ctx, p, session.Outcome{Status: store.ResponseCompleted, Output: []store.Item{answer(a.NewItemID(store.ItemMessage), "from a")}})
	if err != nil {
		t.Fatal(err)
	}
	p, err = b.Begin(ctx, session.Turn{TenantID: "ten_a", Store: true, PreviousResponseID: r.ID, Input: []store.Item{userText("on b")}}, &llm.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"user: on a", "assistant: from a", "user: on b"}, texts(p.Request.Messages)); diff != "" {
		t.Errorf("history on the second instance (-want +got):\n%s", diff)
	}
}

func TestTurn_Stateful(t *testing.T) {
	for _, tc := range []struct {
		turn session.Turn
		want bool
	}{
		{session.Turn{}, false},
		{session.Turn{Store: true}, true},
		{session.Turn{PreviousResponseID: "resp_1"}, true},
		{session.Turn{ConversationID: "conv_1"}, true},
	} {
		if got := tc.turn.Stateful(); got != tc.want {
			t.Errorf("%+v.Stateful() = %v, want %v", tc.turn, got, tc.want)
		}
	}
}

// TestBegin_MemoryProportionalToHistory measures a whole turn's start on
// SQLite, reading the chain from the store and assembling it: its memory
// grows in proportion to the history and no faster. The constant covers
// the row as the driver returns it, the JSON decoding, the decoded items
// and the canonical request; for these short items (about 200 B each) it
// is about six, and it shrinks as items get longer.
func TestBegin_MemoryProportionalToHistory(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	measure := func(turns int) (perBegin uint64, stored int) {
		prev := ""
		for i := range turns {
			in := userText(fmt.Sprintf("Question %d: what is the weather like in the city we talked about, and should I bring an umbrella?", i))
			_, r := f.run(t, session.Turn{TenantID: fmt.Sprintf("ten_%d", turns), Store: true, PreviousResponseID: prev, Input: []store.Item{in}},
				fmt.Sprintf("Answer %d: around 21C with light rain in the morning, so yes, bring an umbrella; it clears by noon.", i))
			prev = r.ID
			for _, it := range append(r.Input, r.Output...) {
				b, _ := json.Marshal(it)
				stored += len(b) + len(it.ID)
			}
		}
		turn := session.Turn{TenantID: fmt.Sprintf("ten_%d", turns), PreviousResponseID: prev, Input: []store.Item{userText("and tomorrow?")}}
		begin := func() {
			if _, err := f.rt.Begin(ctx, turn, &llm.Request{}); err != nil {
				t.Fatal(err)
			}
		}
		begin() // warm the connection pool and statement caches
		const runs = 10
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			begin()
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / runs, stored
	}
	small, smallSize := measure(50)
	large, largeSize := measure(200)
	t.Logf("50 turns: %d B per turn start for %d B of stored history; 200 turns: %d B for %d B", small, smallSize, large, largeSize)
	if large > 8*uint64(largeSize) {
		t.Errorf("starting a turn over %d B of history allocated %d B", largeSize, large)
	}
	// Four times the history may cost at most about four times the memory.
	if large*10 > 45*small {
		t.Errorf("memory grows faster than the history: %d B for 50 turns, %d B for 200", small, large)
	}
}

// BenchmarkBeginHistory starts a turn on a 200-turn chain stored in
// SQLite: one query for the chain, then assembly.
func BenchmarkBeginHistory(b *testing.B) {
	f := newFixture(b)
	prev := ""
	for i := range 200 {
		_, r := f.run(b, session.Turn{TenantID: "ten_a", Store: true, PreviousResponseID: prev,
			Input: []store.Item{userText(fmt.Sprintf("Question %d: should I bring an umbrella tomorrow?", i))}},
			fmt.Sprintf("Answer %d: yes, light rain is expected in the morning.", i))
		prev = r.ID
	}
	turn := session.Turn{TenantID: "ten_a", PreviousResponseID: prev, Input: []store.Item{userText("and the day after?")}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.rt.Begin(b.Context(), turn, &llm.Request{}); err != nil {
			b.Fatal(err)
		}
	}
}
