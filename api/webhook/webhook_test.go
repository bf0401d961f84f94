package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/event"
	"github.com/chargeplane/chargeplane/api/store"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://hooks.example.com/chargeplane?tenant=1", false, true},
		{"http://203.0.113.7:8080/x", false, true},
		{"http://[2001:db8::1]/x", false, true},
		// Host names are checked when connecting, not here.
		{"http://localhost:9000/x", false, true},
		{"", false, false},
		{"ftp://example.com/x", false, false},
		{"file:///etc/passwd", false, false},
		{"//example.com/x", false, false},
		{"http:///x", false, false},
		{"http://user:pw@example.com/x", false, false},
		{"http://example.com/x#frag", false, false},
		{"http://example.com:0/x", false, false},
		{"http://example.com:99999/x", false, false},
		{"http://" + strings.Repeat("a", MaxURLLen) + ".com/", false, false},
		{"http://127.0.0.1:8080/x", false, false},
		{"http://127.0.0.1:8080/x", true, true},
		{"http://10.1.2.3/x", false, false},
		{"http://169.254.169.254/latest/meta-data", false, false},
		{"http://[::1]/x", false, false},
		{"http://[::ffff:127.0.0.1]/x", false, false},
		{"http://[fd00:ec2::254]/x", false, false},
		{"http://0.0.0.0/x", false, false},
	} {
		_, err := ParseURL(tc.url, tc.allowPrivate)
		if (err == nil) != tc.ok {
			t.Errorf("ParseURL(%q, %v) = %v, want ok=%v", tc.url, tc.allowPrivate, err, tc.ok)
		}
	}
}

func TestForbidden(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "127.8.9.10": true, "10.0.0.1": true, "172.16.0.1": true, "172.31.255.255": true,
		"192.168.1.1": true, "169.254.169.254": true, "100.64.0.1": true, "0.0.0.0": true, "224.0.0.1": true,
		"255.255.255.255": true, "::1": true, "::": true, "fe80::1": true, "fe80::1%eth0": true, "fd00::1": true,
		"::ffff:10.0.0.1": true, "64:ff9b::7f00:1": true, "ff02::1": true,
		"64:ff9b:1::a9fe:a9fe": true, "2002:7f00:1::1": true, "2002:a9fe:a9fe::": true, "::7f00:1": true, "2001:0:4136:e378::1": true,
		"2002:808:808::1": false, "64:ff9b:1::808:808": false,
		"8.8.8.8": false, "172.32.0.1": false, "203.0.113.7": false, "2001:4860:4860::8888": false, "64:ff9b::808:808": false,
	} {
		ip := netip.MustParseAddr(addr)
		if got := Forbidden(ip) != ""; got != want {
			t.Errorf("Forbidden(%s) = %q, want forbidden=%v", addr, Forbidden(ip), want)
		}
	}
	if err := control("tcp", "127.0.0.1:80", nil); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("control(127.0.0.1) = %v", err)
	}
	if err := control("tcp", "[2001:4860:4860::8888]:443", nil); err != nil {
		t.Errorf("control(public v6) = %v", err)
	}
}

// The types' stored form (event.ParseTypes checks them).
func TestJoinTypes(t *testing.T) {
	if got := JoinTypes([]event.Type{event.StationBooted, event.StationStatus}); got != "station.booted,station.status" {
		t.Fatalf("JoinTypes = %q", got)
	}
	if JoinTypes(nil) != "" || SplitTypes("") != nil {
		t.Fatal("no types is not every type")
	}
	if s := SplitTypes("a,b"); len(s) != 2 || s[1] != "b" {
		t.Fatalf("SplitTypes = %v", s)
	}
}

// Station ids are checked by the chargers' rule, bounded, folded; the
// stored form keeps ids that hold commas and other allowed characters.
func TestParseStations(t *testing.T) {
	got, err := ParseStations([]string{"CP-1", "site,2#b", "CP-1", "CP-3"})
	if err != nil || JoinStations(got) != "CP-1 site,2#b CP-3" {
		t.Fatalf("ParseStations = %v, %v", got, err)
	}
	if back := SplitStations(JoinStations(got)); strings.Join(back, "|") != "CP-1|site,2#b|CP-3" {
		t.Fatalf("SplitStations = %v", back)
	}
	for _, bad := range [][]string{{""}, {"CP 1"}, {"a/b"}, {"a:b"}, {".."}, {"é"}, {strings.Repeat("x", 49)}} {
		if _, err := ParseStations(bad); err == nil || !strings.Contains(err.Error(), "station_ids") {
			t.Errorf("ParseStations(%q) = %v, want an error naming station_ids", bad, err)
		}
	}
	many := make([]string, 0, MaxStations+1)
	for i := range MaxStations {
		many = append(many, "CP-"+strconv.Itoa(i))
	}
	// Duplicates do not count against the bound.
	if got, err := ParseStations(append(many, many[0], many[1])); err != nil || len(got) != MaxStations {
		t.Fatalf("%d distinct ids with duplicates: %d, %v", MaxStations, len(got), err)
	}
	if _, err := ParseStations(append(many, "CP-extra")); err == nil || err.Error() != "station_ids: at most 100 stations" {
		t.Fatalf("%d stations accepted: %v", MaxStations+1, err)
	}
	if got, _ := ParseStations(nil); JoinStations(got) != "" || len(SplitStations("")) != 0 {
		t.Fatal("no stations is not every station")
	}
	f := Filter(&store.Webhook{EventTypes: "station.status", StationIDs: "CP-1 CP-3"})
	for _, tc := range []struct {
		e    event.Event
		want bool
	}{
		{event.Event{Type: event.StationStatus, StationID: "CP-1"}, true},
		{event.Event{Type: event.StationStatus, StationID: "CP-2"}, false},
		{event.Event{Type: event.StationBooted, StationID: "CP-3"}, false},
		// No station is no listed station's.
		{event.Event{Type: event.StationStatus}, false},
	} {
		if got := f.Match(tc.e); got != tc.want {
			t.Errorf("Match(%+v) = %v, want %v", tc.e, got, tc.want)
		}
	}
	if !Filter(&store.Webhook{}).Match(event.Event{Type: event.StationStatus}) {
		t.Error("a webhook not limited to stations refuses an event without one")
	}
}

