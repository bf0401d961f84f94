// Command created finishes the OpenAPI document protoc-gen-openapiv2 wrote:
// the generator always documents a 200 answer, and a method can only add
// responses to it (proto/chargeplane/v1: openapiv2_operation). A method that
// documents a 201 answers 201 and never 200 (api/httpapi's x-http-code), so
// its 200 becomes the 201, schema included.
//
//	go run ./internal/created chargeplane.swagger.json
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: created <swagger.json>")
		os.Exit(2)
	}
	if err := rewrite(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "created:", err)
		os.Exit(1)
	}
}

func rewrite(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	paths, _ := doc["paths"].(map[string]any)
	for _, item := range paths {
		for _, op := range item.(map[string]any) {
			responses, _ := op.(map[string]any)["responses"].(map[string]any)
			created, ok := responses["201"].(map[string]any)
			ok200, has200 := responses["200"].(map[string]any)
			if !ok || !has200 {
				continue
			}
			if created["schema"] == nil {
				created["schema"] = ok200["schema"]
			}
			delete(responses, "200")
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}
