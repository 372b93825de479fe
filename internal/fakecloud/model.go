package fakecloud

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// fragmentBytes is the largest tool-argument or JSON-answer fragment.
const fragmentBytes = 8

// finish is why the simulated model stopped.
type finish uint8

const (
	finishStop finish = iota
	finishLength
	finishToolUse
	finishStopSequence
)

// toolCall is one call the simulated model makes.
type toolCall struct {
	// id is a hex suffix; clouds add their own prefix ("call_", "toolu_").
	id   string
	name string
	// args is the arguments as compact JSON; fragments concatenate to it.
	args      string
	fragments []string
}

// answer is the simulated model's reply, before any cloud's encoding.
type answer struct {
	// id is unique to the request (hex); clouds prefix it for their
	// response and message IDs.
	id string
	// thinking is the reasoning text; thinkingPieces concatenate to it.
	thinking       string
	thinkingPieces []string
	// text is the answer text; textPieces concatenate to it.
	text       string
	textPieces []string
	calls      []toolCall
	finish     finish
	// stopSequence is the stop sequence that ended the text, if any.
	stopSequence string
	usage        usage
}

// usage is the token accounting of one exchange. input counts the whole
// prompt, including the cached parts.
type usage struct {
	input, output, reasoning int
	cacheRead, cacheWrite    int
}

// respond computes the simulated model's answer to c. seed makes tool call
// IDs unique per request; it is hex.
func respond(c *conversation, seed string) answer {
	a := answer{id: seed}
	history := c.history()[:8]
	images, documents := c.attachments()
	tag := "[turns=" + strconv.Itoa(c.userTurns()) + " history=" + history
	if images > 0 {
		tag += " images=" + strconv.Itoa(images)
	}
	if documents > 0 {
		tag += " documents=" + strconv.Itoa(documents)
	}
	tag += "]"
	last := c.lastUserText()

	results := c.pendingResults()
	names := c.callsWanted(last, len(results) > 0)
	plan := ""
	switch {
	case len(names) > 0:
		for i, name := range names {
			args, _ := json.Marshal(exampleArgs(c.tool(name).schema))
			a.calls = append(a.calls, toolCall{
				id:        callSuffix(seed, i),
				name:      name,
				args:      string(args),
				fragments: fragments(string(args)),
			})
		}
		plan = "I will call " + strings.Join(names, " and ") + "."
	case len(results) > 0:
		var said []string
		for _, r := range results {
			verb := " returned: "
			if r.isError {
				verb = " failed: "
			}
			said = append(said, "Tool "+r.name+verb+r.result)
		}
		a.text = strings.Join(said, "; ") + " " + tag
		plan = "I will report what the tools returned."
	case c.format != nil:
		var doc any
		if c.format.schema != nil {
			doc = exampleValue(c.format.schema)
		} else {
			doc = map[string]any{"echo": last, "turns": c.userTurns(), "history": history}
		}
		b, _ := json.Marshal(doc)
		a.text = string(b)
		plan = "I will answer in JSON."
	default:
		a.text = "Echo: " + last
		if last != "" {
			a.text += " "
		}
		a.text += tag
		plan = "I will echo the message."
	}
	if c.reasoning {
		a.thinking = "The user wrote " + strconv.Quote(clip(last, 60)) + ". " + plan
		a.thinkingPieces = words(a.thinking)
	}
	if a.text != "" {
		a.finish = finishStop
		if i, seq := firstStop(a.text, c.stop); i >= 0 {
			a.text, a.stopSequence, a.finish = a.text[:i], seq, finishStopSequence
		}
		if c.format != nil && len(results) == 0 {
			a.textPieces = fragments(a.text)
		} else {
			a.textPieces = words(a.text)
		}
	}
	if len(a.calls) > 0 {
		a.finish = finishToolUse
	}
	a.truncate(c.maxTokens)

	a.usage.input = c.inputTokens()
	a.usage.reasoning = len(a.thinkingPieces)
	a.usage.output = len(a.thinkingPieces) + len(a.textPieces)
	for _, call := range a.calls {
		a.usage.output += len(call.fragments)
	}
	return a
}

// fillerWords pad answers (Faults.AnswerTokens).
var fillerWords = [...]string{"lorem ", "ipsum ", "dolor ", "sit ", "amet ", "consectetur ", "adipiscing ", "elit "}

// pad appends filler words to a plain text answer until it has n text
// pieces, or maxTokens output tokens when that is lower and positive (the
// answer then ends for its length, as a truncated one does).
func (a *answer) pad(n, maxTokens int) {
	if n <= len(a.textPieces) || a.text == "" || len(a.calls) > 0 || a.finish != finishStop {
		return
	}
	if limit := maxTokens - len(a.thinkingPieces); maxTokens > 0 && limit < n {
		n, a.finish = limit, finishLength
	}
	if n <= len(a.textPieces) {
		return
	}
	var sb strings.Builder
	sb.WriteString(a.text)
	sb.WriteByte(' ')
	for i := len(a.textPieces); i < n; i++ {
		sb.WriteString(fillerWords[i%len(fillerWords)])
	}
	a.text = strings.TrimSuffix(sb.String(), " ")
	a.textPieces = words(a.text)
	a.usage.output = len(a.thinkingPieces) + len(a.textPieces)
}

