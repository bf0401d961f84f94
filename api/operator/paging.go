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
// page follows. The store reads up to store.MaxPageLimit+1 rows, so this
// holds for the largest page too (MaxPageSize ≤ store.MaxPageLimit): a
// full last page gets no token, never one to an empty page.
func hasMore(got, size int) bool { return got > size }

// The largest page must be one the store reads with its extra row (a
// negative array length here fails the build otherwise).
var _ [store.MaxPageLimit - MaxPageSize]struct{}

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

// pagedRequest is what every paged list request carries.
type pagedRequest interface {
	GetPageSize() int32
	GetPageToken() string
}

// listPage is the page a list request asks for: up to size rows following
// the row whose key is cursor ("" for the first page), in the list's order
// (by id, or newest first by an id or a seq).
type listPage struct {
	kind   string // tells the lists' tokens apart
	size   int
	cursor string
}

// readPage checks the request's page size and token; valid, if set, checks
// the key a token holds.
func readPage(req pagedRequest, kind string, valid func(string) error) (listPage, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return listPage{}, invalid(err)
	}
	cursor, err := decodeCursor(kind, req.GetPageToken())
	if err == nil && cursor != "" && valid != nil && valid(cursor) != nil {
		err = errors.New("invalid page_token")
	}
	if err != nil {
		return listPage{}, invalid(err)
	}
	return listPage{kind: kind, size: size, cursor: cursor}, nil
}

// readNewestPage is readPage for a list newest first by an int64 key.
func readNewestPage(req pagedRequest, kind string) (listPage, error) {
	return readPage(req, kind, func(cursor string) error {
		if n, err := strconv.ParseInt(cursor, 10, 64); err != nil || n <= 0 {
			return errors.New("not a positive integer")
		}
		return nil
	})
}

// limit is how many rows to read: one more than the page, to see whether
// another follows (see hasMore).
func (p listPage) limit() int { return p.size + 1 }

// byID is the store's page to read from a list by id (newest first or
// not, as the store orders it).
func (p listPage) byID() store.Page { return store.Page{Limit: p.limit(), AfterID: p.cursor} }

// before is the seq or id a newest-first page reads below (0: from the
// newest); readNewestPage checked it.
func (p listPage) before() int64 {
	n, _ := strconv.ParseInt(p.cursor, 10, 64)
	return n
}

// seq is the store's page to read from a list newest first by seq.
func (p listPage) seq() store.SeqPage { return store.SeqPage{Limit: p.limit(), Before: p.before()} }

// cutPage cuts rows read with p to the page and returns the next page's
// token ("" after the last); key is a row's key.
func cutPage[T any](p listPage, rows []T, key func(*T) string) ([]T, string) {
	if !hasMore(len(rows), p.size) {
		return rows, ""
	}
	rows = rows[:p.size]
	return rows, encodeCursor(p.kind, key(&rows[len(rows)-1]))
}

// cutNewest is cutPage for an int64 key.
func cutNewest[T any](p listPage, rows []T, key func(*T) int64) ([]T, string) {
	return cutPage(p, rows, func(r *T) string { return strconv.FormatInt(key(r), 10) })
}
