package audit

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/chargeplane/chargeplane/api/redact"
)

// MaxRequestLen bounds a recorded request: a larger one (a big local
// list) is kept as its size only, so a caller cannot grow the trail by
// more than this per call.
const MaxRequestLen = 16 << 10

// Request returns req as JSON without its secrets (redact.Proto: fields
// marked [debug_redact = true], fields named for a secret, and a station's
// password in a typed configuration command or in the generic Call's
// payload).
func Request(req proto.Message) string {
	if req == nil {
		return "{}"
	}
	b, err := redact.Proto(req)
	if err != nil {
		return fmt.Sprintf(`{"unreadable":%q}`, err.Error())
	}
	if len(b) > MaxRequestLen {
		return fmt.Sprintf(`{"truncated":true,"bytes":%d}`, len(b))
	}
	return string(b)
}
