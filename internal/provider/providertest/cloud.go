package providertest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// cloud describes one simulated cloud: where its API lives on fakecloud,
// the model the suite asks for, and the capabilities it lacks.
type cloud struct {
	name string
	// fake is fakecloud's name of the cloud, when it is not name.
	fake string
	// prefix is appended to fakecloud's URL to give the adapter's base URL.
	prefix string
	// model is the model (Azure: deployment; Bedrock: model id with the
	// ":" every Bedrock id has, which must be escaped in the path).
	model string
	// authStatus is the status of an answer to wrong credentials.
	authStatus int
	// noPromptCache and noReasoningTokens name what the cloud lacks; empty
	// when it has the capability.
	noPromptCache     string
	noReasoningTokens string
	// view reads a recorded request body in the cloud's wire format.
	view func(body []byte) (recorded, error)
}

// lookupCloud returns the description of a cloud by name.
func lookupCloud(name string) (cloud, bool) {
	switch name {
	case "openai":
		return cloud{name: name, prefix: "/openai/v1", model: "gpt-4o-mini", authStatus: 401, view: viewOpenAI,
			noPromptCache: "OpenAI Chat Completions has no prompt-cache hint (caching is implicit) and reports no cache-write tokens"}, true
	case "azure":
		return cloud{name: name, prefix: "/azure", model: "gpt-4o-mini-deployment", authStatus: 401, view: viewOpenAI,
			noPromptCache: "Azure OpenAI Chat Completions has no prompt-cache hint (caching is implicit) and reports no cache-write tokens"}, true
	case "anthropic":
		return cloud{name: name, prefix: "/anthropic", model: "claude-haiku-4-5", authStatus: 401, view: viewAnthropic}, true
	case "bedrock":
		// AWS refuses a bad signature with 403.
		return cloud{name: name, prefix: "/bedrock", model: "anthropic.claude-3-haiku-20240307-v1:0", authStatus: 403, view: viewBedrock,
			noReasoningTokens: "Bedrock Converse usage has no reasoning token count"}, true
	case "gemini":
		return cloud{name: name, prefix: "/gemini", model: "gemini-2.5-flash", authStatus: 401, view: viewGemini,
			noPromptCache: "Gemini has no per-request prompt-cache hint (explicit caching goes through cachedContent resources)"}, true
	case "vertex":
		// Gemini on Vertex AI; an access token fakecloud did not issue is a
		// 401, as Google's.
		return cloud{name: name, prefix: "/vertex", model: "gemini-2.5-flash", authStatus: 401, view: viewGemini,
			noPromptCache: "Gemini on Vertex has no per-request prompt-cache hint (explicit caching goes through cachedContent resources)"}, true
	case "vertex-claude":
		// Claude on Vertex AI: Messages bodies through rawPredict.
		return cloud{name: name, fake: "vertex", prefix: "/vertex", model: "claude-haiku-4-5@20251001", authStatus: 401,
			view: viewAnthropic}, true
	}
	return cloud{}, false
}

// recorded is what the suite reads back from a request body that reached
// the simulated cloud, each from the vendor's own field.
type recorded struct {
	// system holds the system text blocks.
	system []string
	// roles lists the conversation's turns: "user", "assistant" or, for
	// the OpenAI dialect, "tool".
	roles []string
	// images holds the inline images of the last message.
	images []inlineImage
}

// inlineImage is an image sent as bytes.
type inlineImage struct {
	mime string
	data []byte
}

// viewOpenAI reads a Chat Completions body: system and developer messages,
// and image_url parts holding data URLs.
func viewOpenAI(body []byte) (recorded, error) {
	var b struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return recorded{}, fmt.Errorf("decoding chat completions body: %w", err)
	}
	var out recorded
	for i, m := range b.Messages {
		var text string
		var parts []struct {
			Type     string `json:"type"`
			Text     string `json:"text"`
			ImageURL *struct {
				URL string `json:"url"`
			} `json:"image_url"`
		}
		if json.Unmarshal(m.Content, &text) != nil {
			if err := json.Unmarshal(m.Content, &parts); err != nil && len(m.Content) > 0 && string(m.Content) != "null" {
				return recorded{}, fmt.Errorf("messages[%d].content: %w", i, err)
			}
		}
		if m.Role == "system" || m.Role == "developer" {
			if text != "" {
				out.system = append(out.system, text)
			}
			for _, p := range parts {
				out.system = append(out.system, p.Text)
			}
			continue
		}
		out.roles = append(out.roles, m.Role)
		out.images = nil
		for _, p := range parts {
			if p.Type != "image_url" || p.ImageURL == nil {
				continue
			}
			img, err := parseDataURL(p.ImageURL.URL)
			if err != nil {
				return recorded{}, fmt.Errorf("messages[%d]: %w", i, err)
			}
			out.images = append(out.images, img)
		}
	}
	return out, nil
}

