// Package fakecloud simulates the model APIs of OpenAI, Azure OpenAI,
// Anthropic, Amazon Bedrock, Google Gemini and Google Vertex AI on one HTTP handler, speaking
// each vendor's real wire format, so that the gateway's adapters and the
// vendors' official SDKs can be exercised without a network. It does not
// share code with the gateway's provider packages: decoding and encoding are
// written here again from the vendors' documentation, so that fakecloud is
// an independent check of them. The one exception is Bedrock's binary event
// stream encoder and SigV4 verifier, which come from provider/bedrock.
//
// # Endpoints
//
// Every cloud lives under its own prefix; the bases below are what the
// vendors' SDKs take as their base URL or endpoint.
//
//	OpenAI     http://ADDR/openai/v1   POST chat/completions, POST completions, POST embeddings, GET models, GET models/{id}
//	Azure      http://ADDR/azure       POST openai/deployments/{deployment}/chat/completions|completions|embeddings?api-version=…
//	                                   POST openai/v1/chat/completions|embeddings (model in the body), GET openai/v1/models
//	Anthropic  http://ADDR/anthropic   POST v1/messages, POST v1/messages/count_tokens, GET v1/models
//	Bedrock    http://ADDR/bedrock     POST model/{modelId}/converse|converse-stream
//	                                   POST model/{modelId}/invoke|invoke-with-response-stream (anthropic.* models)
//	                                   POST model/{modelId}/count-tokens (converse input; invokeModel input for anthropic.* models)
//	Gemini     http://ADDR/gemini      POST v1beta/models/{model}:generateContent|streamGenerateContent|countTokens
//	Vertex     http://ADDR/vertex      POST v1/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent|streamGenerateContent|countTokens
//	                                   POST v1/projects/{p}/locations/{l}/publishers/anthropic/models/{model}:rawPredict|streamRawPredict
//	                                   POST v1/projects/{p}/locations/{l}/publishers/anthropic/models/count-tokens:rawPredict
//	                                   POST token (Google's OAuth token endpoint, for service-account assertions)
//
// Any model name, Bedrock model id (foundation model, inference profile or
// ARN) and Azure deployment is served. Bedrock's paths are also served at
// the root (http://ADDR/model/...), because Anthropic's Bedrock middleware
// replaces the whole request path. Gemini streams are SSE with ?alt=sse and
// a JSON array without it. Every request is checked as the cloud checks it
// (unknown fields, tool results that answer no call, missing required
// fields) and refused with a 400 in the cloud's shape; features fakecloud
// does not simulate (server tools, audio, n > 1, guardrails...) are refused
// the same way, naming the feature, rather than ignored.
//
// # Credentials
//
// Every cloud accepts Options.Key (default "fake-key"): OpenAI as
// "Authorization: Bearer KEY", Azure as "api-key: KEY" or a bearer token,
// Anthropic as "x-api-key: KEY" or a bearer token, Gemini as
// "x-goog-api-key: KEY" or "?key=KEY", Bedrock as a bearer API key.
// Vertex accepts only bearer tokens that its token endpoint issued: a
// service-account key file whose token_uri is http://ADDR/vertex/token
// buys one with an RS256 assertion (RFC 7523) for the cloud-platform
// scope, verified against Options.ServiceAccounts when that is set; the
// token lasts an hour. Claude's request errors on Vertex are in
// Anthropic's shape, the platform's (credentials, quota) in Google's.
// Bedrock also verifies SigV4 signatures (service "bedrock", any region) made
// with Options.AWSAccessKeyID and Options.AWSSecretAccessKey, by default
// "AKIDFAKECLOUD" and "fake-secret". A wrong or missing key is a 401 in the
// cloud's own error shape (Bedrock answers 403 as AWS does:
// UnrecognizedClientException for an unknown key, InvalidSignatureException
// for a bad signature, MissingAuthenticationTokenException without one).
//
// # The simulated model
//
// Each cloud's request is normalized into one conversation: system text,
// turns, tools, tool choice, output limits. Consecutive messages of the same
// role are merged into one turn, so OpenAI's separate "tool" messages and
// Anthropic's single user message of tool_result blocks give the same
// conversation. The answer is deterministic and depends on the whole
// conversation:
//
//   - After a user turn that carries tool results, the answer is text:
//     "Tool NAME returned: CONTENT" for each result (or "Tool NAME failed:
//     CONTENT" for an error result), joined by "; ", followed by a space and
//     the tag below.
//   - When a tool call is wanted, the answer is only tool calls (see below).
//   - When JSON output is requested, the answer is a JSON document: one
//     satisfying the requested JSON Schema, or, without a schema, the object
//     {"echo": LAST_USER_TEXT, "turns": N, "history": H}.
//   - Otherwise the answer is "Echo: LAST_USER_TEXT" followed by a space and
//     the tag.
//
// The tag is "[turns=N history=H]", with " images=K" and " documents=K"
// inserted before the "]" when the conversation carries images or other
// attachments. N is the number of user turns. H is the first 8 hex digits of
// the SHA-256 of the normalized conversation: the system text and, for each
// turn, its role and its parts (text; attachment media type and content or
// URL; tool call name and arguments as compact JSON with sorted keys; tool
// result name, content and error flag). Tool call IDs, thinking blocks and
// tool declarations do not enter the hash. LAST_USER_TEXT is the text parts
// of the last user turn joined by "\n". Tool result content is text: text
// blocks joined by "\n", JSON (Bedrock json blocks, Gemini function
// responses) as compact JSON with sorted keys, images as "[image]"; a Gemini
// function response holding only a "result", "output" or "content" string
// is that string. The same conversation therefore gets the same answer from
// every cloud.
//
// A tool call is wanted, unless the last user turn carries tool results or
// the tool choice is "none", when the tool choice names a tool (that tool is
// called), when it is "required"/"any" (the tools the user text asks for, or
// else the first tool), or when the last user text plainly asks for tools:
// after the word "call" or "use", every declared tool name it mentions is
// called, in the order mentioned ("call get_weather and get_time" gives two
// parallel calls); "use a tool" or "call a tool" calls the first tool. When
// parallel tool calls are disabled only the first call is made. The
// arguments satisfy the tool's JSON Schema: required properties (all
// properties when the schema lists none) filled by type and name ("Paris"
// for city- or location-like names, the first enum value, const and default
// values, dates for format "date", numbers inside their bounds and multiples,
// nested objects and arrays recursively). Patterns are not honoured.
//
// When reasoning is requested (Anthropic and Bedrock thinking, OpenAI
// reasoning_effort, Gemini thinkingConfig) the answer starts with a short
// thinking text; it is shown where the wire format has a place for it and
// always counted as reasoning tokens. Anthropic and Bedrock thinking blocks
// carry a signature that is checked when the block comes back in history.
//
// # Tokens, limits and caching
//
// Token counts are deterministic: a run of letters and digits or one other
// non-space character is one input token, an image or document is 85, and
// tool declarations count too. Output is emitted in pieces: a word with its
// trailing space for text, up to 8 bytes of JSON for tool arguments and JSON
// answers; each piece is one output token. A max-tokens limit cuts the output
// after that many pieces and reports the cloud's "length" reason (tool calls
// are kept whole or dropped). A stop sequence found in the answer text cuts
// it there and reports the stop sequence. Content marked cacheable
// (Anthropic cache_control, Bedrock cachePoint) writes a cache entry keyed by
// the prefix up to the marker the first time (cache creation/write tokens)
// and reads it on later requests (cache read tokens).
//
// Streams split text into word-sized deltas and tool arguments into
// several fragments, in each cloud's event order. Embeddings (OpenAI and
// Azure) are unit vectors derived from a hash of the input text: 8
// dimensions unless "dimensions" says otherwise, as floats or base64 of
// little-endian float32.
//
// # Faults
//
// Faults (latency, token pace, failure and hang rates, cut streams, and
// answers padded to a given length) apply to
// every authenticated, well-formed request and are answered in the cloud's
// own error shape. The random draws come from Options.Seed, so a sequence of
// requests fails the same way every run.
package fakecloud