// truncate applies the output token limit: thinking, then text, then whole
// tool calls, one token per piece.
func (a *answer) truncate(limit int) {
	if limit <= 0 {
		return
	}
	budget := limit
	if len(a.thinkingPieces) > budget {
		a.thinkingPieces = a.thinkingPieces[:budget]
		a.thinking = strings.Join(a.thinkingPieces, "")
		a.textPieces, a.text, a.calls = nil, "", nil
		a.finish, a.stopSequence = finishLength, ""
		return
	}
	budget -= len(a.thinkingPieces)
	if len(a.textPieces) > budget {
		a.textPieces = a.textPieces[:budget]
		a.text = strings.Join(a.textPieces, "")
		a.calls = nil
		a.finish, a.stopSequence = finishLength, ""
		return
	}
	budget -= len(a.textPieces)
	for i, call := range a.calls {
		if len(call.fragments) > budget {
			a.calls = a.calls[:i]
			a.finish = finishLength
			return
		}
		budget -= len(call.fragments)
	}
}

// callsWanted decides which tools the simulated model calls.
func (c *conversation) callsWanted(last string, afterResults bool) []string {
	if afterResults || c.choice == choiceNone || len(c.tools) == 0 {
		return nil
	}
	var candidates []string
	for _, t := range c.tools {
		if len(c.allowed) == 0 || contains(c.allowed, t.name) {
			candidates = append(candidates, t.name)
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	var names []string
	switch c.choice {
	case choiceTool:
		names = []string{c.choiceName}
	case choiceAny:
		names = requestedTools(last, candidates)
		if len(names) == 0 {
			names = candidates[:1]
		}
	default:
		names = requestedTools(last, candidates)
	}
	if c.serial && len(names) > 1 {
		names = names[:1]
	}
	return names
}

// requestedTools returns the tools a user text asks for: the candidates
// named after the first "call" or "use", in the order named, or the first
// candidate for "call a tool" / "use a tool".
func requestedTools(text string, candidates []string) []string {
	lower := strings.ToLower(text)
	start := -1
	for _, trigger := range []string{"call", "use"} {
		if i := wordIndex(lower, trigger); i >= 0 && (start < 0 || i < start) {
			start = i
		}
	}
	if start < 0 {
		return nil
	}
	rest := lower[start:]
	type hit struct {
		at   int
		name string
	}
	var hits []hit
	for _, name := range candidates {
		if i := wordIndex(rest, strings.ToLower(name)); i >= 0 {
			hits = append(hits, hit{i, name})
		}
	}
	if len(hits) == 0 {
		if strings.HasPrefix(rest, "call a tool") || strings.HasPrefix(rest, "use a tool") {
			return candidates[:1]
		}
		return nil
	}
	for i := 1; i < len(hits); i++ {
		for j := i; j > 0 && hits[j].at < hits[j-1].at; j-- {
			hits[j], hits[j-1] = hits[j-1], hits[j]
		}
	}
	names := make([]string, len(hits))
	for i, h := range hits {
		names[i] = h.name
	}
	return names
}

// wordIndex finds word in s where it is not part of a longer identifier.
func wordIndex(s, word string) int {
	if word == "" {
		return -1
	}
	for off := 0; off < len(s); {
		i := strings.Index(s[off:], word)
		if i < 0 {
			return -1
		}
		i += off
		end := i + len(word)
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if (i == 0 || !identRune(before)) && (end == len(s) || !identRune(after)) {
			return i
		}
		off = i + 1
	}
	return -1
}

func identRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-'
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// firstStop finds the earliest stop sequence in text; -1 if none occurs.
func firstStop(text string, stops []string) (int, string) {
	at, seq := -1, ""
	for _, s := range stops {
		if s == "" {
			continue
		}
		if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at) {
			at, seq = i, s
		}
	}
	return at, seq
}

// words splits text into pieces of one word and its trailing spaces.
func words(text string) []string {
	var out []string
	start := 0
	inSpace := false
	for i, r := range text {
		space := unicode.IsSpace(r)
		if !space && inSpace {
			out = append(out, text[start:i])
			start = i
		}
		inSpace = space
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

// fragments splits s into pieces of at most fragmentBytes bytes, never
// inside a UTF-8 sequence.
func fragments(s string) []string {
	var out []string
	for len(s) > 0 {
		n := min(fragmentBytes, len(s))
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n++
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

// clip shortens s to at most n runes.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// callSuffix derives the i-th tool call ID suffix from a request seed.
func callSuffix(seed string, i int) string {
	sum := sha256.Sum256([]byte(seed + "/call/" + strconv.Itoa(i)))
	return hex.EncodeToString(sum[:12])
}

// thinkingSignature is the signature of a thinking text, checked when the
// text comes back in history, as the real clouds check theirs.
func thinkingSignature(text string) string {
	sum := sha256.Sum256([]byte("fakecloud thinking\x00" + text))
	return base64.StdEncoding.EncodeToString(sum[:])
}
