package v16

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/chargeplane/chargeplane/api/command"
	"github.com/chargeplane/chargeplane/api/redact"
	"github.com/chargeplane/chargeplane/api/store"
	"github.com/chargeplane/chargeplane/pkg/logbound"
	ocpp16 "github.com/chargeplane/chargeplane/pkg/ocpp/v16"
	"github.com/chargeplane/chargeplane/pkg/truncate"
)

// ConfigurationStore keeps each 1.6 station's configuration as last
// reported.
type ConfigurationStore interface {
	ApplyConfiguration(ctx context.Context, c store.ConfigurationChange) (store.ConfigurationApplied, error)
}

// What the CSMS keeps of a station's configuration: a charger chooses what
// it answers, and a compliant one stays well inside these bounds.
const (
	// MaxConfigurationKeys is the most keys kept per station (chargers
	// report tens to a few hundred). Past it, a full report keeps its
	// first MaxConfigurationKeys keys in the station's order, and a new
	// key of a partial answer is not kept; keys already kept are still
	// updated. Either is logged.
	MaxConfigurationKeys = 1000
	// MaxConfigurationKeyLen is a key's CiString50: a longer key is not
	// kept (cut, it would name another key).
	MaxConfigurationKeyLen = 50
	// MaxConfigurationValueLen is a value's CiString500: a longer value is
	// kept cut to its first MaxConfigurationValueLen characters.
	MaxConfigurationValueLen = 500
)

// configurationKey is what is kept of one key the station reported or
// accepted, or false when it is not kept (a name past the bound). A
// secret's value (redact.SecretConfigurationKey) is kept as redact.Marker:
// the key is known to be there, never what it holds; in other values a
// URL's password is (redact.String). NUL is dropped from
// what is kept: PostgreSQL text cannot hold it.
func configurationKey(key string, value *string, readonly bool) (store.ConfigurationKey, bool) {
	key = strings.ReplaceAll(key, "\x00", "")
	if key == "" || len([]rune(key)) > MaxConfigurationKeyLen {
		return store.ConfigurationKey{}, false
	}
	k := store.ConfigurationKey{Key: key, Readonly: readonly}
	switch {
	case value == nil:
	case redact.SecretConfigurationKey(key):
		m := redact.Marker
		k.Value = &m
	default:
		// Redacted before the cut, which could leave part of a password.
		v := truncate.Chars(redact.String(strings.ReplaceAll(*value, "\x00", "")), MaxConfigurationValueLen)
		k.Value = &v
	}
	return k, true
}

// configurationReported keeps what a GetConfiguration answer says, however
// it was asked (the typed operation, the local list's question, the
// generic call): with no key asked the answer is the whole configuration
// and replaces what was kept; otherwise it updates the keys it reports
// and forgets those the station says it does not know.
func (c commands) configurationReported(ctx context.Context, a answer[ocpp16.GetConfigurationRequest, ocpp16.GetConfigurationResponse]) (command.None, error) {
	ch := store.ConfigurationChange{StationID: a.StationID, Full: len(a.Request.Key) == 0, Limit: MaxConfigurationKeys}
	for _, k := range a.Response.UnknownKey {
		if k = strings.ReplaceAll(k, "\x00", ""); k != "" {
			ch.Remove = append(ch.Remove, k)
		}
	}
	now := c.Now()
	var skipped []string
	for _, rk := range a.Response.ConfigurationKey {
		// The generated type reads an absent value as "": both are kept as
		// no value, as the typed answer reports them.
		var value *string
		if rk.Value != "" {
			value = &rk.Value
		}
		k, ok := configurationKey(rk.Key, value, rk.Readonly)
		if !ok {
			skipped = append(skipped, truncate.Chars(rk.Key, MaxConfigurationKeyLen)+"…")
			continue
		}
		k.ReportedAt = now
		ch.Set = append(ch.Set, k)
	}
	res, err := c.Configuration.ApplyConfiguration(ctx, ch)
	if err != nil {
		return command.None{}, fmt.Errorf("keep the configuration of %s: %w", a.StationID, err)
	}
	c.logUnkept(ctx, a.Meta, skipped, res.Dropped)
	return command.None{}, nil
}

// configurationAccepted keeps the value of a key the station accepted
// (Accepted; RebootRequired as awaiting the reboot). A Rejected or
// NotSupported change leaves what was kept.
func (c commands) configurationAccepted(ctx context.Context, a answer[ocpp16.ChangeConfigurationRequest, ocpp16.ChangeConfigurationResponse]) (command.None, error) {
	reboot := a.Response.Status == ocpp16.ChangeConfigurationResponseStatusRebootRequired
	if a.Response.Status != ocpp16.ChangeConfigurationResponseStatusAccepted && !reboot {
		return command.None{}, nil
	}
	k, ok := configurationKey(a.Request.Key, &a.Request.Value, false)
	if !ok {
		c.logUnkept(ctx, a.Meta, []string{a.Request.Key}, nil)
		return command.None{}, nil
	}
	k.AwaitingReboot, k.ReportedAt = reboot, c.Now()
	res, err := c.Configuration.ApplyConfiguration(ctx, store.ConfigurationChange{StationID: a.StationID, Set: []store.ConfigurationKey{k},
		ValueOnly: true, Limit: MaxConfigurationKeys})
	if err != nil {
		return command.None{}, fmt.Errorf("keep configuration key %s of %s: %w", k.Key, a.StationID, err)
	}
	c.logUnkept(ctx, a.Meta, nil, res.Dropped)
	return command.None{}, nil
}

// logUnkept says which reported keys the bounds left out.
func (c commands) logUnkept(ctx context.Context, m command.Meta, longNames, pastLimit []string) {
	if len(longNames) == 0 && len(pastLimit) == 0 {
		return
	}
	// The process's logger (api/cli sets it), clipped: the names are the
	// charger's, of any length.
	log := logbound.Clipped(slog.Default())
	if len(pastLimit) > 5 {
		pastLimit = append(pastLimit[:5:5], fmt.Sprintf("… (%d more)", len(pastLimit)-5))
	}
	if len(longNames) > 5 {
		longNames = append(longNames[:5:5], fmt.Sprintf("… (%d more)", len(longNames)-5))
	}
	log.WarnContext(ctx, "configuration keys not kept", "station", m.StationID, "command", m.CommandID,
		"names_over_50_characters", longNames, "past_key_limit", pastLimit, "limit", MaxConfigurationKeys)
}
