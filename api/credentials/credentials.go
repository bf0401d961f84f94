// Package credentials rotates a station's Basic-auth password (security
// profiles 1 and 2) without ever locking the station out: the CSMS makes
// (or takes) a new password, records it as pending before sending it, sends
// it in the station's protocol version, and lets the answer decide. Until
// the station connects with the new password the old one stays valid; when
// the answer is lost both stay valid and the station's next connection
// settles which one it uses (store.PasswordUsed, at admission).
//
// Passwords never leave this package except to the station: they are
// hashed before they are stored, and what the command layer records of the
// CALL must be redacted (the command table marks these actions secret).
package credentials

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/chargeplane/chargeplane/api/auth"
	"github.com/chargeplane/chargeplane/api/command"
)

// Password bounds: OCPP 1.6's AuthorizationKey is 16 to 20 bytes (sent
// hex-encoded), 2.0.1's BasicAuthPassword 16 to 40 characters; a password
// both accept is 16 to 20 characters.
const (
	MinPasswordLen = 16
	MaxPasswordLen = 20
	// GeneratedLen is the length of a generated password: 20 characters of
	// 62 is 119 bits.
	GeneratedLen = 20
)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Generate returns a new random password of GeneratedLen letters and
// digits, which every charger can type into a Basic-auth header.
func Generate() (string, error) {
	var b [GeneratedLen]byte
	// Rejection sampling keeps every character equally likely.
	out := make([]byte, 0, GeneratedLen)
	for len(out) < GeneratedLen {
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("credentials: random: %w", err)
		}
		for _, c := range b {
			if int(c) < 256-256%len(alphabet) && len(out) < GeneratedLen {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// CheckPassword says why an operator's password cannot be sent to a
// station, nil when it can: 16 to 20 printable ASCII characters (no
// control characters, no space at either end, which chargers' configuration
// screens lose).
func CheckPassword(p string) error {
	if n := len(p); n < MinPasswordLen || n > MaxPasswordLen {
		return fmt.Errorf("a station password must be %d to %d characters, got %d", MinPasswordLen, MaxPasswordLen, n)
	}
	for _, c := range []byte(p) {
		if c < 0x20 || c > 0x7e {
			return errors.New("a station password must be printable ASCII")
		}
	}
	if strings.TrimSpace(p) != p {
		return errors.New("a station password must not start or end with a space")
	}
	return nil
}

// AuthorizationKey is the value of OCPP 1.6 ChangeConfiguration
// AuthorizationKey for password p: its hex encoding, as the security
// whitepaper prescribes.
func AuthorizationKey(p string) string { return strings.ToUpper(hex.EncodeToString([]byte(p))) }

// FromAuthorizationKey decodes an AuthorizationKey value back into the
// password the station will use, and checks it.
func FromAuthorizationKey(v string) (string, error) {
	b, err := hex.DecodeString(v)
	if err != nil {
		return "", errors.New("AuthorizationKey must be the hex encoding of the password (OCPP 1.6 security whitepaper)")
	}
	p := string(b)
	if err := CheckPassword(p); err != nil {
		return "", err
	}
	return p, nil
}

// Rotation results.
const (
	// Switched: the station took the new password; the CSMS uses it, and
	// the old one until the station connects with the new one.
	Switched = "switched"
	// Unchanged: the station refused it (or nothing was sent); the old
	// password stays.
	Unchanged = "unchanged"
	// Unconfirmed: the answer never came; both passwords stay valid until
	// the station connects with one of them.
	Unconfirmed = "unconfirmed"
)

// Store keeps the rotation's state (a *store.Store).
type Store interface {
	BeginPasswordRotation(ctx context.Context, id, pendingHash string) error
	AcceptPasswordRotation(ctx context.Context, id, pendingHash string) (bool, error)
	AbandonPasswordRotation(ctx context.Context, id, pendingHash string) (bool, error)
}

// Sender sends password p to the station in its version (1.6
// ChangeConfiguration AuthorizationKey, 2.0.1 SetVariables
// SecurityCtrlr.BasicAuthPassword) and returns the station's status.
// Errors are those of command.Dispatcher.Call.
type Sender interface {
	SendPassword(ctx context.Context, stationID, password string) (Answer, error)
}

// Answer is the station's answer to the password change.
type Answer struct {
	CommandID string
	// Status is the station's: 1.6 Accepted, Rejected, RebootRequired or
	// NotSupported; 2.0.1 the SetVariables attribute status.
	Status string
	Reason string // 2.0.1 statusInfo reasonCode, if any
}

// Result is the outcome of a rotation.
type Result struct {
	Answer
	// Rotation is Switched, Unchanged or Unconfirmed.
	Rotation string
}

// Rotator runs rotations.
type Rotator struct {
	Store  Store
	Sender Sender
	// Hash hashes a password for storage (default auth.HashSecret).
	Hash   func(string) (string, error)
	Logger *slog.Logger
}

// Rotate sends password (Generate's when empty) to the station and
// settles the stored passwords by the answer. The error is the command's
// when there is no answer to settle by (the result then says whether the
// password may still have reached the station).
func (r Rotator) Rotate(ctx context.Context, stationID, password string) (Result, error) {
	log := r.logger().With("station", stationID)
	if password == "" {
		var err error
		if password, err = Generate(); err != nil {
			return Result{}, err
		}
	} else if err := CheckPassword(password); err != nil {
		return Result{}, &command.InvalidError{Reason: err.Error()}
	}
	hash := r.Hash
	if hash == nil {
		hash = auth.HashSecret
	}
	h, err := hash(password)
	if err != nil {
		return Result{}, fmt.Errorf("credentials: %w", err)
	}
	// Pending before it is sent: a station that switches and reconnects
	// before its answer is processed must be let in.
	if err := r.Store.BeginPasswordRotation(ctx, stationID, h); err != nil {
		return Result{}, fmt.Errorf("credentials: %w", err)
	}
	ans, err := r.Sender.SendPassword(ctx, stationID, password)
	// The outcome is recorded even if the caller gave up meanwhile.
	sctx := context.WithoutCancel(ctx)
	if err != nil {
		var charger *command.ChargerError
		var invalid *command.InvalidError
		if errors.As(err, &charger) || errors.As(err, &invalid) || errors.Is(err, command.ErrStationNotFound) {
			// A definite no (or nothing was sent): the old password stays.
			if _, aerr := r.Store.AbandonPasswordRotation(sctx, stationID, h); aerr != nil {
				log.Error("could not forget a refused password", "err", aerr)
			}
			log.Info("password rotation refused", "err", err)
			return Result{Answer: ans, Rotation: Unchanged}, err
		}
		log.Warn("password rotation unconfirmed: both passwords stay valid until the station connects with one", "err", err)
		return Result{Answer: ans, Rotation: Unconfirmed}, err
	}
	switch ans.Status {
	case "Accepted", "RebootRequired":
		if _, err := r.Store.AcceptPasswordRotation(sctx, stationID, h); err != nil {
			// Still pending, so still valid: nobody is locked out.
			return Result{Answer: ans, Rotation: Unconfirmed}, fmt.Errorf("credentials: %w", err)
		}
		log.Info("password rotated; the old one stays valid until the station reconnects", "status", ans.Status)
		return Result{Answer: ans, Rotation: Switched}, nil
	}
	if _, err := r.Store.AbandonPasswordRotation(sctx, stationID, h); err != nil {
		log.Error("could not forget a refused password", "err", err)
	}
	log.Info("station refused the new password", "status", ans.Status, "reason", ans.Reason)
	return Result{Answer: ans, Rotation: Unchanged}, nil
}

func (r Rotator) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger.With("component", "credentials")
	}
	return slog.Default().With("component", "credentials")
}

// CommandSender sends the password through the command table of the
// station's version (command.PasswordChange).
type CommandSender struct {
	Commands *command.Sender
}

// SendPassword implements Sender.
func (s CommandSender) SendPassword(ctx context.Context, stationID, password string) (Answer, error) {
	r, err := command.Do[command.Reply](ctx, s.Commands, stationID, "csms:credentials", command.PasswordChange{Password: password})
	if err != nil {
		return Answer{}, err
	}
	return Answer{CommandID: r.CommandID, Status: r.Status, Reason: r.ReasonCode}, nil
}
