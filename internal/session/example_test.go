package session_test

import (
	"context"
	"fmt"

	"switchyard/internal/llm"
	"switchyard/internal/session"
	"switchyard/internal/store"
	"switchyard/internal/store/sqlstore"
)

// A turn is begun (its history loaded and assembled), sent to any channel,
// and finished (its outcome stored); the next turn continues it by ID.
func ExampleRuntime() {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, ":memory:")
	if err != nil {
		panic(err)
	}
	defer st.Close()
	rt := session.New(session.Options{Store: st})

	say := func(text string) store.Item {
		return store.Item{Type: store.ItemMessage, Role: "user", Content: []store.Content{{Type: store.ContentInputText, Text: text}}}
	}
	p, err := rt.Begin(ctx, session.Turn{TenantID: "ten_1", Model: "gpt", Store: true, Input: []store.Item{say("Hi, I'm Ada.")}}, &llm.Request{})
	if err != nil {
		panic(err)
	}
	// ... p.Request goes to the gateway; the answer comes back ...
	answer := store.Item{ID: rt.NewItemID(store.ItemMessage), Type: store.ItemMessage, Role: "assistant",
		Content: []store.Content{{Type: store.ContentOutputText, Text: "Hello, Ada."}}}
	first, err := rt.Finish(ctx, p, session.Outcome{Status: store.ResponseCompleted, Output: []store.Item{answer}})
	if err != nil {
		panic(err)
	}

	next, err := rt.Begin(ctx, session.Turn{TenantID: "ten_1", Model: "gpt", Store: true, PreviousResponseID: first.ID,
		Input: []store.Item{say("What's my name?")}}, &llm.Request{MaxTokens: 100})
	if err != nil {
		panic(err)
	}
	for _, m := range next.Request.Messages {
		fmt.Printf("%s: %s\n", m.Role, m.Parts[0].Text)
	}
	// Output:
	// user: Hi, I'm Ada.
	// assistant: Hello, Ada.
	// user: What's my name?
}
