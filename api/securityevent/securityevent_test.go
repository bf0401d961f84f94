package securityevent_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chargeplane/chargeplane/api/admission"
	"github.com/chargeplane/chargeplane/api/securityevent"
	"github.com/chargeplane/chargeplane/api/store"
)

func TestBound(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"short", "short"},
		{"a\nb\x00c\x7f", "a?b?c?"},
		{"\xff\xfe", "??"},
		{strings.Repeat("x", 20), strings.Repeat("x", 7) + "…"},
		{strings.Repeat("é", 10), strings.Repeat("é", 3) + "…"},
	} {
		got := securityevent.Bound(tc.in, 10)
		if got != tc.want || len(got) > 10 || !utf8.ValidString(got) {
			t.Errorf("Bound(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

type memStore struct{ got []store.SecurityEvent }

func (m *memStore) RecordSecurityEvent(_ context.Context, e *store.SecurityEvent) (bool, error) {
	m.got = append(m.got, *e)
	return true, nil
}

func TestAdmissionRefused(t *testing.T) {
	st := &memStore{}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := securityevent.StoreRecorder{Store: st, Now: func() time.Time { return now }}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()

	events := securityevent.Admissions{Recorder: rec, Logger: log}
	events.AdmissionRefused(ctx, admission.Refusal{StationID: "CP-1", Check: admission.CheckPassword,
		Reason: "wrong password", RemoteAddr: "192.0.2.7:5000", CertSubject: "CN=CP-1", CertIssuer: "CN=Evil", At: now})
	long := strings.Repeat("A", 5000)
	events.AdmissionRefused(ctx, admission.Refusal{StationID: long, Check: admission.CheckUnknownStation,
		Reason: "unknown station", Unregistered: true, At: now})

	if len(st.got) != 2 {
		t.Fatalf("recorded %d events", len(st.got))
	}
	e := st.got[0]
	if e.StationID != "CP-1" || e.Source != store.SecuritySourceCSMS || e.Type != securityevent.TypeAdmissionRefused ||
		e.TechInfo != "wrong_password: wrong password" || e.RemoteAddr != "192.0.2.7:5000" || e.CertIssuer != "CN=Evil" || !e.OccurredAt.Equal(now) {
		t.Errorf("registered refusal = %+v", e)
	}
	u := st.got[1]
	if u.StationID != "" || !strings.Contains(u.TechInfo, "unknown station") || len(u.TechInfo) > securityevent.MaxTechInfo {
		t.Errorf("unknown id's refusal = %+v", u)
	}
	if strings.Contains(logs.String(), long) || !strings.Contains(logs.String(), "reason=\"wrong password\"") {
		t.Errorf("log not bounded or missing the reason:\n%.500s", logs.String())
	}
}

func TestReportedDeduplicates(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	a := securityevent.Reported("CP", "FirmwareUpdated", at, "x")
	b := securityevent.Reported("CP", "FirmwareUpdated", at.In(time.FixedZone("X", 3600)), "y")
	c := securityevent.Reported("CP", "FirmwareUpdated", at.Add(time.Nanosecond), "x")
	if a.DedupKey == "" || a.DedupKey != b.DedupKey || a.DedupKey == c.DedupKey || a.Source != store.SecuritySourceStation {
		t.Errorf("keys %q %q %q", a.DedupKey, b.DedupKey, c.DedupKey)
	}
}
