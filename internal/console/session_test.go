package console

import (
	"testing"
	"time"

	"switchyard/internal/access"
)

func TestSessionsBoundedAndExpiring(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSessions(time.Minute, 3, func() time.Time { return now })
	var ids []string
	for range 3 {
		id, _ := s.create(access.BreakGlass)
		ids = append(ids, id)
		now = now.Add(time.Second)
	}
	s.get(ids[0]) // the first is now the most recently used
	id4, _ := s.create(access.BreakGlass)
	if s.get(ids[1]) != nil {
		t.Error("past the bound, the least recently used session survived")
	}
	for _, id := range []string{ids[0], ids[2], id4} {
		if s.get(id) == nil {
			t.Errorf("session %s… dropped", id[:6])
		}
	}
	if len(s.byID) != 3 {
		t.Errorf("%d sessions held, want at most 3", len(s.byID))
	}
	now = now.Add(time.Minute)
	if s.get(id4) != nil {
		t.Error("a session idle for the whole idle time is still valid")
	}
	if s.get("") != nil || s.get("made-up") != nil {
		t.Error("an unknown id found a session")
	}
}
