package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// jsSDKDir holds scripts that drive the gateway with the AWS SDK for
// JavaScript and Google's Gen AI SDK;
// `npm ci --prefix internal/app/testdata/bedrock-js` installs the SDKs
// (.ci/run does, and sets SWITCHYARD_TEST_JS_SDK=1 so that the tests
// cannot skip there).
const jsSDKDir = "testdata/bedrock-js"

// The Bedrock Runtime client of the AWS SDK for JavaScript, which speaks
// HTTP/2 only (h2c against an http:// endpoint), reaches the demo with the
// AWS pair from demo.json: Converse, ConverseStream and a typed error.
func TestDemo_BedrockJavaScriptSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if _, serr := os.Stat(filepath.Join(jsSDKDir, "node_modules", "@aws-sdk", "client-bedrock-runtime")); err != nil || serr != nil {
		if os.Getenv("SWITCHYARD_TEST_JS_SDK") != "" {
			t.Fatalf("node (%v) or the SDK (%v) is missing; run npm ci --prefix internal/app/%s", err, serr, jsSDKDir)
		}
		t.Skipf("needs node and `npm ci --prefix internal/app/%s`", jsSDKDir)
	}
	d := startDemo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "converse.mjs")
	cmd.Dir = jsSDKDir
	cmd.Env = append(os.Environ(), "NODE_NO_WARNINGS=1",
		"SY_ENDPOINT=http://"+d.info.Listen,
		"SY_AWS_ACCESS_KEY_ID="+d.info.AWSAccessKeyID,
		"SY_AWS_SECRET_ACCESS_KEY="+d.info.AWSSecretAccessKey,
		"SY_MODEL=anthropic.claude-sonnet-4-20250514-v1:0",
		"SY_PROMPT=hello from the javascript sdk")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var got struct {
		Text, StopReason, StreamText, UnknownModel string
		Events                                     []string
		Usage, StreamUsage                         struct{ InputTokens, OutputTokens int }
		UnknownModelStatus                         int
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("output %q: %v", stdout.String(), err)
	}
	if !strings.Contains(got.Text, "hello from the javascript sdk") || got.StopReason != "end_turn" || got.Usage.OutputTokens == 0 {
		t.Errorf("converse: %+v", got)
	}
	if got.StreamText != got.Text || got.StreamUsage != got.Usage {
		t.Errorf("stream %q usage %+v, want the same answer as converse (%q, %+v)", got.StreamText, got.StreamUsage, got.Text, got.Usage)
	}
	if len(got.Events) < 4 || got.Events[0] != "messageStart" || got.Events[len(got.Events)-1] != "metadata" ||
		!slices.Contains(got.Events, "contentBlockDelta") || !slices.Contains(got.Events, "messageStop") {
		t.Errorf("stream events %v", got.Events)
	}
	if got.UnknownModel != "ValidationException" || got.UnknownModelStatus != 400 {
		t.Errorf("an unknown model gave %q (HTTP %d), want ValidationException (400)", got.UnknownModel, got.UnknownModelStatus)
	}
}

// Google's Gen AI SDK for JavaScript reaches the demo with the demo key as
// its Gemini API key, here for Claude on Anthropic: text, a stream, a
// function calling round trip and a typed error.
func TestDemo_GeminiJavaScriptSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if _, serr := os.Stat(filepath.Join(jsSDKDir, "node_modules", "@google", "genai")); err != nil || serr != nil {
		if os.Getenv("SWITCHYARD_TEST_JS_SDK") != "" {
			t.Fatalf("node (%v) or the SDK (%v) is missing; run npm ci --prefix internal/app/%s", err, serr, jsSDKDir)
		}
		t.Skipf("needs node and `npm ci --prefix internal/app/%s`", jsSDKDir)
	}
	d := startDemo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "gemini.mjs")
	cmd.Dir = jsSDKDir
	cmd.Env = append(os.Environ(), "NODE_NO_WARNINGS=1",
		"SY_ENDPOINT=http://"+d.info.Listen,
		"SY_API_KEY="+d.info.APIKey,
		"SY_MODEL=claude-sonnet-4",
		"SY_PROMPT=hello from the gen ai sdk")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var got struct {
		Text, FinishReason, StreamText, ToolAnswer, ErrorMessage string
		Chunks, ErrorStatus                                      int
		Usage                                                    struct{ PromptTokenCount, CandidatesTokenCount int }
		Calls                                                    []struct {
			ID, Name string
			Args     map[string]any
		}
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("output %q: %v", stdout.String(), err)
	}
	if !strings.HasPrefix(got.Text, "Echo: hello from the gen ai sdk") || got.FinishReason != "STOP" || got.Usage.CandidatesTokenCount == 0 {
		t.Errorf("generateContent: %+v", got)
	}
	if got.StreamText != got.Text || got.Chunks < 3 {
		t.Errorf("stream %q in %d chunks, want %q in several", got.StreamText, got.Chunks, got.Text)
	}
	if len(got.Calls) != 1 || got.Calls[0].Name != "get_weather" || got.Calls[0].ID == "" || got.Calls[0].Args["city"] != "Paris" {
		t.Errorf("function calls %+v", got.Calls)
	}
	if !strings.HasPrefix(got.ToolAnswer, "Tool get_weather returned: sunny") {
		t.Errorf("answer after the function response: %q", got.ToolAnswer)
	}
	if got.ErrorStatus != 404 || !strings.Contains(got.ErrorMessage, "NOT_FOUND") {
		t.Errorf("unknown model: status %d message %q", got.ErrorStatus, got.ErrorMessage)
	}
}
