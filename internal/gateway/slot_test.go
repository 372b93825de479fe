package gateway

import (
	"context"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"switchyard/internal/llm"
	"switchyard/internal/provider"
)

// recordingSlot logs the gateway's calls to a request's admission slot.
type recordingSlot struct {
	log    []string
	parked bool
}

func (s *recordingSlot) Park()   { s.log = append(s.log, "park"); s.parked = true }
func (s *recordingSlot) Resume() { s.log = append(s.log, "resume"); s.parked = false }

// slotProvider notes in the slot's log each call to the channel and
// whether the slot was parked during it.
type slotProvider struct {
	*fakeProvider
	slot *recordingSlot
}

func (p *slotProvider) note(what string) {
	if p.slot.parked {
		what += " (parked)"
	}
	p.slot.log = append(p.slot.log, what)
}

func (p *slotProvider) Chat(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	p.note("chat " + p.name)
	return p.fakeProvider.Chat(ctx, req)
}

func (p *slotProvider) ChatStream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	p.note("stream " + p.name)
	return p.fakeProvider.ChatStream(ctx, req)
}

// TestSlot_ParkedWhileWaitingOnChannels: each attempt's call to its
// channel runs with the request's slot parked, resumed after it whether it
// failed or not; a stream's slot is parked until its first event only.
func TestSlot_ParkedWhileWaitingOnChannels(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := map[bool]string{false: "chat", true: "stream"}[stream]
		t.Run(name, func(t *testing.T) {
			slot := &recordingSlot{}
			a := &fakeProvider{name: "a", errs: []error{pErr(provider.KindUnavailable)}}
			b := &fakeProvider{name: "b"}
			g, _ := newTestGateway(t, a, b)
			reg := provider.NewRegistry()
			for _, p := range []*fakeProvider{a, b} {
				if err := reg.Add(&slotProvider{fakeProvider: p, slot: slot}); err != nil {
					t.Fatal(err)
				}
			}
			rt := *g.rt.Load()
			rt.Providers = reg
			g.Swap(rt)
			call := &Call{Model: "m", Slot: slot}
			if stream {
				st, _, err := g.ChatStream(context.Background(), call, chatReq())
				if err != nil {
					t.Fatal(err)
				}
				for {
					if _, err := st.Next(); err == io.EOF {
						break
					} else if err != nil {
						t.Fatal(err)
					}
				}
				st.Close()
			} else if _, _, err := g.Chat(context.Background(), call, chatReq()); err != nil {
				t.Fatal(err)
			}
			want := []string{"park", name + " a (parked)", "resume", "park", name + " b (parked)", "resume"}
			if diff := cmp.Diff(want, slot.log); diff != "" {
				t.Errorf("slot calls (-want +got):\n%s", diff)
			}
		})
	}
}
