package auth

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
)

// Password rules for users. Length alone lets "aaaaaaaaaaaa" through, so a
// password must also resist a guessing attack as zxcvbn (dictionaries,
// keyboard patterns, dates, the user's own name and email) estimates it.
const (
	MinPasswordChars = 12
	// MaxPasswordBytes bounds the hashing work one password causes.
	MaxPasswordBytes = 1024
	// MinPasswordScore is zxcvbn's "safely unguessable" (≳10^8 guesses).
	MinPasswordScore = 3
)

// ErrWeakPassword wraps every refusal of CheckPassword.
var ErrWeakPassword = errors.New("password too weak")

// CheckPassword says why pw is not acceptable for a user whose name and
// email are userInputs (they make guessing easier, so they count against
// the password).
func CheckPassword(pw string, userInputs ...string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordChars:
		return fmt.Errorf("%w: use at least %d characters", ErrWeakPassword, MinPasswordChars)
	case len(pw) > MaxPasswordBytes:
		return fmt.Errorf("%w: at most %d bytes", ErrWeakPassword, MaxPasswordBytes)
	case !utf8.ValidString(pw):
		return fmt.Errorf("%w: not valid UTF-8", ErrWeakPassword)
	}
	var inputs []string
	for _, in := range userInputs {
		if in != "" {
			inputs = append(inputs, in)
		}
	}
	if zxcvbn.PasswordStrength(pw, inputs).Score < MinPasswordScore {
		return fmt.Errorf("%w: too easy to guess (common words, patterns or your own name); a few unrelated words work well", ErrWeakPassword)
	}
	return nil
}
