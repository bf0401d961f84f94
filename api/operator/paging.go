package operator

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/chargeplane/chargeplane/api/store"
)

// pageSize applies the API's paging defaults and bounds.
func pageSize(req int32) (int, error) {
	switch {
	case req < 0:
		return 0, errors.New("page_size must not be negative")
	case req == 0:
		return DefaultPageSize, nil
	case req > MaxPageSize:
		return MaxPageSize, nil
	}
	return int(req), nil
}

// hasMore tells from a page fetched with one extra row whether another
// page follows. The store caps a page at store.MaxPageLimit: a full page of
// that size may have a successor, so it gets a token (the next page is then
// possibly empty, which paging clients handle).
func hasMore(got, size int) bool {
	return got > size || (got == size && size >= store.MaxPageLimit)
}

func encodeCursor(kind, last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + last))
}

// decodeCursor returns the keyset cursor in tok ("" for the first page).
func decodeCursor(kind, tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	last, ok := strings.CutPrefix(string(raw), kind)
	if err != nil || !ok || last == "" || len(last) > 64 {
		return "", errors.New("invalid page_token")
	}
	return last, nil
}

// decodeSeqCursor reads a cursor holding the last seq (or id) of the
// previous page of a newest-first list; 0 starts at the newest.
func decodeSeqCursor(kind, tok string) (int64, error) {
	cur, err := decodeCursor(kind, tok)
	if err != nil || cur == "" {
		return 0, err
	}
	before, err := strconv.ParseInt(cur, 10, 64)
	if err != nil || before <= 0 {
		return 0, errors.New("invalid page_token")
	}
	return before, nil
}

// pagedRequest is what every paged list request carries.
type pagedRequest interface {
	GetPageSize() int32
	GetPageToken() string
}

// newestPage is the page a request asks of a list read newest first by an
// int64 key (an id or a seq): the rows below before (0: from the newest).
type newestPage struct {
	kind   string // tells the lists' tokens apart
	size   int
	before int64
}

// readNewestPage checks the request's page size and token.
func readNewestPage(req pagedRequest, kind string) (newestPage, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return newestPage{}, invalid(err)
	}
	before, err := decodeSeqCursor(kind, req.GetPageToken())
	if err != nil {
		return newestPage{}, invalid(err)
	}
	return newestPage{kind: kind, size: size, before: before}, nil
}

// limit is how many rows to read: one more than the page, to see whether
// another follows (within the store's bound, see hasMore).
func (p newestPage) limit() int { return min(p.size+1, store.MaxPageLimit) }

// seq is the store's page to read.
func (p newestPage) seq() store.SeqPage { return store.SeqPage{Limit: p.limit(), Before: p.before} }

// byID is seq for the store's lists by id, which read AfterID as the last
// id already shown.
func (p newestPage) byID() store.Page {
	out := store.Page{Limit: p.limit()}
	if p.before > 0 {
		out.AfterID = strconv.FormatInt(p.before, 10)
	}
	return out
}

// cutNewest cuts rows read with p to the page and returns the next page's
// token ("" after the last); key is a row's id or seq.
func cutNewest[T any](p newestPage, rows []T, key func(*T) int64) ([]T, string) {
	if !hasMore(len(rows), p.size) {
		return rows, ""
	}
	rows = rows[:p.size]
	return rows, encodeCursor(p.kind, strconv.FormatInt(key(&rows[len(rows)-1]), 10))
}
