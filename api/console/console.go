// Package console serves the operator web console: static files embedded in
// the api binary, with no build step, that talk to the operator REST API
// (and its event stream) like any other client. The console holds no
// privilege of its own: every call it makes carries the signed-in user's
// token and is checked by the core's access policy.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is where the console's files are served; "/" serves its page.
const Prefix = "/console/"

//go:embed assets
var assets embed.FS

// Assets returns the console's files (for tests that check them).
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree always has assets/
	}
	return sub
}

type file struct {
	body        []byte
	etag        string
	contentType string
}

// Handler serves "/" (the page) and Prefix+file. Files are revalidated on
// every load (ETag), so a new binary's console is never mixed with an old
// cached one.
type Handler struct {
	files map[string]file
}

// New reads the embedded files once.
func New() (*Handler, error) {
	h := &Handler{files: map[string]file{}}
	err := fs.WalkDir(Assets(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(Assets(), p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = http.DetectContentType(body)
		}
		h.files[p] = file{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: ct}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: read assets: %w", err)
	}
	if _, ok := h.files["index.html"]; !ok {
		return nil, fmt.Errorf("console: index.html missing from the embedded assets")
	}
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := "index.html"
	if r.URL.Path != "/" {
		name = strings.TrimPrefix(r.URL.Path, Prefix)
	}
	f, ok := h.files[name]
	if !ok || name == r.URL.Path {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	// Everything the page loads comes from this origin; no inline script or
	// style, so injected markup cannot run. connect-src 'self' covers the
	// REST API and the event stream.
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	hd.Set("Content-Type", f.contentType)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
