package openai

import (
	"fmt"
	"maps"
	"slices"

	"switchyard/internal/llm"
)

// DecodeEmbeddingRequest decodes an Embeddings request body strictly, as
// DecodeChatRequest does. Unknown top-level members are kept in Extra.
func DecodeEmbeddingRequest(body []byte) (*EmbeddingRequest, error) {
	var r EmbeddingRequest
	if err := decodeStrict(body, &r, nil); err != nil {
		return nil, err
	}
	return &r, nil
}

// EmbeddingRequestToLLM translates a client's Embeddings request.
// encoding_format is checked but not carried: it shapes the answer the
// front door writes (EmbeddingResponseFromLLM). llm.EmbedRequest has no
// passthrough, so members in Extra are refused (llm.ErrUnsupported).
func EmbeddingRequestToLLM(r *EmbeddingRequest) (*llm.EmbedRequest, error) {
	if r.Model == "" {
		return nil, invalid("model", "you must provide a model parameter")
	}
	switch r.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, invalid("encoding_format", "unknown format %q; use float or base64", r.EncodingFormat)
	}
	if len(r.Extra) > 0 {
		return nil, unsupported(slices.Sorted(maps.Keys(r.Extra))[0], "unknown field")
	}
	out := &llm.EmbedRequest{Model: r.Model, User: r.User}
	if r.Dimensions != nil {
		if *r.Dimensions < 1 {
			return nil, invalid("dimensions", "must be at least 1")
		}
		out.Dimensions = *r.Dimensions
	}
	in := r.Input
	switch {
	case in.OfString != nil:
		out.Inputs = []string{*in.OfString}
	case in.OfStrings != nil:
		if len(in.OfStrings) == 0 {
			return nil, invalid("input", "must not be empty")
		}
		out.Inputs = slices.Clone(in.OfStrings)
	case in.OfTokens != nil:
		out.Tokens = [][]int{slices.Clone(in.OfTokens)}
	case in.OfTokenArrays != nil:
		if len(in.OfTokenArrays) == 0 {
			return nil, invalid("input", "must not be empty")
		}
		out.Tokens = make([][]int, len(in.OfTokenArrays))
		for i, t := range in.OfTokenArrays {
			if len(t) == 0 {
				return nil, invalid(fmt.Sprintf("input[%d]", i), "must not be empty")
			}
			out.Tokens[i] = slices.Clone(t)
		}
	default:
		return nil, invalid("input", "required")
	}
	return out, nil
}

// EmbeddingResponseFromLLM writes vectors for an OpenAI client; model is
// the name the client asked for, encodingFormat "float" or "base64"
// (little-endian float32s).
func EmbeddingResponseFromLLM(r *llm.EmbedResponse, model, encodingFormat string) *EmbeddingResponse {
	data := make([]Embedding, len(r.Vectors))
	for i, v := range r.Vectors {
		data[i] = Embedding{Object: "embedding", Index: i, Embedding: Vector{Values: v, Base64: encodingFormat == "base64"}}
	}
	return &EmbeddingResponse{
		Object: "list",
		Data:   data,
		Model:  model,
		Usage:  EmbeddingUsage{PromptTokens: r.Usage.InputTokens, TotalTokens: r.Usage.Total()},
	}
}

// embeddingRequestFromLLM translates a canonical Embeddings request for an
// upstream. The answer comes back as floats: every OpenAI-compatible
// server speaks that form, and embeddingResponseToLLM reads base64 too.
func embeddingRequestFromLLM(r *llm.EmbedRequest, dialect string) (*EmbeddingRequest, error) {
	out := &EmbeddingRequest{Model: r.Model, User: r.User}
	if r.Dimensions > 0 {
		out.Dimensions = new(r.Dimensions)
	}
	switch {
	case len(r.Inputs) > 0 && len(r.Tokens) > 0:
		return nil, invalid("", "%s: an embedding request takes text or token inputs, not both", dialect)
	case len(r.Inputs) > 0:
		out.Input.OfStrings = r.Inputs
	case len(r.Tokens) > 0:
		out.Input.OfTokenArrays = r.Tokens
	default:
		return nil, invalid("", "%s: an embedding request needs at least one input", dialect)
	}
	return out, nil
}

// embeddingResponseToLLM reads an upstream's vectors into input order. want
// is the number of inputs sent; every index from 0 to want-1 must come back
// exactly once.
func embeddingResponseToLLM(r *EmbeddingResponse, want int) (*llm.EmbedResponse, error) {
	if len(r.Data) != want {
		return nil, fmt.Errorf("openai embeddings: %d vectors for %d inputs", len(r.Data), want)
	}
	vectors := make([][]float32, want)
	for _, e := range r.Data {
		if e.Index < 0 || e.Index >= want || vectors[e.Index] != nil {
			return nil, fmt.Errorf("openai embeddings: unexpected or repeated index %d", e.Index)
		}
		v := e.Embedding.Values
		if v == nil {
			v = []float32{}
		}
		vectors[e.Index] = v
	}
	return &llm.EmbedResponse{
		Model:   r.Model,
		Vectors: vectors,
		Usage:   llm.Usage{InputTokens: r.Usage.PromptTokens},
	}, nil
}
