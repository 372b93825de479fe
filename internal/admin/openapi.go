package admin

import (
	_ "embed"
	"net/http"
)

// openAPI describes the admin listener's endpoints in OpenAPI 3.1. It is
// written by hand, beside the handlers it describes; tests check that it
// names exactly the endpoints routes registers and that it is structurally
// sound.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPI)
}
