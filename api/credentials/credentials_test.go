package credentials_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/credentials"
	"github.com/chargeplane/chargeplane/api/store"
)

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		p, err := credentials.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if err := credentials.CheckPassword(p); err != nil {
			t.Fatalf("generated %q: %v", p, err)
		}
		if len(p) != credentials.GeneratedLen || strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
			t.Fatalf("generated %q: want %d letters and digits", p, credentials.GeneratedLen)
		}
		if seen[p] {
			t.Fatalf("generated %q twice", p)
		}
		seen[p] = true
	}
}

func TestCheckPassword(t *testing.T) {
	for p, ok := range map[string]bool{
		"0123456789abcdef":      true,
		"0123456789abcdefghij":  true,
		"0123456789abcde":       false, // 15
		"0123456789abcdefghijk": false, // 21
		"0123456789abcde\x00":   false,
		" 123456789abcdef":      false,
		"0123456789abcdé":       false,
	} {
		if err := credentials.CheckPassword(p); (err == nil) != ok {
			t.Errorf("CheckPassword(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

func TestAuthorizationKey(t *testing.T) {
	// The whitepaper's example: OCA_OCTT_admin_test hex-encoded.
	if got := credentials.AuthorizationKey("OCA_OCTT_admin_test"); got != "4F43415F4F4354545F61646D696E5F74657374" {
		t.Errorf("AuthorizationKey = %s", got)
	}
	p, err := credentials.FromAuthorizationKey("4f43415f4f4354545f61646d696e5f74657374")
	if err != nil || p != "OCA_OCTT_admin_test" {
		t.Errorf("FromAuthorizationKey = %q, %v", p, err)
	}
	for _, bad := range []string{"OCA_OCTT_admin_test", "4F43", "zz"} {
		if _, err := credentials.FromAuthorizationKey(bad); err == nil {
			t.Errorf("FromAuthorizationKey(%q) accepted", bad)
		}
	}
}

type sender struct {
	got    string
	answer credentials.Answer
	err    error
}

func (s *sender) SendPassword(_ context.Context, _, p string) (credentials.Answer, error) {
	s.got = p
	return s.answer, s.err
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	oldHash, _ := auth.HashSecret("old-password-0123")
	if err := st.CreateStation(ctx, &store.Station{ID: "CP-1", PasswordHash: oldHash, SecurityProfile: 1}); err != nil {
		t.Fatal(err)
	}
	matches := func(hash, p string) bool { return hash != "" && auth.VerifySecret(hash, p) == nil }

	for _, tc := range []struct {
		name     string
		answer   credentials.Answer
		err      error
		rotation string
		// what the station's passwords are afterwards, by who knows them
		newValid, oldValid bool
	}{
		{"accepted", credentials.Answer{Status: "Accepted"}, nil, credentials.Switched, true, true},
		{"reboot required", credentials.Answer{Status: "RebootRequired"}, nil, credentials.Switched, true, true},
		{"rejected", credentials.Answer{Status: "Rejected"}, nil, credentials.Unchanged, false, true},
		{"not supported", credentials.Answer{Status: "NotSupported"}, nil, credentials.Unchanged, false, true},
		{"CALLERROR", credentials.Answer{}, &command.ChargerError{Code: "NotSupported"}, credentials.Unchanged, false, true},
		{"timeout", credentials.Answer{}, command.ErrTimeout, credentials.Unconfirmed, true, true},
		{"connection lost", credentials.Answer{}, command.ErrNotConnected, credentials.Unconfirmed, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each case starts from a station on the old password only.
			if _, err := st.UpdateStation(ctx, "CP-1", store.StationPatch{PasswordHash: &oldHash}); err != nil {
				t.Fatal(err)
			}
			s := &sender{answer: tc.answer, err: tc.err}
			res, err := credentials.Rotator{Store: st, Sender: s}.Rotate(ctx, "CP-1", "")
			if !errors.Is(err, tc.err) {
				t.Errorf("err = %v, want %v", err, tc.err)
			}
			if res.Rotation != tc.rotation {
				t.Errorf("rotation %q, want %q", res.Rotation, tc.rotation)
			}
			if credentials.CheckPassword(s.got) != nil {
				t.Fatalf("sent %q", s.got)
			}
			got, _ := st.GetStation(ctx, "CP-1")
			valid := func(p string) bool {
				return matches(got.PasswordHash, p) || matches(got.PendingPasswordHash, p) || matches(got.PreviousPasswordHash, p)
			}
			if valid(s.got) != tc.newValid || valid("old-password-0123") != tc.oldValid {
				t.Errorf("new valid %v (want %v), old valid %v (want %v)", valid(s.got), tc.newValid, valid("old-password-0123"), tc.oldValid)
			}
			if tc.rotation == credentials.Switched && !matches(got.PasswordHash, s.got) {
				t.Error("switched, but the new password is not the station's password")
			}
			for _, h := range []string{got.PasswordHash, got.PendingPasswordHash, got.PreviousPasswordHash} {
				if strings.Contains(h, s.got) {
					t.Error("a password is stored in clear")
				}
			}
		})
	}

	t.Run("operator's password checked", func(t *testing.T) {
		s := &sender{answer: credentials.Answer{Status: "Accepted"}}
		_, err := credentials.Rotator{Store: st, Sender: s}.Rotate(ctx, "CP-1", "short")
		var inv *command.InvalidError
		if !errors.As(err, &inv) || s.got != "" {
			t.Errorf("short password: err %v, sent %q", err, s.got)
		}
		res, err := credentials.Rotator{Store: st, Sender: s}.Rotate(ctx, "CP-1", "chosen-password-01")
		if err != nil || res.Rotation != credentials.Switched || s.got != "chosen-password-01" {
			t.Errorf("chosen password: %+v %v sent %q", res, err, s.got)
		}
	})
	t.Run("unknown station", func(t *testing.T) {
		s := &sender{}
		if _, err := (credentials.Rotator{Store: st, Sender: s}).Rotate(ctx, "nope", ""); !errors.Is(err, store.ErrNotFound) || s.got != "" {
			t.Errorf("unknown station: %v, sent %q", err, s.got)
		}
	})
}