// parseDataURL reads "data:MIME;base64,DATA".
func parseDataURL(u string) (inlineImage, error) {
	rest, ok := strings.CutPrefix(u, "data:")
	meta, data, ok2 := strings.Cut(rest, ",")
	mime, isBase64 := strings.CutSuffix(meta, ";base64")
	if !ok || !ok2 || !isBase64 {
		return inlineImage{}, fmt.Errorf("image URL %.40q is not a base64 data URL", u)
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return inlineImage{}, fmt.Errorf("decoding image data: %w", err)
	}
	return inlineImage{mime: mime, data: b}, nil
}

// viewAnthropic reads a Messages body: the system field (a string or text
// blocks) and base64 image blocks.
func viewAnthropic(body []byte) (recorded, error) {
	type block struct {
		Type   string `json:"type"`
		Text   string `json:"text"`
		Source *struct {
			Type      string `json:"type"`
			MediaType string `json:"media_type"`
			Data      string `json:"data"`
		} `json:"source"`
	}
	var b struct {
		System   json.RawMessage `json:"system"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return recorded{}, fmt.Errorf("decoding messages body: %w", err)
	}
	var out recorded
	if len(b.System) > 0 {
		var s string
		var blocks []block
		switch {
		case json.Unmarshal(b.System, &s) == nil:
			out.system = append(out.system, s)
		case json.Unmarshal(b.System, &blocks) == nil:
			for _, bl := range blocks {
				out.system = append(out.system, bl.Text)
			}
		default:
			return recorded{}, fmt.Errorf("system is neither a string nor blocks: %s", b.System)
		}
	}
	for i, m := range b.Messages {
		out.roles = append(out.roles, m.Role)
		out.images = nil
		var blocks []block
		if json.Unmarshal(m.Content, &blocks) != nil {
			continue // a string
		}
		for _, bl := range blocks {
			if bl.Type != "image" || bl.Source == nil || bl.Source.Type != "base64" {
				continue
			}
			data, err := base64.StdEncoding.DecodeString(bl.Source.Data)
			if err != nil {
				return recorded{}, fmt.Errorf("messages[%d]: decoding image data: %w", i, err)
			}
			out.images = append(out.images, inlineImage{mime: bl.Source.MediaType, data: data})
		}
	}
	return out, nil
}

// viewBedrock reads a Converse body: system text blocks and image blocks
// with bytes.
func viewBedrock(body []byte) (recorded, error) {
	var b struct {
		System []struct {
			Text *string `json:"text"`
		} `json:"system"`
		Messages []struct {
			Role    string `json:"role"`
			Content []struct {
				Image *struct {
					Format string `json:"format"`
					Source struct {
						Bytes []byte `json:"bytes"`
					} `json:"source"`
				} `json:"image"`
			} `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return recorded{}, fmt.Errorf("decoding converse body: %w", err)
	}
	var out recorded
	for _, s := range b.System {
		if s.Text != nil {
			out.system = append(out.system, *s.Text)
		}
	}
	for _, m := range b.Messages {
		out.roles = append(out.roles, m.Role)
		out.images = nil
		for _, c := range m.Content {
			if c.Image != nil {
				out.images = append(out.images, inlineImage{mime: "image/" + c.Image.Format, data: c.Image.Source.Bytes})
			}
		}
	}
	return out, nil
}

// viewGemini reads a generateContent body: systemInstruction and
// inlineData parts. The "model" role is the assistant's.
func viewGemini(body []byte) (recorded, error) {
	type part struct {
		Text       *string `json:"text"`
		InlineData *struct {
			MIMEType string `json:"mimeType"`
			Data     []byte `json:"data"`
		} `json:"inlineData"`
	}
	var b struct {
		SystemInstruction *struct {
			Parts []part `json:"parts"`
		} `json:"systemInstruction"`
		Contents []struct {
			Role  string `json:"role"`
			Parts []part `json:"parts"`
		} `json:"contents"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return recorded{}, fmt.Errorf("decoding generateContent body: %w", err)
	}
	var out recorded
	if si := b.SystemInstruction; si != nil {
		for _, p := range si.Parts {
			if p.Text != nil {
				out.system = append(out.system, *p.Text)
			}
		}
	}
	for _, c := range b.Contents {
		role := c.Role
		if role == "model" {
			role = "assistant"
		}
		out.roles = append(out.roles, role)
		out.images = nil
		for _, p := range c.Parts {
			if p.InlineData != nil {
				out.images = append(out.images, inlineImage{mime: p.InlineData.MIMEType, data: p.InlineData.Data})
			}
		}
	}
	return out, nil
}
