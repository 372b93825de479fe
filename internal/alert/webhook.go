package alert

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Endpoint formats.
const (
	// FormatStandard is a JSON body {"type", "timestamp", "data"} signed
	// per the Standard Webhooks specification
	// (https://www.standardwebhooks.com).
	FormatStandard = "standard"
	// FormatSlack is a Slack-compatible incoming-webhook body: "text",
	// and "blocks" with the same text as markdown.
	FormatSlack = "slack"
)

// Endpoint is one webhook alerts are sent to.
type Endpoint struct {
	// Name identifies the endpoint in the outbox and the log.
	Name string
	URL  string
	// Format is FormatStandard or FormatSlack.
	Format string
	// Secret signs standard deliveries (the bytes ParseSecret returns).
	Secret []byte
	// Events limits the endpoint to these kinds; empty: every kind.
	Events []Kind
}

// wants reports whether the endpoint takes events of kind k.
func (ep *Endpoint) wants(k Kind) bool { return len(ep.Events) == 0 || slices.Contains(ep.Events, k) }

// secretPrefix starts a Standard Webhooks secret.
const secretPrefix = "whsec_"

// ParseSecret decodes a Standard Webhooks signing secret: "whsec_"
// followed by the base64 of 24 to 64 random bytes (the prefix may be
// left out). Its errors never repeat the secret.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), secretPrefix)
	if s == "" {
		return nil, errors.New("webhook secret is empty")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("webhook secret is not whsec_ followed by base64")
	}
	if len(b) < 24 || len(b) > 64 {
		return nil, fmt.Errorf("webhook secret decodes to %d bytes; the Standard Webhooks specification wants 24 to 64", len(b))
	}
	return b, nil
}

// Sign returns the webhook-signature header value of a standard delivery:
// "v1," followed by the base64 HMAC-SHA256, under secret, of
// "id.timestamp.body".
func Sign(secret []byte, id string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// request builds the HTTP request of one delivery attempt of the outbox
// row id (its stored body) to ep, made at now.
func (ep *Endpoint) request(id, body string, now time.Time) (*http.Request, error) {
	b := []byte(body)
	if ep.Format == FormatSlack {
		ev, err := decode(body)
		if err != nil {
			return nil, err
		}
		if b, err = slackBody(ev); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequest(http.MethodPost, ep.URL, bytes.NewReader(b))
	if err != nil {
		// The URL may be a secret: say which endpoint, not what.
		return nil, fmt.Errorf("endpoint %q: bad URL", ep.Name)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "switchyard-alerts")
	if ep.Format == FormatStandard {
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		req.Header.Set("webhook-signature", Sign(ep.Secret, id, now, b))
	}
	return req, nil
}

// slackMessage is a Slack incoming-webhook body.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks,omitempty"`
}

type slackBlock struct {
	Type string     `json:"type"`
	Text *slackText `json:"text,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// slackBody renders ev for Slack: the summary as text (what
// notifications show), and a section with the details.
func slackBody(ev *Event) ([]byte, error) {
	text := "Switchyard: " + ev.Summary
	var md strings.Builder
	fmt.Fprintf(&md, "*%s* `%s`\n%s", ev.Kind, slackEscape(ev.Subject), slackEscape(ev.Summary))
	keys := make([]string, 0, len(ev.Details))
	for k := range ev.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&md, "\n• %s: %s", slackEscape(k), slackEscape(fmt.Sprint(ev.Details[k])))
	}
	b, err := json.Marshal(slackMessage{Text: text, Blocks: []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: md.String()}}}})
	if err != nil {
		return nil, fmt.Errorf("encoding slack body: %w", err)
	}
	return b, nil
}

// slackEscape escapes the three characters Slack's markup gives meaning
// to, so a name cannot make a mention or a link.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
