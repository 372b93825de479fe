package app

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchyard/internal/fakecloud"
)

// breakerConfig keeps stateless gpt-4o-mini traffic on one channel by
// contract, with a short cool-off so that a tripped breaker is probed
// within the test's bounds.
const breakerConfig = `
listen: 127.0.0.1:0
store: {driver: sqlite, dsn: DIR/test.db}
providers:
  - {name: bedrock-sim, type: bedrock, base_url: FAKECLOUD/bedrock, region: us-east-1, access_key_id_env: SIM_AWS_ID, secret_access_key_env: SIM_AWS_SECRET}
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY}
models:
  - name: gpt-4o-mini
    route: {strategy: priority, attempt_timeout: 300ms}
    offerings:
      - {provider: bedrock-sim, upstream_model: openai.gpt-4o-mini-v1:0}
      - {provider: openai-sim, upstream_model: gpt-4o-mini}
contracts:
  - name: stateless-on-openai
    match: {models: ["gpt-*"], traffic: stateless}
    allow: {providers: [openai-sim]}
breaker: {cool_off: 400ms}
`

const (
	breakerCoolOff = 400 * time.Millisecond
	breakerClients = 4
	breakerPause   = 20 * time.Millisecond
	// breakerProbeSlack is the time allowed, beyond the cool-off, for the
	// probe's own round trip while other requests are refused.
	breakerProbeSlack = 100 * time.Millisecond
)

// answer is how one request ended.
type answer uint8

const (
	answered answer = iota + 1
	failed          // the channel's failure reached the client
	refused         // the gateway refused: every allowed breaker open
)

// sendOnce sends one chat request, streamed or not, and classifies its
// answer. A refusal is the gateway's 503 naming the open breaker.
func sendOnce(base, key, prompt string, stream bool) answer {
	body := fmt.Sprintf(`{"model":"gpt-4o-mini","stream":%t,"messages":[{"role":"user","content":%q}]}`, stream, prompt)
	req, _ := http.NewRequest(http.MethodPost, "http://"+base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return failed
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return failed
	case resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(b), "circuit breaker open"):
		if resp.Header.Get("Retry-After") == "" {
			return failed // a refusal must say when to come back
		}
		return refused
	case resp.StatusCode != http.StatusOK:
		return failed
	case stream && !strings.Contains(string(b), "data: [DONE]"):
		return failed
	}
	return answered
}

// breakerRun drives g with paced clients until stop says so (or the bound),
// every third request streamed, and returns the answers in the order the
// requests were sent.
func breakerRun(g *testGateway, name string, bound int, stop func(seq int, a answer) bool) []answer {
	var (
		mu      sync.Mutex
		answers = make([]answer, bound)
		next    atomic.Int64
		done    atomic.Bool
		wg      sync.WaitGroup
	)
	for range breakerClients {
		wg.Go(func() {
			for !done.Load() {
				i := int(next.Add(1)) - 1
				if i >= bound {
					return
				}
				a := sendOnce(g.inst.Addr(), g.key, fmt.Sprintf("%s %d", name, i), i%3 == 2)
				mu.Lock()
				answers[i] = a
				if stop(i, a) {
					done.Store(true)
				}
				mu.Unlock()
				time.Sleep(breakerPause)
			}
		})
	}
	wg.Wait()
	n := min(int(next.Load()), bound)
	out := answers[:0]
	for _, a := range answers[:n] {
		if a != 0 { // sequence numbers taken after the stop
			out = append(out, a)
		}
	}
	return out
}

// longestRefusalRun is the longest run of refusals among requests in the
// order they were sent, and the most a run can hold while lasting no
// longer than a cool-off and a probe's round trip: each client waits the
// pause between requests, so in a span T the clients send at most
// clients × (T/pause + 1) requests. A longer run means an all-503 phase
// outlasted the cool-off, whatever the machine's speed.
func longestRefusalRun(as []answer) (run, bound int) {
	cur := 0
	for _, a := range as {
		if a == refused {
			cur++
			run = max(run, cur)
		} else {
			cur = 0
		}
	}
	return run, breakerClients * (int((breakerCoolOff+breakerProbeSlack)/breakerPause) + 1)
}

func count(as []answer, want answer) int {
	n := 0
	for _, a := range as {
		if a == want {
			n++
		}
	}
	return n
}

