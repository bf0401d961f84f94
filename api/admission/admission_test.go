package admission_test

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/chargeplane/chargeplane/api/admission"
	"github.com/chargeplane/chargeplane/api/pki/pkitest"
)

func TestDecide(t *testing.T) {
	now := time.Now()
	ca := pkitest.NewRoot(t, "CSMS CA", time.Time{}, time.Time{})
	key := pkitest.Key(t, "p256")
	cert := func(cn, o string, notAfter time.Time) *x509.Certificate {
		var orgs []string
		if o != "" {
			orgs = []string{o}
		}
		return ca.Leaf(t, pkix.Name{CommonName: cn, Organization: orgs}, key.Public(), notAfter)
	}
	good := cert("CS1", "CPO", time.Time{})
	other := cert("CS2", "CPO", time.Time{})
	noOrg := cert("CS1", "", time.Time{})
	expired := cert("CS1", "CPO", now.Add(-time.Minute))
	serverOnly := func() *x509.Certificate {
		tmpl := &x509.Certificate{
			SerialNumber: good.SerialNumber, Subject: pkix.Name{CommonName: "CS1", Organization: []string{"CPO"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}()

	pol := admission.Policy{Organization: "CPO"}
	st := func(profile int, pw bool) admission.Station {
		return admission.Station{ID: "CS1", Profile: profile, HasPassword: pw}
	}
	basic := admission.Attempt{BasicAuth: true, Username: "CS1"}
	basicTLS := admission.Attempt{TLS: true, BasicAuth: true, Username: "CS1"}
	const (
		admit = "admit"
		pw    = "password"
	)
	for _, tc := range []struct {
		name string
		pol  admission.Policy
		st   admission.Station
		a    admission.Attempt
		want string // admit, password or the failed check
	}{
		{"0 plain no creds", pol, st(0, false), admission.Attempt{}, admit},
		{"0 TLS no creds", pol, st(0, false), admission.Attempt{TLS: true}, admit},
		{"0 below minimum", admission.Policy{MinProfile: 1}, st(0, false), admission.Attempt{}, string(admission.CheckBelowMinimum)},
		{"1 below minimum 2", admission.Policy{MinProfile: 2}, st(1, true), basicTLS, string(admission.CheckBelowMinimum)},
		{"1 plain basic", pol, st(1, true), basic, pw},
		{"1 TLS basic", pol, st(1, true), basicTLS, pw},
		{"1 no basic", pol, st(1, true), admission.Attempt{}, string(admission.CheckNoBasicAuth)},
		{"1 other username", pol, st(1, true), admission.Attempt{BasicAuth: true, Username: "CS2"}, string(admission.CheckUsername)},
		{"1 without stored password", pol, st(1, false), basic, string(admission.CheckNoPassword)},
		{"1 a certificate is no password", pol, st(1, true), admission.Attempt{TLS: true, Cert: good}, string(admission.CheckNoBasicAuth)},
		{"2 TLS basic", pol, st(2, true), basicTLS, pw},
		{"2 plain basic", pol, st(2, true), basic, string(admission.CheckPlainListener)},
		{"2 TLS no basic", pol, st(2, true), admission.Attempt{TLS: true}, string(admission.CheckNoBasicAuth)},
		{"3 right cert", pol, st(3, false), admission.Attempt{TLS: true, Cert: good}, admit},
		{"3 right cert, no O policy", admission.Policy{}, st(3, false), admission.Attempt{TLS: true, Cert: noOrg}, admit},
		{"3 right cert over plain (forwarded by an untrusted peer)", pol, st(3, false), admission.Attempt{Cert: good}, string(admission.CheckPlainListener)},
		{"3 basic only", pol, st(3, true), basicTLS, string(admission.CheckNoCertificate)},
		{"3 no cert", pol, st(3, false), admission.Attempt{TLS: true}, string(admission.CheckNoCertificate)},
		{"3 other station's cert", pol, st(3, false), admission.Attempt{TLS: true, Cert: other}, string(admission.CheckCertCommonName)},
		{"3 wrong O", pol, st(3, false), admission.Attempt{TLS: true, Cert: noOrg}, string(admission.CheckCertOrganization)},
		{"3 expired", pol, st(3, false), admission.Attempt{TLS: true, Cert: expired, CertError: "x509: certificate has expired"}, string(admission.CheckCertExpired)},
		{"3 unverified (self-signed, other CA)", pol, st(3, false), admission.Attempt{TLS: true, Cert: good, CertError: "x509: certificate signed by unknown authority"}, string(admission.CheckCertUnverified)},
		{"3 unreadable forwarded cert", pol, st(3, false), admission.Attempt{TLS: true, CertError: "unreadable"}, string(admission.CheckCertUnverified)},
		{"3 server-only EKU", pol, st(3, false), admission.Attempt{TLS: true, Cert: serverOnly}, string(admission.CheckCertUsage)},
		{"unknown profile", pol, st(7, true), basicTLS, string(admission.CheckUnknownProfile)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := admission.Decide(tc.pol, tc.st, tc.a, now)
			got := string(r.Failed)
			switch {
			case r.Admit:
				got = admit
			case r.NeedPassword:
				got = pw
			}
			if got != tc.want {
				t.Fatalf("Decide = %+v, want %s", r, tc.want)
			}
			if (r.Admit || r.NeedPassword) != (r.Failed == "") || (r.Failed != "") != (r.Reason != "") {
				t.Fatalf("inconsistent result %+v", r)
			}
		})
	}
}

func TestDefaultProfile(t *testing.T) {
	if admission.DefaultProfile(true) != admission.ProfileBasic || admission.DefaultProfile(false) != admission.ProfileNone {
		t.Fatal("default profile: 1 with a password, 0 without")
	}
}

// Strength is what a connection proved, not the station's profile: a
// profile-1 station that came over TLS already meets profile 2, one that
// also showed its certificate meets 3.
func TestStrength(t *testing.T) {
	now := time.Now()
	ca := pkitest.NewRoot(t, "CSMS CA", time.Time{}, time.Time{})
	key := pkitest.Key(t, "p256")
	good := ca.Leaf(t, pkix.Name{CommonName: "CS1", Organization: []string{"CPO"}}, key.Public(), time.Time{})
	other := ca.Leaf(t, pkix.Name{CommonName: "CS2", Organization: []string{"CPO"}}, key.Public(), time.Time{})
	pol := admission.Policy{Organization: "CPO"}
	for _, tc := range []struct {
		name       string
		profile    int
		a          admission.Attempt
		passwordOK bool
		want       int
	}{
		{"no credentials", 0, admission.Attempt{TLS: true}, false, 0},
		{"password not checked (profile 0)", 0, admission.Attempt{BasicAuth: true, Username: "CS1"}, false, 0},
		{"password, plain", 1, admission.Attempt{BasicAuth: true, Username: "CS1"}, true, 1},
		{"password, TLS", 1, admission.Attempt{TLS: true, BasicAuth: true, Username: "CS1"}, true, 2},
		{"password and the right certificate", 2, admission.Attempt{TLS: true, BasicAuth: true, Username: "CS1", Cert: good}, true, 3},
		{"password and another station's certificate", 2, admission.Attempt{TLS: true, BasicAuth: true, Username: "CS1", Cert: other}, true, 2},
		{"password and an untrusted certificate", 2, admission.Attempt{TLS: true, BasicAuth: true, Username: "CS1", Cert: good, CertError: "unknown authority"}, true, 2},
		{"certificate, plain (untrusted forwarder)", 1, admission.Attempt{Cert: good, BasicAuth: true, Username: "CS1"}, true, 1},
		{"certificate", 3, admission.Attempt{TLS: true, Cert: good}, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := admission.Station{ID: "CS1", Profile: tc.profile, HasPassword: tc.passwordOK}
			if got := admission.Strength(pol, st, tc.a, tc.passwordOK, now); got != tc.want {
				t.Fatalf("Strength = %d, want %d", got, tc.want)
			}
		})
	}
}
