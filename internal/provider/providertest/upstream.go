package providertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"switchyard/internal/fakecloud"
)

// upstream is one simulated cloud on a loopback httptest server. Its
// handler wrapper counts the requests in flight and those whose context
// ended while they were served, which is how the suite sees a client close
// its connection.
type upstream struct {
	cloud  cloud
	fake   *fakecloud.Server
	srv    *httptest.Server
	client *http.Client

	mu      sync.Mutex
	state   upstreamState
	changed chan struct{} // closed and replaced whenever state changes
}

// upstreamState counts the requests the upstream has seen.
type upstreamState struct {
	// active is the number of handlers running.
	active int
	// gone is the number of requests whose context ended while their
	// handler ran: the client went away (or the server was closed).
	gone int
}

// startUpstream starts a simulated cloud for t; it is stopped when t ends,
// after checking that no request was left running.
func startUpstream(t *testing.T, c cloud) *upstream {
	t.Helper()
	u := &upstream{cloud: c, fake: fakecloud.New(fakecloud.Options{}), changed: make(chan struct{})}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	u.client = &http.Client{Transport: tr}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		// A request still running now belongs to a stream the adapter did
		// not close, or to a connection it leaked.
		if st, ok := u.await(5*time.Second, func(st upstreamState) bool { return st.active == 0 }); !ok {
			t.Errorf("%d upstream requests still running after the subtest: the adapter did not release its connection", st.active)
			u.srv.CloseClientConnections()
		}
		u.srv.Close()
	})
	return u
}

// serve passes a request to fakecloud and keeps count.
func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.update(func(st *upstreamState) { st.active++ })
	defer u.update(func(st *upstreamState) { st.active-- })
	// The client's close shows as the request context ending or, when the
	// server has not noticed that yet, as a failed write, whichever comes
	// first. A handler that returns normally stops the AfterFunc before
	// the server cancels the context, so it is not counted.
	var once sync.Once
	markGone := func() { once.Do(func() { u.update(func(st *upstreamState) { st.gone++ }) }) }
	stop := context.AfterFunc(r.Context(), markGone)
	u.fake.ServeHTTP(&errWriter{ResponseWriter: w, onFail: markGone}, r)
	// A handler that returns because its context ended can get here
	// before the context's cancellation has reached the AfterFunc; stop
	// then wins the race and markGone must be called here instead.
	if stop() && r.Context().Err() != nil {
		markGone()
	}
}

// errWriter reports the first failed write to the client.
type errWriter struct {
	http.ResponseWriter
	onFail func()
}

func (w *errWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	if err != nil {
		w.onFail()
	}
	return n, err
}

func (w *errWriter) FlushError() error {
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if err != nil {
		w.onFail()
	}
	return err
}

func (w *errWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (u *upstream) update(f func(*upstreamState)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	f(&u.state)
	close(u.changed)
	u.changed = make(chan struct{})
}

// snapshot returns the current counts.
func (u *upstream) snapshot() upstreamState {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.state
}

// await waits up to d for cond to hold and returns the last state seen
// and whether it held.
func (u *upstream) await(d time.Duration, cond func(upstreamState) bool) (upstreamState, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		u.mu.Lock()
		st, changed := u.state, u.changed
		u.mu.Unlock()
		if cond(st) {
			return st, true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return st, false
		}
	}
}

// options returns the factory options for this upstream with the default
// credentials.
func (u *upstream) options(timeout time.Duration) Options {
	return Options{
		BaseURL:            u.srv.URL + u.cloud.prefix,
		APIKey:             fakecloud.DefaultKey,
		AWSAccessKeyID:     fakecloud.DefaultAWSAccessKeyID,
		AWSSecretAccessKey: fakecloud.DefaultAWSSecretAccessKey,
		Timeout:            timeout,
		HTTPClient:         u.client,
	}
}

// setFaults makes the simulated cloud misbehave.
func (u *upstream) setFaults(f fakecloud.Faults) {
	name := u.cloud.name
	if u.cloud.fake != "" {
		name = u.cloud.fake
	}
	u.fake.SetFaults(name, f)
}

// lastRecord returns the record of the last request the cloud received,
// once every handler has returned (fakecloud records a request when its
// handler ends, which may be after the client has read the answer).
func (u *upstream) lastRecord(t *testing.T) fakecloud.Record {
	t.Helper()
	if st, ok := u.await(5*time.Second, func(st upstreamState) bool { return st.active == 0 }); !ok {
		t.Fatalf("%d upstream requests still running", st.active)
	}
	recs := u.fake.Records()
	if len(recs) == 0 {
		t.Fatal("the simulated cloud received no request")
	}
	return recs[len(recs)-1]
}
