// Command gendocs writes the files generated from the settings table:
// .env.example and the table of docs/operations.md (go generate
// ./pkg/config, run by make generate).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/chargeplane/chargeplane/pkg/config"
)

func main() {
	envPath := flag.String("env", "", "path of .env.example to write")
	mdPath := flag.String("md", "", "path of a Markdown document whose settings table to rewrite")
	flag.Parse()
	if err := run(*envPath, *mdPath); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(envPath, mdPath string) error {
	if envPath == "" || mdPath == "" {
		return fmt.Errorf("-env and -md are required")
	}
	var b bytes.Buffer
	if err := config.WriteEnvExample(&b); err != nil {
		return err
	}
	if err := os.WriteFile(envPath, b.Bytes(), 0o644); err != nil {
		return err
	}
	doc, err := os.ReadFile(mdPath)
	if err != nil {
		return err
	}
	updated, err := config.ReplaceMarkdownTable(string(doc))
	if err != nil {
		return fmt.Errorf("%s: %w", mdPath, err)
	}
	return os.WriteFile(mdPath, []byte(updated), 0o644)
}
