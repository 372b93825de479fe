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

	"switchyard/internal/fakecloud"
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
// of requests (500s, 429s, hangs, cut streams). Fallback carries at least
// 99.9% of non-streaming requests, streams that fail before their first
// byte are retried elsewhere, and no request is ever served outside the
// exclusivity contract.
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
	// Streams failing before their first byte fall back.
	g = startGateway(t, faultConfig)
	g.cloud.SetFaults("openai", fakecloud.Faults{FailRate: 0.2, FailStatus: 503})
	streamsOK := 0
	for i := range 200 {
		if done, _ := streamOnce(g.inst.Addr(), g.key, fmt.Sprintf("stream %d", i)); done {
			streamsOK++
		}
	}
	t.Logf("streams failing before the first byte: %d of 200 completed", streamsOK)
	if streamsOK != 200 {
		t.Errorf("%d of 200 streams completed; failures before the first byte must fall back", streamsOK)
	}
	checkCompliance(t, g, 200)

	type phase struct {
		name   string
		faults fakecloud.Faults
		n      int
		// minFaulty is how many requests the faulty channel must see.
		minFaulty int
	}
	phases := []phase{
		{"hang", fakecloud.Faults{HangRate: 0.2}, 200, 30},
		// A run of five failures trips the channel's breaker, which (rightly)
		// keeps it out of plans for ten seconds: the faulty channel is only
		// sure to see the requests before that.
		{"fail_500", fakecloud.Faults{FailRate: 0.2, FailStatus: 500}, 600, 30},
		{"fail_503", fakecloud.Faults{FailRate: 0.2, FailStatus: 503}, 400, 30},
		// A 429 carries Retry-After: 1, which keeps the channel out of plans
		// for that second, so the faulty channel sees only the first few.
		{"fail_429", fakecloud.Faults{FailRate: 0.2, FailStatus: 429}, 600, 1},
	}
	var total, ok atomic.Int64
	for _, ph := range phases {
		g := startGateway(t, faultConfig)
		g.cloud.SetFaults("openai", ph.faults)
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 8 {
			wg.Go(func() {
				for {
					i := next.Add(1)
					if i > int64(ph.n) {
						return
					}
					total.Add(1)
					if chatOnce(g.inst.Addr(), g.key, fmt.Sprintf("%s %d", ph.name, i)) == 200 {
						ok.Add(1)
					}
				}
			})
		}
		wg.Wait()
		byCloud := map[string]int{}
		for _, r := range g.cloud.Records() {
			byCloud[r.Cloud]++
			if r.Cloud == "bedrock" {
				t.Fatalf("a request reached the excluded channel: %+v", r)
			}
		}
		t.Logf("%s: upstream requests by cloud %v", ph.name, byCloud)
		if byCloud["openai"] < ph.minFaulty {
			t.Errorf("%s: the faulty channel saw only %d requests; the faults were not exercised", ph.name, byCloud["openai"])
		}
		checkCompliance(t, g, ph.n)
	}
	rate := float64(ok.Load()) / float64(total.Load())
	t.Logf("non-streaming: %d of %d succeeded (%.3f%%) with 20%% faults on the first allowed channel", ok.Load(), total.Load(), 100*rate)
	if rate < 0.999 {
		t.Errorf("success rate %.4f, want at least 0.999", rate)
	}

	g.cloud.SetFaults("", fakecloud.Faults{})

}

// checkCompliance stops g (flushing its ledger) and runs the compliance
// report over its ledger, as `switchyard usage -by compliance` does: every
// one of the phase's requests reached a channel, and none broke the
// exclusivity contract.
func checkCompliance(t *testing.T, g *testGateway, requests int) {
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
}
