// Package gemini adapts Google's Gemini API (generateContent,
// streamGenerateContent and batchEmbedContents, authenticated with an API
// key) to the gateway's llm model: wire types, pure translation both ways,
// a stream decoder for its data-only SSE and an HTTP adapter. As the front
// door's codec (ingress.go, egress.go) it decodes what Gemini SDK clients
// send the gateway and renders answers, stream chunks and errors the way
// those SDKs read them.
//
// Gemini has no tool call ids, no per-image detail, no parallel-call
// switch and one candidate per answer in the gateway's model; how each gap
// is bridged or refused is documented on RequestFromLLM and ResponseToLLM.
package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// DefaultBaseURL is the Gemini API root, without the version.
const DefaultBaseURL = "https://generativelanguage.googleapis.com"

// DefaultAPIVersion is the API version in request paths.
const DefaultAPIVersion = "v1beta"

// Roles of a Content.
const (
	RoleUser  = "user"
	RoleModel = "model"
)

// Function calling modes.
const (
	ModeAuto      = "AUTO"
	ModeAny       = "ANY"
	ModeNone      = "NONE"
	ModeValidated = "VALIDATED"
)

// GenerateContentRequest is the body of :generateContent and
// :streamGenerateContent.
type GenerateContentRequest struct {
	Contents          []Content         `json:"contents"`
	SystemInstruction *Content          `json:"systemInstruction,omitempty"`
	Tools             []Tool            `json:"tools,omitempty"`
	ToolConfig        *ToolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *GenerationConfig `json:"generationConfig,omitempty"`
	// Extra holds other top-level fields (safetySettings, cachedContent,
	// labels...) as raw JSON, written inline. Its keys must not name a
	// field above.
	Extra map[string]json.RawMessage `json:"-"`
}

// modelledField reports whether key is a top-level field
// GenerateContentRequest models.
func modelledField(key string) bool {
	switch key {
	case "contents", "systemInstruction", "tools", "toolConfig", "generationConfig":
		return true
	}
	return false
}

