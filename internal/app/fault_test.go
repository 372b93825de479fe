package app

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchyard/internal/fakecloud"
	"switchyard/internal/store"
)

const faultConfig = `
listen: 127.0.0.1:0
store: {driver: sqlite, dsn: DIR/test.db}
providers:
  - {name: bedrock-sim, type: bedrock, base_url: FAKECLOUD/bedrock, region: us-east-1, access_key_id_env: SIM_AWS_ID, secret_access_key_env: SIM_AWS_SECRET}
  - {name: openai-sim, type: openai, base_url: FAKECLOUD/openai/v1, api_key_env: SIM_KEY}
  - {name: azure-sim, type: azure, base_url: FAKECLOUD/azure, api_key_env: SIM_KEY}
models:
  - name: gpt-4o-mini
    route: {strategy: priority, max_attempts: 3, attempt_timeout: 300ms}
    offerings:
      - {provider: bedrock-sim, upstream_model: openai.gpt-4o-mini-v1:0}
      - {provider: openai-sim, upstream_model: gpt-4o-mini}
      - {provider: azure-sim, upstream_model: mini}
contracts:
  - name: stateless-off-bedrock
    match: {models: ["gpt-*"], traffic: stateless}
    allow: {providers: [openai-sim, azure-sim]}
`

// streamOnce sends one streamed chat request and reports whether it ended
// with [DONE] (ok), with an error event (cut), or without an answer.
func streamOnce(base, key, prompt string) (ok, cut bool) {
	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"` + prompt + `"}]}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return false, false
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "data: [DONE]" {
			return true, false
		}
		if strings.HasPrefix(line, `data: {"error"`) {
			cut = true
		}
	}
	return false, cut
}