// The signature is HMAC-SHA256 over "<timestamp>.<body>", hex, as
// docs/integrations.md tells receivers; computed here independently.
func TestSignAndVerify(t *testing.T) {
	secret := []byte("whsec_test-secret-0123456789")
	body := []byte(`{"id":7,"type":"station.booted"}`)
	ts := int64(1796640000)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts, 10) + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := Sign(secret, ts, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	now := time.Unix(ts, 0).Add(time.Minute)
	if err := Verify(secret, strconv.FormatInt(ts, 10), want, body, now, DefaultTolerance); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for name, tc := range map[string]struct {
		ts, sig string
		body    []byte
		now     time.Time
	}{
		"body changed":    {strconv.FormatInt(ts, 10), want, []byte(`{"id":8}`), now},
		"timestamp moved": {strconv.FormatInt(ts+1, 10), want, body, now},
		"replayed later":  {strconv.FormatInt(ts, 10), want, body, now.Add(time.Hour)},
		"bad timestamp":   {"yesterday", want, body, now},
		"other secret":    {strconv.FormatInt(ts, 10), Sign([]byte("another secret 123"), ts, body), body, now},
	} {
		if err := Verify(secret, tc.ts, tc.sig, tc.body, tc.now, DefaultTolerance); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestSecrets(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if a == b || !strings.HasPrefix(a, "whsec_") || CheckSecret(a) != nil {
		t.Fatalf("generated secrets %q %q", a, b)
	}
	if CheckSecret("short") == nil || CheckSecret(strings.Repeat("x", MaxSecretLen+1)) == nil {
		t.Fatal("bad secret lengths accepted")
	}

	s1, _ := NewSealer([]byte("auth secret one 0123456789abcdef"))
	s2, _ := NewSealer([]byte("auth secret two 0123456789abcdef"))
	sealed, err := s1.Seal("wh-1", a)
	if err != nil || strings.Contains(sealed, a) {
		t.Fatalf("Seal = %q, %v", sealed, err)
	}
	if again, _ := s1.Seal("wh-1", a); again == sealed {
		t.Fatal("sealing twice gave the same text (nonce reused)")
	}
	if got, err := s1.Open("wh-1", sealed); err != nil || string(got) != a {
		t.Fatalf("Open = %q, %v", got, err)
	}
	for name, open := range map[string]func() ([]byte, error){
		"other webhook": func() ([]byte, error) { return s1.Open("wh-2", sealed) },
		"other key":     func() ([]byte, error) { return s2.Open("wh-1", sealed) },
		"altered":       func() ([]byte, error) { return s1.Open("wh-1", sealed[:len(sealed)-2]+"AA") },
		"not sealed":    func() ([]byte, error) { return s1.Open("wh-1", a) },
	} {
		if _, err := open(); !errors.Is(err, ErrUnsealable) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := NewSealer(nil); err == nil {
		t.Fatal("empty auth secret accepted")
	}
}

func TestBackoffAndState(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 12; n++ {
		got = append(got, Backoff(n))
	}
	if got[0] != time.Second || got[1] != 2*time.Second || got[5] != 32*time.Second || got[11] != MaxRetryInterval {
		t.Fatalf("Backoff = %v", got)
	}
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	st := Failed(store.WebhookState{EventCursor: 4}, t0, "HTTP 500")
	st = Failed(st, t0.Add(time.Second), strings.Repeat("é", 400))
	if st.Attempts != 2 || !st.NextAttemptAt.Equal(t0.Add(3*time.Second)) || !st.FailingSince.Equal(t0) ||
		len(st.LastError) > maxErrorLen+len("…") || !strings.HasSuffix(st.LastError, "…") || st.EventCursor != 4 {
		t.Fatalf("after two failures: %+v", st)
	}
	st = Delivered(st, 9, t0.Add(5*time.Second))
	if st.EventCursor != 9 || st.Attempts != 0 || st.NextAttemptAt != nil || st.FailingSince != nil || !st.LastSuccessAt.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("after delivery: %+v", st)
	}
	st = Expired(st, 12, 3, t0.Add(time.Hour))
	if st.EventCursor != 12 || st.Expired != 3 || st.FailingSince == nil || !strings.Contains(st.LastError, "3 event(s)") {
		t.Fatalf("after giving up: %+v", st)
	}

	evs := []event.Event{{ID: 1, Time: t0}, {ID: 2, Time: t0.Add(time.Hour)}, {ID: 3, Time: t0}}
	if n := expiredRun(evs, t0.Add(30*time.Minute), 30*time.Minute); n != 1 {
		t.Fatalf("expiredRun = %d, want 1 (stops at the first live event)", n)
	}
}

func TestPrintable(t *testing.T) {
	if got := printable([]byte("oops\r\n\tline two \x00\xff")); got != "oops line two �" {
		t.Fatalf("printable = %q", got)
	}
}