// MarshalJSON writes the modelled fields followed by Extra in key order.
func (r GenerateContentRequest) MarshalJSON() ([]byte, error) {
	type plain GenerateContentRequest
	b, err := json.Marshal(plain(r))
	if err != nil || len(r.Extra) == 0 {
		return b, err
	}
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		if modelledField(k) {
			return nil, fmt.Errorf("encoding generateContent request: extra field %q shadows a modelled field", k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1])
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		if err := json.Compact(&buf, r.Extra[k]); err != nil {
			return nil, fmt.Errorf("encoding generateContent field %q: %w", k, err)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// Content is one turn: a role and its parts. The system instruction has
// no role.
type Content struct {
	Role  string `json:"role,omitempty"`
	Parts []Part `json:"parts"`
}

// Part is one piece of content; exactly one of Text, InlineData,
// FileData, FunctionCall and FunctionResponse is set. Thought marks the
// model's thinking; ThoughtSignature (base64) lets the model resume its
// reasoning when the part is sent back.
type Part struct {
	Text             string            `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
	InlineData       *Blob             `json:"inlineData,omitempty"`
	FileData         *FileData         `json:"fileData,omitempty"`
	FunctionCall     *FunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *FunctionResponse `json:"functionResponse,omitempty"`
	// ExecutableCode and CodeExecutionResult come from the code execution
	// tool, which the gateway does not model; they are kept only so that
	// an answer carrying them is refused rather than misread.
	ExecutableCode      json.RawMessage `json:"executableCode,omitempty"`
	CodeExecutionResult json.RawMessage `json:"codeExecutionResult,omitempty"`
}

// MarshalJSON writes "text" even when empty if the part carries nothing
// else, so a part that only holds a thought signature stays a text part.
func (p Part) MarshalJSON() ([]byte, error) {
	type plain Part
	if p.Text != "" || p.InlineData != nil || p.FileData != nil || p.FunctionCall != nil || p.FunctionResponse != nil ||
		p.ExecutableCode != nil || p.CodeExecutionResult != nil {
		return json.Marshal(plain(p))
	}
	return json.Marshal(struct {
		Text string `json:"text"`
		plain
	}{"", plain(p)})
}

// Blob is inline media: MIME type and base64 data.
type Blob struct {
	MIMEType string `json:"mimeType"`
	Data     string `json:"data"`
}

// FileData is media given by URI (Files API, https or gs://).
type FileData struct {
	MIMEType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

// FunctionCall is the model's request to call a function; Args is a JSON
// object.
type FunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// FunctionResponse answers a FunctionCall; Response must be a JSON
// object. Parts carry media results (images).
type FunctionResponse struct {
	ID       string                 `json:"id,omitempty"`
	Name     string                 `json:"name"`
	Response json.RawMessage        `json:"response"`
	Parts    []FunctionResponsePart `json:"parts,omitempty"`
}

// FunctionResponsePart is a media part of a function response.
type FunctionResponsePart struct {
	InlineData *Blob     `json:"inlineData,omitempty"`
	FileData   *FileData `json:"fileData,omitempty"`
}

// Tool groups function declarations.
type Tool struct {
	FunctionDeclarations []FunctionDeclaration `json:"functionDeclarations,omitempty"`
}

// FunctionDeclaration declares a function; ParametersJSONSchema is a
// standard JSON Schema object.
type FunctionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

// ToolConfig constrains function calling.
type ToolConfig struct {
	FunctionCallingConfig *FunctionCallingConfig `json:"functionCallingConfig,omitempty"`
}

// FunctionCallingConfig sets the mode (AUTO, ANY, NONE, VALIDATED) and, for
// ANY, may restrict the callable functions.
type FunctionCallingConfig struct {
	Mode                 string   `json:"mode,omitempty"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

// GenerationConfig holds sampling and output settings.
type GenerationConfig struct {
	MaxOutputTokens    int             `json:"maxOutputTokens,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	TopK               *int            `json:"topK,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	Seed               *int32          `json:"seed,omitempty"`
	ResponseMIMEType   string          `json:"responseMimeType,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	ThinkingConfig     *ThinkingConfig `json:"thinkingConfig,omitempty"`
}

// ThinkingConfig asks for thinking: a token budget (0 turns thinking off
// where the model allows it) and whether thought summaries are returned.
type ThinkingConfig struct {
	IncludeThoughts bool `json:"includeThoughts,omitempty"`
	ThinkingBudget  *int `json:"thinkingBudget,omitempty"`
}

// GenerateContentResponse is an answer, or one chunk of a streamed answer.
type GenerateContentResponse struct {
	Candidates     []Candidate     `json:"candidates,omitempty"`
	PromptFeedback *PromptFeedback `json:"promptFeedback,omitempty"`
	UsageMetadata  *UsageMetadata  `json:"usageMetadata,omitempty"`
	ModelVersion   string          `json:"modelVersion,omitempty"`
	ResponseID     string          `json:"responseId,omitempty"`
}

// Candidate is one generated answer.
type Candidate struct {
	Content       *Content `json:"content,omitempty"`
	FinishReason  string   `json:"finishReason,omitempty"`
	FinishMessage string   `json:"finishMessage,omitempty"`
	Index         int      `json:"index,omitempty"`
}

// PromptFeedback reports a prompt the API refused to answer.
type PromptFeedback struct {
	BlockReason        string `json:"blockReason,omitempty"`
	BlockReasonMessage string `json:"blockReasonMessage,omitempty"`
}

// UsageMetadata counts tokens. PromptTokenCount includes
// CachedContentTokenCount; ThoughtsTokenCount is not part of
// CandidatesTokenCount.
type UsageMetadata struct {
	PromptTokenCount        int64 `json:"promptTokenCount,omitempty"`
	CandidatesTokenCount    int64 `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount         int64 `json:"totalTokenCount,omitempty"`
	CachedContentTokenCount int64 `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount      int64 `json:"thoughtsTokenCount,omitempty"`
	ToolUsePromptTokenCount int64 `json:"toolUsePromptTokenCount,omitempty"`
}

// ErrorResponse is the body of a non-2xx answer, and a stream chunk that
// reports a failure.
type ErrorResponse struct {
	Error *Status `json:"error"`
}

// Status is a Google API error: HTTP code, message and canonical status
// name (RESOURCE_EXHAUSTED, UNAVAILABLE, INVALID_ARGUMENT...).
type Status struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	// Details are typed google.rpc messages; RetryInfo carries a
	// retryDelay such as "34s".
	Details []json.RawMessage `json:"details,omitempty"`
}

// BatchEmbedContentsRequest is the body of :batchEmbedContents.
type BatchEmbedContentsRequest struct {
	Requests []EmbedContentRequest `json:"requests"`
}

// EmbedContentRequest asks for one embedding; Model is "models/{model}".
type EmbedContentRequest struct {
	Model                string  `json:"model"`
	Content              Content `json:"content"`
	OutputDimensionality int     `json:"outputDimensionality,omitempty"`
}

// BatchEmbedContentsResponse holds one embedding per request, in order.
type BatchEmbedContentsResponse struct {
	Embeddings []ContentEmbedding `json:"embeddings"`
}

// ContentEmbedding is one vector.
type ContentEmbedding struct {
	Values []float32 `json:"values"`
}
