// Package truncate cuts strings to a bound without splitting a UTF-8
// character. What is cut goes into log lines, span attributes, WebSocket
// close reasons, JSON error descriptions and API errors, all of which want
// valid UTF-8: a byte bound cut in the middle of "é" would leave half a
// character that every reader then has to repair or reject.
package truncate

import "unicode/utf8"

// Bytes returns s if it is at most n bytes long, otherwise its longest
// prefix of at most n bytes that does not end inside a character, so a
// valid UTF-8 s gives valid UTF-8. Bytes that are not UTF-8 are cut like
// any other byte (a caller that must emit valid UTF-8 from arbitrary input
// repairs that with strings.ToValidUTF8).
func Bytes(s string, n int) string {
	n = max(n, 0)
	if len(s) <= n {
		return s
	}
	// s[n] is the first byte left out. The nearest character start before
	// it (at most UTFMax-1 bytes back) begins the only character that can
	// straddle the cut: if it does, it goes too.
	for i := n - 1; i >= 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if _, size := utf8.DecodeRuneInString(s[i:]); i+size > n {
				return s[:i]
			}
			break
		}
	}
	return s[:n]
}

// Chars returns s if it has at most n characters, otherwise its first n
// (a byte that is not UTF-8 counts as one, as when ranging over a string).
// OCPP bounds its strings in characters.
func Chars(s string, n int) string {
	n = max(n, 0)
	if len(s) <= n {
		return s // n bytes are at most n characters
	}
	count := 0
	for i := range s {
		if count == n {
			return s[:i]
		}
		count++
	}
	return s
}

// Marked returns s if it is at most n bytes long, otherwise s cut by Bytes
// to n bytes followed by mark, so that a reader sees the value was cut.
// The mark is not counted in n.
func Marked(s string, n int, mark string) string {
	if len(s) <= max(n, 0) {
		return s
	}
	return Bytes(s, n) + mark
}
