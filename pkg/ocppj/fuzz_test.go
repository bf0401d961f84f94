package ocppj

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every rejected frame can be
// answered as Answer says, and that every accepted frame survives a round
// trip through the encoders unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`[2,"1","Heartbeat",{}]`,
		`[3,"1",{"currentTime":"2024-01-01T00:00:00Z"}]`,
		`[4,"1","GenericError","x",{}]`,
		`[4,"1","GenericError","x"]`,
		`[2,"x1"]`,
		`[]`,
		`null`,
		`[6,"1","NotifyPeriodicEventStream",{}]`,
		"[2,\"\xff\",\"A\",{}]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, err := Parse(in)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrParse) {
				t.Fatalf("error %v (%T) is not a *ParseError matching ErrParse", err, err)
			}
			if pe.ID == "" {
				t.Fatal("ParseError with empty ID")
			}
			for _, v := range []Version{V16, V201} {
				code, answer := pe.Answer(v)
				if !answer {
					continue
				}
				out, err := EncodeCallError(pe.ID, code, pe.Reason, nil)
				if err != nil {
					t.Fatalf("cannot answer %q: %v", in, err)
				}
				back, err := Parse(out)
				if err != nil || back.Type != CallError || back.ErrorCode != code {
					t.Fatalf("answer %s does not parse back: %+v, %v", out, back, err)
				}
			}
			return
		}

		var out []byte
		switch fr.Type {
		case Call:
			out, err = EncodeCall(fr.ID, fr.Action, fr.Payload)
		case CallResult:
			out, err = EncodeCallResult(fr.ID, fr.Payload)
		case CallError:
			out, err = EncodeCallError(fr.ID, fr.ErrorCode, fr.ErrorDescription, fr.ErrorDetails)
		default:
			t.Fatalf("Parse returned type %d without error", fr.Type)
		}
		if err != nil {
			t.Fatalf("re-encode %+v: %v", fr, err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse %s: %v", out, err)
		}
		if back.Type != fr.Type || back.ID != fr.ID || back.Action != fr.Action ||
			!bytes.Equal(back.Payload, fr.Payload) || back.ErrorCode != fr.ErrorCode ||
			!bytes.Equal(back.ErrorDetails, fr.ErrorDetails) ||
			!strings.HasPrefix(fr.ErrorDescription, back.ErrorDescription) {
			t.Fatalf("round trip changed the frame:\n in  %+v\n out %+v", fr, back)
		}
	})
}
