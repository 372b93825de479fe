package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"switchyard/internal/llm"
)

// RequestFromLLM translates a canonical request for generateContent.
//
//   - Tool results become functionResponse parts named after the call:
//     ToolResult.Name, or else the name of the latest earlier call with
//     the same id. Their text is sent as {"result": text} ({"error": text}
//     when IsError), images as the response's media parts.
//   - Images with data are sent inline; https:// and gs:// URLs as
//     fileData, with the MIME type given or inferred from the path's
//     extension. Other URLs, and OpenAI's low/high detail, are refused.
//   - Reasoning maps to thinkingConfig: BudgetTokens as thinkingBudget, an
//     Effort as a budget ("none" 0, "minimal" 512, "low" 1024, "medium"
//     8192, "high" 24576 tokens), with thought summaries included.
//     Reasoning parts sent back keep their thought signatures; a signature
//     on an empty reasoning part (how ResponseToLLM carries a signature the
//     model put on a text or function call part) goes back on the part
//     that follows it. Reasoning without a signature (another vendor's) is
//     not sent.
//   - Strict tools with automatic tool choice use the VALIDATED mode, which
//     holds calls to their schemas, as ANY always does.
//   - N>1 (the gateway's answer holds one candidate), a parallel-call
//     switch and non-Gemini passthrough fields are refused. User and
//     Metadata have no Gemini field and are not sent; CacheHint needs no
//     translation, since Gemini caches repeated prefixes implicitly.
func RequestFromLLM(r *llm.Request) (*GenerateContentRequest, error) {
	if err := checkForeignPassthrough(r.Passthrough); err != nil {
		return nil, err
	}
	if r.N > 1 {
		return nil, unsupportedf("n=%d (the gateway's answer holds one candidate)", r.N)
	}
	out := &GenerateContentRequest{Contents: make([]Content, 0, len(r.Messages))}
	if len(r.System) > 0 {
		sys := &Content{}
		for i, p := range r.System {
			if p.Kind != llm.PartText {
				return nil, unsupportedf("system[%d]: %s parts (system instructions are text)", i, p.Kind)
			}
			sys.Parts = append(sys.Parts, Part{Text: p.Text})
		}
		out.SystemInstruction = sys
	}
	callNames := map[string]string{}
	for i, m := range r.Messages {
		c, err := contentFromLLM(fmt.Sprintf("messages[%d]", i), m, callNames)
		if err != nil {
			return nil, err
		}
		if len(c.Parts) > 0 {
			out.Contents = append(out.Contents, c)
		}
	}
	strict := false
	if len(r.Tools) > 0 {
		decls := make([]FunctionDeclaration, len(r.Tools))
		for i, t := range r.Tools {
			decls[i] = FunctionDeclaration{Name: t.Name, Description: t.Description, ParametersJSONSchema: t.Parameters}
			strict = strict || t.Strict
		}
		out.Tools = []Tool{{FunctionDeclarations: decls}}
	}
	var err error
	if out.ToolConfig, err = toolConfigFromLLM(r, strict); err != nil {
		return nil, err
	}
	if out.GenerationConfig, err = generationConfigFromLLM(r); err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(r.Passthrough["gemini"]) {
		v := r.Passthrough["gemini"][k]
		if modelledField(k) {
			return nil, invalidf("passthrough gemini.%s conflicts with a translated field", k)
		}
		if !json.Valid(v) {
			return nil, invalidf("passthrough gemini.%s: invalid JSON", k)
		}
		if out.Extra == nil {
			out.Extra = map[string]json.RawMessage{}
		}
		out.Extra[k] = v
	}
	return out, nil
}