// TestBreakerExclusiveChannel serves a model whose stateless traffic a
// contract keeps on one channel. While that channel fails 20% of its
// requests, it stays in service: the failures reach the clients, nothing
// is refused and the breaker never opens. When it dies, its breaker opens
// after the minimum count of failures; once it is back, the first request
// after the cool-off is its probe and service resumes, with no run of
// refusals longer than the cool-off. Nothing is ever served outside the
// contract.
func TestBreakerExclusiveChannel(t *testing.T) {
	if testing.Short() {
		t.Skip("drives hundreds of requests through a gateway")
	}
	t.Run("flaky", func(t *testing.T) {
		// With this seed, 81 of the channel's 400 requests fail, and the
		// first run of five failures comes early (from its 43rd request):
		// a breaker that trips on such a run would refuse for a cool-off.
		g := startGatewayCloud(t, breakerConfig, fakecloud.Options{Seed: 43})
		g.cloud.SetFaults("openai", fakecloud.Faults{FailRate: 0.2, FailStatus: 500})
		const n = 400
		as := breakerRun(g, "flaky", n, func(int, answer) bool { return false })
		ok := count(as, answered)
		run, bound := longestRefusalRun(as)
		rate := float64(ok) / float64(len(as))
		t.Logf("exclusive channel failing 20%%: %d of %d succeeded (%.1f%%), %d failed, %d refused, longest refusal run %d (at most %d)",
			ok, len(as), 100*rate, count(as, failed), count(as, refused), run, bound)
		if len(as) != n {
			t.Fatalf("%d answers, want %d", len(as), n)
		}
		if rate < 0.79 {
			t.Errorf("success rate %.3f, want at least 0.79", rate)
		}
		if run > bound {
			t.Errorf("a run of %d refusals outlasted the cool-off (at most %d)", run, bound)
		}
		for _, h := range g.inst.reload.gw.Router().Health() {
			if h.Trips != 0 || h.State != "closed" {
				t.Errorf("breaker of a flaky channel: %+v", h)
			}
		}
		checkBreakerRecords(t, g, len(as)-count(as, refused))
	})

	t.Run("dead_then_back", func(t *testing.T) {
		g := startGateway(t, breakerConfig)
		g.cloud.SetFaults("openai", fakecloud.Faults{FailRate: 1, FailStatus: 500})
		// The channel comes back as soon as the first refusal shows its
		// breaker open; the run ends after 20 answers since.
		back, answeredSince := -1, 0
		as := breakerRun(g, "dead", 600, func(seq int, a answer) bool {
			if a == refused && back < 0 {
				back = seq
				g.cloud.SetFaults("openai", fakecloud.Faults{})
			}
			if back >= 0 && a == answered {
				answeredSince++
			}
			return answeredSince >= 20
		})
		run, bound := longestRefusalRun(as)
		firstRefusal := -1
		for i, a := range as {
			if a == refused {
				firstRefusal = i
				break
			}
		}
		t.Logf("exclusive channel dead, then back: %d requests, %d failed before the breaker opened at request %d, %d refused, %d answered; longest refusal run %d (at most %d)",
			len(as), count(as[:max(firstRefusal, 0)], failed), firstRefusal, count(as, refused), count(as, answered), run, bound)
		if firstRefusal < 0 || answeredSince < 20 {
			t.Fatalf("the breaker never opened, or service did not resume (%d answered since)", answeredSince)
		}
		// A dead channel trips on its 20th failure (the window's minimum
		// and the run); requests already in flight fail too.
		if f := count(as[:firstRefusal], failed); f < 20 || f > 20+breakerClients {
			t.Errorf("%d failures before the first refusal, want 20 (and those in flight)", f)
		}
		if run > bound {
			t.Errorf("a run of %d refusals outlasted the cool-off (at most %d)", run, bound)
		}
		checkBreakerRecords(t, g, len(as)-count(as, refused))
	})
}

// checkBreakerRecords checks that no request reached the excluded channel
// and that the compliance report over the ledger is empty; requests is
// how many reached a channel (refusals reach none and are not judged).
func checkBreakerRecords(t *testing.T, g *testGateway, requests int) {
	t.Helper()
	for _, r := range g.cloud.Records() {
		if r.Cloud == "bedrock" {
			t.Fatalf("a request reached the excluded channel: %+v", r)
		}
	}
	checkCompliance(t, g, requests)
}
