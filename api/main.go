// Command api is the Chargeplane core: `api` (or `api serve`) runs it,
// `api migrate` applies database migrations, `api user create` adds an
// operator. Configuration comes from the environment: `api --help` lists
// it (pkg/config).
package main

import (
	"context"
	"os"

	"github.com/chargeplane/chargeplane/api/cli"
	"github.com/chargeplane/chargeplane/pkg/gen/openapi"
)

func main() {
	os.Exit(cli.Execute(context.Background(), os.Args[1:], cli.Options{OpenAPI: openapi.JSON}))
}