// TestFaultInjection drives a model whose first allowed channel fails 20%
// of requests (500s, 503s, 429s, hangs, streams cut before and after their
// first byte), one kind at a time and all of them together. Fallback
// carries at least 99.9% of non-streaming requests, every stream that
// fails before its first byte is retried elsewhere, and no request is
// ever served outside the exclusivity contract.
func TestFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs thousands of requests")
	}
	// Each phase runs on a gateway of its own, so that the breaker a
	// phase trips (correctly) does not hide the next phase's faults.
	g := startGateway(t, faultConfig)
	// Streams cut after their first byte cannot be retried: the client gets
	// an error event in its dialect and the stream ends cleanly.
	g.cloud.SetFaults("openai", fakecloud.Faults{CutStreamAfter: 2})
	cuts := 0
	for i := range 20 {
		done, cut := streamOnce(g.inst.Addr(), g.key, fmt.Sprintf("cut stream number %d with enough words to cut", i))
		if cut {
			cuts++
		} else if !done {
			t.Errorf("stream %d ended with neither [DONE] nor an error event", i)
		}
	}
	if cuts == 0 {
		t.Error("no stream was cut: the fault did not apply")
	}
	checkCompliance(t, g, 20)

	type phase struct {
		name   string
		faults fakecloud.Faults
		// n is the fewest requests the phase sends; every streamEvery-th
		// of them streams (0: none).
		n, streamEvery int
		// minFaulty is how many requests the faulty channel must see: the
		// phase goes on until it has (within a bound), since a tripped
		// breaker or a Retry-After keeps the channel out of plans for a
		// while.
		minFaulty int
		// pause is each client's wait between requests. While a
		// Retry-After or a tripped breaker (ten seconds) keeps the faulty
		// channel out, the phase only waits for it: the pause keeps the
		// requests sent meanwhile within the bound (8 clients at 10 ms send
		// at most 800 a second, so a phase outlasts a cool-off before it
		// reaches maxRequests).
		pause time.Duration
	}
	phases := []phase{
		// A connection closed after the headers, before the first event:
		// the stream has sent the client nothing and falls back.
		{"stream_cut_before_first_byte", fakecloud.Faults{CutBeforeContent: 0.2}, 200, 1, 100, 10 * time.Millisecond},
		{"hang", fakecloud.Faults{HangRate: 0.2}, 200, 0, 30, 10 * time.Millisecond},
		// 20% failures do not open the channel's breaker, which opens on
		// half of a window's requests failing (or a run of 20): the faulty
		// channel stays in plans throughout.
		{"fail_500", fakecloud.Faults{FailRate: 0.2, FailStatus: 500}, 600, 0, 30, 10 * time.Millisecond},
		{"fail_503", fakecloud.Faults{FailRate: 0.2, FailStatus: 503}, 400, 0, 30, 10 * time.Millisecond},
		// A 429 carries Retry-After: 1, which keeps the channel out of plans
		// for that second; the phase lasts until the channel has seen 20.
		{"fail_429", fakecloud.Faults{FailRate: 0.2, FailStatus: 429}, 600, 0, 20, 10 * time.Millisecond},
		// Everything at once at 20% in all: 500s, 429s, hangs and cuts
		// before the first byte, on streamed and unstreamed requests. The
		// 429s ask for 100 ms (retry-after-ms), so the channel is back
		// soon enough to meet every kind of fault many times. Should the
		// breaker open all the same, the pause lets the phase outlast its
		// cool-off within the bounds.
		{"mixed", fakecloud.Faults{FailRate: 0.06, FailStatus: 500, ThrottleRate: 0.02, HangRate: 0.06, CutBeforeContent: 0.06,
			RetryAfter: 100 * time.Millisecond}, 600, 2, 200, 25 * time.Millisecond},
	}
	var total, ok atomic.Int64
	for _, ph := range phases {
		g := startGateway(t, faultConfig)
		g.cloud.SetFaults("openai", ph.faults)
		faulty := func() int {
			n := 0
			for _, r := range g.cloud.Records() {
				if r.Cloud == "openai" {
					n++
				}
			}
			return n
		}
		// The phase ends once it has sent n requests and the faulty
		// channel has seen minFaulty, or at the bound.
		var enough atomic.Bool
		stop := make(chan struct{})
		var monitor sync.WaitGroup
		monitor.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
					if faulty() >= ph.minFaulty {
						enough.Store(true)
						return
					}
				}
			}
		})
		const maxRequests = 8000 // below fakecloud's record ring
		deadline := time.Now().Add(30 * time.Second)
		var wg sync.WaitGroup
		var next, sent, streams, streamsOK atomic.Int64
		for range 8 {
			wg.Go(func() {
				for {
					i := next.Add(1)
					if i > maxRequests || i > int64(ph.n) && enough.Load() || time.Now().After(deadline) {
						return
					}
					if i > 1 {
						time.Sleep(ph.pause)
					}
					sent.Add(1)
					prompt := fmt.Sprintf("%s %d", ph.name, i)
					if ph.streamEvery > 0 && i%int64(ph.streamEvery) == 0 {
						streams.Add(1)
						if done, _ := streamOnce(g.inst.Addr(), g.key, prompt); done {
							streamsOK.Add(1)
						}
						continue
					}
					total.Add(1)
					if chatOnce(g.inst.Addr(), g.key, prompt) == 200 {
						ok.Add(1)
					}
				}
			})
		}
		wg.Wait()
		close(stop)
		monitor.Wait()
		byCloud, byStatus := map[string]int{}, map[int]int{}
		for _, r := range g.cloud.Records() {
			byCloud[r.Cloud]++
			if r.Cloud == "bedrock" {
				t.Fatalf("a request reached the excluded channel: %+v", r)
			}
			if r.Cloud == "openai" {
				byStatus[r.Status]++
			}
		}
		t.Logf("%s: %d requests (%d streamed, %d of them completed); upstream requests by cloud %v; faulty channel's answers by status %v",
			ph.name, sent.Load(), streams.Load(), streamsOK.Load(), byCloud, byStatus)
		if byCloud["openai"] < ph.minFaulty {
			t.Errorf("%s: the faulty channel saw only %d requests, want %d; the faults were not exercised", ph.name, byCloud["openai"], ph.minFaulty)
		}
		if streamsOK.Load() != streams.Load() {
			t.Errorf("%s: %d of %d streams completed; failures before the first byte must fall back", ph.name, streamsOK.Load(), streams.Load())
		}
		served := checkCompliance(t, g, int(sent.Load()))
		// The faulty channel answered 200 to the requests it served and to
		// those it cut before the body; the ledger tells them apart.
		cutBefore := byStatus[200] - served["openai-sim"]
		t.Logf("%s: faulty channel: %d failed with 500/503, %d throttled (429), %d hung (499 after the attempt timeout), %d cut before the first byte, %d served",
			ph.name, byStatus[500]+byStatus[503], byStatus[429], byStatus[499], cutBefore, served["openai-sim"])
		if ph.name == "mixed" {
			// The draws are seeded: the faulty channel's first 200
			// requests meet the same faults every run (11 500s, 17
			// hangs, 5 429s and 8 cuts).
			for _, f := range []struct {
				kind    string
				n, want int
			}{{"500", byStatus[500], 5}, {"429", byStatus[429], 2}, {"hang", byStatus[499], 5}, {"cut", cutBefore, 5}} {
				if f.n < f.want {
					t.Errorf("mixed: the faulty channel met %d faults of kind %s, want at least %d", f.n, f.kind, f.want)
				}
			}
		}
	}
	rate := float64(ok.Load()) / float64(total.Load())
	t.Logf("non-streaming: %d of %d succeeded (%.3f%%) with 20%% faults on the first allowed channel", ok.Load(), total.Load(), 100*rate)
	if rate < 0.999 {
		t.Errorf("success rate %.4f, want at least 0.999", rate)
	}
}

// checkCompliance stops g (flushing its ledger) and runs the compliance
// report over its ledger, as `switchyard usage -by compliance` does: every
// one of the phase's requests reached a channel, and none broke the
// exclusivity contract. It returns the requests each channel served.
func checkCompliance(t *testing.T, g *testGateway, requests int) map[string]int {
	t.Helper()
	if err := g.inst.Shutdown(); err != nil {
		t.Fatal(err)
	}
	st := reopenStore(t, g)
	f := usageFilterAll()
	out, err := reports(st, g.inst.reload.gw.Router)(context.Background(), "compliance", f.Since, f.Until)
	if err != nil {
		t.Fatal(err)
	}
	rep := out.(*ComplianceReport)
	if rep.Checked != int64(requests) || len(rep.Violations) != 0 || len(rep.Unrecorded) != 0 || rep.Unjudged != 0 {
		t.Errorf("compliance report: checked %d of %d requests, violations %+v, unrecorded %+v, unjudged %d",
			rep.Checked, requests, rep.Violations, rep.Unrecorded, rep.Unjudged)
	}
	served := map[string]int{}
	err = st.ScanUsage(context.Background(), f, func(rec store.UsageRecord) error {
		if rec.Status == 200 {
			served[rec.Provider]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return served
}
