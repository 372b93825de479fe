package api

import (
	"net/http"
	"time"
)

type anthropicModelInfo struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

func anthropicModel(name string) anthropicModelInfo {
	return anthropicModelInfo{Type: "model", ID: name, DisplayName: name,
		CreatedAt: time.Unix(modelEpoch, 0).UTC().Format(time.RFC3339)}
}

// handleAnthropicModels lists models in Anthropic's shape, for clients
// that send anthropic-version.
func (s *Server) handleAnthropicModels(w http.ResponseWriter, r *http.Request) {
	data := []anthropicModelInfo{}
	for _, m := range s.gw.Router().Catalog().Models() {
		data = append(data, anthropicModel(m.Name))
	}
	resp := map[string]any{"data": data, "has_more": false, "first_id": nil, "last_id": nil}
	if len(data) > 0 {
		resp["first_id"], resp["last_id"] = data[0].ID, data[len(data)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}