func checkForeignPassthrough(pass map[string]map[string]json.RawMessage) error {
	var names []string
	for dialect, fields := range pass {
		if dialect == "gemini" {
			continue
		}
		for k := range fields {
			names = append(names, dialect+"."+k)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return unsupportedf("fields of another API: %s", strings.Join(names, ", "))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// contentFromLLM translates one turn. callNames maps call ids to tool
// names as the history goes, so that a result finds its call.
func contentFromLLM(at string, m llm.Message, callNames map[string]string) (Content, error) {
	var c Content
	switch m.Role {
	case llm.RoleUser:
		c.Role = RoleUser
	case llm.RoleAssistant:
		c.Role = RoleModel
	default:
		return c, invalidf("%s: role %q", at, m.Role)
	}
	signature := "" // a signature waiting for the next part
	add := func(p Part) {
		if signature != "" {
			p.ThoughtSignature, signature = signature, ""
		}
		c.Parts = append(c.Parts, p)
	}
	for i, p := range m.Parts {
		pat := fmt.Sprintf("%s.parts[%d]", at, i)
		switch p.Kind {
		case llm.PartText:
			add(Part{Text: p.Text})
		case llm.PartImage:
			part, err := imageFromLLM(pat, p.Image)
			if err != nil {
				return c, err
			}
			add(part)
		case llm.PartReasoning:
			if m.Role != llm.RoleAssistant {
				return c, invalidf("%s: reasoning in a user message", pat)
			}
			switch {
			case p.Signature == "":
				// Unsigned reasoning is another vendor's; it is not sent.
			case p.Text == "":
				signature = p.Signature
			default:
				c.Parts = append(c.Parts, Part{Text: p.Text, Thought: true, ThoughtSignature: p.Signature})
			}
		case llm.PartToolCall:
			tc := p.ToolCall
			if m.Role != llm.RoleAssistant || tc == nil {
				return c, invalidf("%s: tool calls belong in assistant messages", pat)
			}
			args, err := argsObject(tc.Arguments)
			if err != nil {
				return c, invalidf("%s: tool call %q arguments: %v", pat, tc.Name, err)
			}
			if tc.ID != "" {
				callNames[tc.ID] = tc.Name
			}
			add(Part{FunctionCall: &FunctionCall{ID: tc.ID, Name: tc.Name, Args: args}})
		case llm.PartToolResult:
			tr := p.ToolResult
			if m.Role != llm.RoleUser || tr == nil {
				return c, invalidf("%s: tool results belong in user messages", pat)
			}
			fr, err := functionResponseFromLLM(pat, tr, callNames)
			if err != nil {
				return c, err
			}
			add(Part{FunctionResponse: fr})
		default:
			return c, invalidf("%s: unknown part kind %d", pat, p.Kind)
		}
	}
	if signature != "" {
		c.Parts = append(c.Parts, Part{ThoughtSignature: signature})
	}
	return c, nil
}

// argsObject parses tool call arguments, which must be a JSON object;
// empty arguments are {}.
func argsObject(s string) (json.RawMessage, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage(`{}`), nil
	}
	if s[0] != '{' || !json.Valid([]byte(s)) {
		return nil, fmt.Errorf("not a JSON object")
	}
	return json.RawMessage(s), nil
}

func functionResponseFromLLM(at string, tr *llm.ToolResult, callNames map[string]string) (*FunctionResponse, error) {
	name := tr.Name
	if name == "" {
		name = callNames[tr.CallID]
	}
	if name == "" {
		return nil, invalidf("%s: tool result for call %q names no tool and follows no call with that id", at, tr.CallID)
	}
	fr := &FunctionResponse{ID: tr.CallID, Name: name}
	var texts []string
	for i, c := range tr.Content {
		cat := fmt.Sprintf("%s.content[%d]", at, i)
		switch c.Kind {
		case llm.PartText:
			texts = append(texts, c.Text)
		case llm.PartImage:
			p, err := imageFromLLM(cat, c.Image)
			if err != nil {
				return nil, err
			}
			fr.Parts = append(fr.Parts, FunctionResponsePart{InlineData: p.InlineData, FileData: p.FileData})
		default:
			return nil, unsupportedf("%s: %s parts in a tool result", cat, c.Kind)
		}
	}
	key := "result"
	if tr.IsError {
		key = "error"
	}
	resp, err := json.Marshal(map[string]string{key: strings.Join(texts, "\n")})
	if err != nil {
		return nil, fmt.Errorf("encoding tool result: %w", err)
	}
	fr.Response = resp
	return fr, nil
}

func imageFromLLM(at string, img *llm.Image) (Part, error) {
	if img == nil {
		return Part{}, invalidf("%s: image part without an image", at)
	}
	if img.Detail != "" && img.Detail != "auto" {
		return Part{}, unsupportedf("%s: image detail %q", at, img.Detail)
	}
	if len(img.Data) > 0 {
		mt := img.MIMEType
		if mt == "" {
			mt = http.DetectContentType(img.Data)
		}
		return Part{InlineData: &Blob{MIMEType: mt, Data: base64.StdEncoding.EncodeToString(img.Data)}}, nil
	}
	u, err := url.Parse(img.URL)
	if err != nil || img.URL == "" {
		return Part{}, invalidf("%s: image without data or a valid URL", at)
	}
	if u.Scheme != "https" && u.Scheme != "gs" {
		return Part{}, unsupportedf("%s: %s image URLs (want https or gs)", at, u.Scheme)
	}
	mt := img.MIMEType
	if mt == "" {
		mt = mime.TypeByExtension(strings.ToLower(path.Ext(u.Path)))
		if !strings.HasPrefix(mt, "image/") {
			return Part{}, unsupportedf("%s: image URL without a MIME type or an image file extension", at)
		}
		mt, _, _ = strings.Cut(mt, ";")
	}
	return Part{FileData: &FileData{MIMEType: mt, FileURI: img.URL}}, nil
}

func toolConfigFromLLM(r *llm.Request, strict bool) (*ToolConfig, error) {
	if len(r.Tools) == 0 {
		if r.ToolChoice.Mode == llm.ToolChoiceRequired || r.ToolChoice.Mode == llm.ToolChoiceTool {
			return nil, invalidf("tool choice requires a tool, but the request declares none")
		}
		return nil, nil
	}
	if p := r.ParallelToolCalls; p != nil && !*p && r.ToolChoice.Mode != llm.ToolChoiceNone {
		return nil, unsupportedf("disabling parallel tool calls")
	}
	cfg := &FunctionCallingConfig{}
	switch r.ToolChoice.Mode {
	case llm.ToolChoiceNone:
		cfg.Mode = ModeNone
	case llm.ToolChoiceRequired:
		cfg.Mode = ModeAny
	case llm.ToolChoiceTool:
		cfg.Mode, cfg.AllowedFunctionNames = ModeAny, []string{r.ToolChoice.Name}
	default:
		if !strict {
			return nil, nil
		}
		cfg.Mode = ModeValidated
	}
	return &ToolConfig{FunctionCallingConfig: cfg}, nil
}

// effortBudget is the thinking budget for a reasoning effort.
func effortBudget(effort string) (int, bool) {
	switch effort {
	case "none":
		return 0, true
	case "minimal":
		return 512, true
	case "low":
		return 1024, true
	case "medium":
		return 8192, true
	case "high":
		return 24576, true
	}
	return 0, false
}

func generationConfigFromLLM(r *llm.Request) (*GenerationConfig, error) {
	g := &GenerationConfig{
		MaxOutputTokens: r.MaxTokens,
		Temperature:     r.Temperature,
		TopP:            r.TopP,
		TopK:            r.TopK,
		StopSequences:   r.Stop,
	}
	if r.Seed != nil {
		if *r.Seed < math.MinInt32 || *r.Seed > math.MaxInt32 {
			return nil, unsupportedf("seed %d (Gemini seeds are 32-bit)", *r.Seed)
		}
		s := int32(*r.Seed)
		g.Seed = &s
	}
	if f := r.Format; f != nil {
		switch f.Kind {
		case llm.FormatText:
		case llm.FormatJSONObject:
			g.ResponseMIMEType = "application/json"
		case llm.FormatJSONSchema:
			if len(f.Schema) == 0 {
				return nil, invalidf("response format: json_schema needs a schema")
			}
			g.ResponseMIMEType, g.ResponseJSONSchema = "application/json", f.Schema
		default:
			return nil, unsupportedf("response format kind %d", f.Kind)
		}
	}
	if rs := r.Reasoning; rs != nil {
		budget := rs.BudgetTokens
		if budget <= 0 {
			var ok bool
			if rs.Effort == "" {
				return nil, invalidf("reasoning: neither an effort nor a budget")
			}
			if budget, ok = effortBudget(rs.Effort); !ok {
				return nil, unsupportedf("reasoning effort %q", rs.Effort)
			}
		}
		g.ThinkingConfig = &ThinkingConfig{ThinkingBudget: &budget, IncludeThoughts: budget > 0}
	}
	if g.MaxOutputTokens == 0 && g.Temperature == nil && g.TopP == nil && g.TopK == nil && len(g.StopSequences) == 0 &&
		g.Seed == nil && g.ResponseMIMEType == "" && g.ThinkingConfig == nil {
		return nil, nil
	}
	return g, nil
}

// ResponseToLLM translates an answer. Function calls without an id get
// "call_<key>_<n>", n counting the answer's calls from 0 and key being the
// answer's responseId, or fallbackKey when Gemini sent none: the ids must
// stay unique across the turns of a history, which other clouds require
// of tool call ids, so the caller passes a fallbackKey unique to the
// answer. A thought signature
// the model put on a text or function call part becomes an empty
// reasoning part carrying it, just before that part, so that it can be
// sent back (RequestFromLLM reattaches it). Finish reasons: STOP is
// llm.FinishStop (llm.FinishToolCalls when the answer calls functions),
// MAX_TOKENS llm.FinishLength, the safety and policy reasons (SAFETY,
// RECITATION, LANGUAGE, BLOCKLIST, PROHIBITED_CONTENT, SPII and the image
// ones) and a blocked prompt llm.FinishContentFilter; malformed or
// unexpected tool calls are errors; anything else is llm.FinishStop.
func ResponseToLLM(r *GenerateContentResponse, fallbackKey string) (*llm.Response, error) {
	f := folder{fallbackKey: fallbackKey}
	if err := f.chunk(r); err != nil {
		return nil, err
	}
	if len(r.Candidates) == 0 && (r.PromptFeedback == nil || r.PromptFeedback.BlockReason == "") {
		return nil, fmt.Errorf("gemini: answer without candidates")
	}
	stop, err := f.stop()
	if err != nil {
		return nil, err
	}
	var acc llm.Accumulator
	for _, ev := range f.out {
		acc.Add(ev)
	}
	acc.Add(stop)
	return acc.Response(), nil
}

// openPart says which part, if any, the next fragment of the same kind
// extends.
type openPart uint8

const (
	openNone openPart = iota
	openText
	openReasoning
)

// folder turns answer chunks into llm events: a non-streamed answer is one
// chunk. Consecutive text (or thought) fragments extend one part; every
// function call and every carried signature is a part of its own.
type folder struct {
	// fallbackKey names the answer in call ids when no chunk so far
	// carried a responseId.
	fallbackKey string
	responseID  string
	started     bool
	next        int // index of the next part
	open        openPart
	calls       int
	sawCall     bool
	finish      string
	message     string // finishMessage or blockReasonMessage
	blocked     string
	usage       *UsageMetadata
	out         []llm.Event
}

func (f *folder) chunk(r *GenerateContentResponse) error {
	if !f.started {
		f.started = true
		start := llm.Event{Kind: llm.EventStart, ID: r.ResponseID, Model: r.ModelVersion}
		// The prompt's count is whole from the first chunk on.
		if u := r.UsageMetadata; u != nil && u.PromptTokenCount > 0 {
			in := usageToLLM(u)
			start.Usage = &llm.Usage{InputTokens: in.InputTokens, CachedInputTokens: in.CachedInputTokens}
		}
		f.out = append(f.out, start)
	}
	if f.responseID == "" {
		f.responseID = r.ResponseID
	}
	if r.UsageMetadata != nil {
		f.usage = r.UsageMetadata
	}
	if pf := r.PromptFeedback; pf != nil && pf.BlockReason != "" {
		f.blocked, f.message = pf.BlockReason, pf.BlockReasonMessage
	}
	if len(r.Candidates) == 0 {
		return nil
	}
	c := r.Candidates[0]
	if c.Content != nil {
		for i, p := range c.Content.Parts {
			if err := f.part(p); err != nil {
				return fmt.Errorf("candidates[0].content.parts[%d]: %w", i, err)
			}
		}
	}
	if c.FinishReason != "" {
		f.finish, f.message = c.FinishReason, c.FinishMessage
		if toolCallFailure(c.FinishReason) {
			return fmt.Errorf("gemini: the model's tool call failed (%s): %s", c.FinishReason, c.FinishMessage)
		}
	}
	return nil
}

func (f *folder) part(p Part) error {
	switch {
	case p.InlineData != nil || p.FileData != nil:
		return unsupportedf("media in an answer")
	case p.FunctionResponse != nil:
		return unsupportedf("function responses in an answer")
	case p.ExecutableCode != nil || p.CodeExecutionResult != nil:
		return unsupportedf("code execution parts")
	}
	if p.Thought {
		if f.open != openReasoning {
			f.newPart(openReasoning)
		}
		f.out = append(f.out, llm.Event{Kind: llm.EventReasoningDelta, Index: f.next - 1, Text: p.Text, Signature: p.ThoughtSignature})
		if p.ThoughtSignature != "" {
			f.open = openNone // a signature closes the thought
		}
		return nil
	}
	if p.ThoughtSignature != "" {
		idx := f.newPart(openNone)
		f.out = append(f.out, llm.Event{Kind: llm.EventReasoningDelta, Index: idx, Signature: p.ThoughtSignature})
	}
	if fc := p.FunctionCall; fc != nil {
		if fc.Name == "" {
			return fmt.Errorf("function call without a name")
		}
		args := "{}"
		if raw := bytes.TrimSpace(fc.Args); len(raw) > 0 && !isNull(raw) {
			var buf bytes.Buffer
			if raw[0] != '{' || json.Compact(&buf, raw) != nil {
				return fmt.Errorf("function call %q args are not a JSON object", fc.Name)
			}
			args = buf.String()
		}
		id := fc.ID
		if id == "" {
			id = f.callID()
		}
		f.calls++
		f.sawCall = true
		idx := f.newPart(openNone)
		f.out = append(f.out, llm.Event{Kind: llm.EventToolCallDelta, Index: idx, ToolCall: &llm.ToolCallDelta{ID: id, Name: fc.Name, Arguments: args}})
		return nil
	}
	if p.Text == "" {
		return nil
	}
	if f.open != openText {
		f.newPart(openText)
	}
	f.out = append(f.out, llm.Event{Kind: llm.EventTextDelta, Index: f.next - 1, Text: p.Text})
	return nil
}

// maxCallKey bounds the answer key in a synthesized call id, which keeps
// the id within Bedrock's 64 characters.
const maxCallKey = 40

// callID names the next function call that came without an id:
// "call_<key>_<n>", the key reduced to the characters Anthropic and Bedrock
// allow in tool call ids ([A-Za-z0-9_-]). Without any key it is "call_<n>".
func (f *folder) callID() string {
	key := f.responseID
	if key == "" {
		key = f.fallbackKey
	}
	if key == "" {
		return "call_" + strconv.Itoa(f.calls)
	}
	if len(key) > maxCallKey {
		key = key[:maxCallKey]
	}
	b := []byte(key)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return "call_" + string(b) + "_" + strconv.Itoa(f.calls)
}

// newPart starts a part and returns its index; open says whether later
// fragments may extend it.
func (f *folder) newPart(open openPart) int {
	f.next++
	f.open = open
	return f.next - 1
}

// stop is the final event, once the answer's end is known.
func (f *folder) stop() (llm.Event, error) {
	var reason llm.FinishReason
	switch {
	case f.blocked != "":
		reason = llm.FinishContentFilter
	case f.finish == "":
		return llm.Event{}, fmt.Errorf("gemini: answer ended without a finish reason")
	default:
		reason = finishToLLM(f.finish, f.sawCall)
	}
	u := usageToLLM(f.usage)
	return llm.Event{Kind: llm.EventStop, FinishReason: reason, Usage: &u}, nil
}

// toolCallFailure reports the finish reasons that mean the model failed
// to produce a usable tool call.
func toolCallFailure(reason string) bool {
	switch reason {
	case "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS":
		return true
	}
	return false
}

func finishToLLM(reason string, sawCall bool) llm.FinishReason {
	switch reason {
	case "MAX_TOKENS":
		return llm.FinishLength
	case "SAFETY", "RECITATION", "LANGUAGE", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return llm.FinishContentFilter
	}
	if sawCall {
		return llm.FinishToolCalls
	}
	return llm.FinishStop
}

func usageToLLM(u *UsageMetadata) llm.Usage {
	if u == nil {
		return llm.Usage{}
	}
	return llm.Usage{
		InputTokens:       u.PromptTokenCount + u.ToolUsePromptTokenCount,
		OutputTokens:      u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CachedInputTokens: u.CachedContentTokenCount,
		ReasoningTokens:   u.ThoughtsTokenCount,
	}
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: gemini: "+format, append([]any{llm.ErrInvalid}, args...)...)
}

func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: gemini: "+format, append([]any{llm.ErrUnsupported}, args...)...)
}
