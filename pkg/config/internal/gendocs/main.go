// Command gendocs writes the files generated from the settings table:
// .env.example (go generate ./pkg/config, run by make generate).
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
	flag.Parse()
	if err := run(*envPath); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(envPath string) error {
	if envPath == "" {
		return fmt.Errorf("-env is required")
	}
	var b bytes.Buffer
	if err := config.WriteEnvExample(&b); err != nil {
		return err
	}
	return os.WriteFile(envPath, b.Bytes(), 0o644)
}
