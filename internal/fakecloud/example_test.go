package fakecloud_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"switchyard/internal/fakecloud"
)

// A chat completion from the simulated OpenAI: the answer echoes the last
// user text and tags it with the number of user turns and a hash of the
// whole conversation.
func Example() {
	srv := httptest.NewServer(fakecloud.New(fakecloud.Options{}))
	defer srv.Close()

	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}`
	req, err := http.NewRequest("POST", srv.URL+"/openai/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+fakecloud.DefaultKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		panic(err)
	}
	fmt.Println(out.Choices[0].Message.Content)
	// Output: Echo: Hello [turns=1 history=1f88b3b5]
}
