package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"switchyard/internal/fakecloud"
)

func runFakecloud(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("fakecloud", env)
	listen := fs.String("listen", "127.0.0.1:9090", "address to serve the simulated clouds on")
	key := fs.String("key", fakecloud.DefaultKey, "API key every simulated cloud accepts")
	akid := fs.String("aws-access-key-id", fakecloud.DefaultAWSAccessKeyID, "AWS access key id the simulated Bedrock accepts")
	secret := fs.String("aws-secret-access-key", fakecloud.DefaultAWSSecretAccessKey, "AWS secret access key the simulated Bedrock accepts")
	latency := fs.Duration("latency", 0, "delay before the first byte")
	tps := fs.Float64("tokens-per-second", 0, "streaming pace (0: as fast as possible)")
	failRate := fs.Float64("fail-rate", 0, "fraction of requests (0..1) that fail with -fail-status")
	failStatus := fs.Int("fail-status", 500, "status of injected failures")
	hangRate := fs.Float64("hang-rate", 0, "fraction of requests (0..1) that never answer")
	cutAfter := fs.Int("cut-stream-after", 0, "cut streams after N content events (0: never)")
	throttleRate := fs.Float64("throttle-rate", 0, "fraction of requests (0..1) answered 429 with retry-after: 1")
	cutBefore := fs.Float64("cut-before-content", 0, "fraction of requests (0..1) cut after the headers, before any body or event")
	answerTokens := fs.Int("answer-tokens", 0, "pad plain text answers to N output tokens (0: as they are)")
	record := fs.String("record", "", "append one JSON line per received request to this file")
	seed := fs.Int64("seed", 0, "random seed for fault injection (0: from the clock)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"fail-rate", *failRate}, {"hang-rate", *hangRate}, {"throttle-rate", *throttleRate}, {"cut-before-content", *cutBefore}} {
		if f.v < 0 || f.v > 1 {
			return fmt.Errorf("-%s must be between 0 and 1", f.name)
		}
	}
	if sum := *failRate + *hangRate + *throttleRate + *cutBefore; sum > 1 {
		return fmt.Errorf("-fail-rate, -hang-rate, -throttle-rate and -cut-before-content share one draw: they add up to %v, more than 1", sum)
	}
	var rec io.Writer
	if *record != "" {
		f, err := os.OpenFile(*record, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		rec = f
	}
	if *seed == 0 {
		*seed = time.Now().UnixNano()
	}
	_, ln, err := fakecloud.Listen(*listen, fakecloud.Options{
		Key: *key, AWSAccessKeyID: *akid, AWSSecretAccessKey: *secret, Record: rec, Seed: *seed,
		Faults: fakecloud.Faults{Latency: *latency, TokensPerSecond: *tps, FailRate: *failRate, FailStatus: *failStatus,
			HangRate: *hangRate, CutStreamAfter: *cutAfter, ThrottleRate: *throttleRate, CutBeforeContent: *cutBefore, AnswerTokens: *answerTokens},
	})
	if err != nil {
		return err
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(env.Stdout, `fakecloud serving simulated clouds on %[1]s
  openai     %[1]s/openai/v1
  azure      %[1]s/azure
  anthropic  %[1]s/anthropic
  bedrock    %[1]s/bedrock   (access key %[2]s)
  gemini     %[1]s/gemini
api key: %[3]s
`, base, *akid, *key)
	<-ctx.Done()
	return nil
}
