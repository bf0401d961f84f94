// Package displaymessage decides what the CSMS believes a 2.0.1 station
// shows on its display (OCPP O): a message the station accepted from
// SetDisplayMessage is held, one it cleared (or does not know) is gone,
// and a NotifyDisplayMessages report is the truth about the messages its
// GetDisplayMessages request asked for: those reported are held as
// reported, those the request covered but the report leaves out are gone
// (a station answering Unknown has none that match). Messages the request
// did not cover stay as they are: a report for ids 1 and 2 says nothing
// about message 3.
package displaymessage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/chargeplane/chargeplane/api/store"
	ocpp201 "github.com/chargeplane/chargeplane/pkg/ocpp/v201"
)

// Query is what a GetDisplayMessages request selects; zero fields select
// every message.
type Query struct {
	IDs      []int  `json:"ids,omitempty"`
	Priority string `json:"priority,omitempty"`
	State    string `json:"state,omitempty"`
}

// QueryOf is the query of a GetDisplayMessages request.
func QueryOf(req *ocpp201.GetDisplayMessagesRequest) Query {
	return Query{IDs: req.Id, Priority: string(req.Priority), State: string(req.State)}
}

// Matches tells whether the station would report m for q.
func (q Query) Matches(m store.DisplayMessage) bool {
	return (len(q.IDs) == 0 || slices.Contains(q.IDs, m.MessageID)) &&
		(q.Priority == "" || q.Priority == m.Priority) && (q.State == "" || q.State == m.State)
}

// FromInfo is the stored form of a MessageInfo, raw as sent or reported
// (nothing the station said is lost), from source.
func FromInfo(raw json.RawMessage, source string) (store.DisplayMessage, error) {
	var info ocpp201.MessageInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return store.DisplayMessage{}, fmt.Errorf("display message: %w", err)
	}
	m := store.DisplayMessage{MessageID: info.Id, Priority: string(info.Priority), State: string(info.State),
		TransactionID: info.TransactionId, Info: string(raw), Source: source}
	if !info.StartDateTime.IsZero() {
		m.StartAt = &info.StartDateTime
	}
	if !info.EndDateTime.IsZero() {
		m.EndAt = &info.EndDateTime
	}
	return m, nil
}

// Reconcile is the edit a report makes: every reported message is held
// (the last of an id reported twice, as a retried part would); with the
// query of the request it answers (nil when the CSMS does not know the
// request), every held message the query matches and the report leaves
// out is removed.
func Reconcile(current []store.DisplayMessage, q *Query, reported []store.DisplayMessage) store.DisplayMessageEdit {
	var e store.DisplayMessageEdit
	in := make(map[int]int, len(reported)) // id → index in e.Upsert
	for _, m := range reported {
		if i, ok := in[m.MessageID]; ok {
			e.Upsert[i] = m
			continue
		}
		in[m.MessageID] = len(e.Upsert)
		e.Upsert = append(e.Upsert, m)
	}
	if q == nil {
		return e
	}
	for _, m := range current {
		if _, held := in[m.MessageID]; q.Matches(m) && !held {
			e.Remove = append(e.Remove, m.MessageID)
		}
	}
	return e
}

// Shown drops the messages whose end time has passed at now: the station
// removes those itself (O01: "after this date/time this message SHALL be
// removed").
func Shown(ms []store.DisplayMessage, now time.Time) []store.DisplayMessage {
	return slices.DeleteFunc(ms, func(m store.DisplayMessage) bool { return m.EndAt != nil && !m.EndAt.After(now) })
}

// Store keeps the messages, the criteria of pending requests, and the
// reassembled reports; *store.Store has it.
type Store interface {
	ListDisplayMessages(ctx context.Context, stationID string) ([]store.DisplayMessage, error)
	EditDisplayMessages(ctx context.Context, stationID string, plan func(current []store.DisplayMessage) (store.DisplayMessageEdit, error)) error
	SaveDisplayMessageQuery(ctx context.Context, stationID string, requestID int, criteria string) error
	DisplayMessageQuery(ctx context.Context, stationID string, requestID int) (string, error)
	Report(ctx context.Context, stationID, kind string, requestID int) (*store.DeviceModelReport, error)
}

// Messages applies answers and reports to the stored messages.
type Messages struct {
	Store Store
	Now   func() time.Time
}

// Set holds a message the station accepted.
func (s Messages) Set(ctx context.Context, stationID string, raw json.RawMessage) (*store.DisplayMessage, error) {
	m, err := FromInfo(raw, store.DisplayMessageSet)
	if err != nil {
		return nil, err
	}
	err = s.Store.EditDisplayMessages(ctx, stationID, func([]store.DisplayMessage) (store.DisplayMessageEdit, error) {
		return store.DisplayMessageEdit{Upsert: []store.DisplayMessage{m}}, nil
	})
	return &m, err
}

// Cleared forgets a message the station removed, or said it does not have.
func (s Messages) Cleared(ctx context.Context, stationID string, id int) error {
	return s.Store.EditDisplayMessages(ctx, stationID, func([]store.DisplayMessage) (store.DisplayMessageEdit, error) {
		return store.DisplayMessageEdit{Remove: []int{id}}, nil
	})
}

// Queried applies a GetDisplayMessages answer: Unknown means the station
// has no message matching q; Accepted means a report follows, which is
// applied now if it has come already (it travels another path than the
// answer and may overtake it), else when it completes.
func (s Messages) Queried(ctx context.Context, stationID string, requestID int, q Query, accepted bool) error {
	if !accepted {
		return s.Store.EditDisplayMessages(ctx, stationID, func(current []store.DisplayMessage) (store.DisplayMessageEdit, error) {
			return Reconcile(current, &q, nil), nil
		})
	}
	criteria, err := json.Marshal(q)
	if err != nil {
		return err
	}
	if err := s.Store.SaveDisplayMessageQuery(ctx, stationID, requestID, string(criteria)); err != nil {
		return err
	}
	return s.Reported(ctx, stationID, requestID)
}

// Reported applies the station's complete report for requestID, with the
// query of that request when the CSMS knows it; nothing while the report
// is incomplete.
func (s Messages) Reported(ctx context.Context, stationID string, requestID int) error {
	rep, err := s.Store.Report(ctx, stationID, store.ReportKindDisplayMessages, requestID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var q *Query
	criteria, err := s.Store.DisplayMessageQuery(ctx, stationID, requestID)
	switch {
	case err == nil:
		q = new(Query)
		if err := json.Unmarshal([]byte(criteria), q); err != nil {
			return fmt.Errorf("display message query %d: %w", requestID, err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	reported := make([]store.DisplayMessage, 0, len(rep.Data))
	for _, raw := range rep.Data {
		m, err := FromInfo(raw, store.DisplayMessageReported)
		if err != nil {
			return err
		}
		reported = append(reported, m)
	}
	return s.Store.EditDisplayMessages(ctx, stationID, func(current []store.DisplayMessage) (store.DisplayMessageEdit, error) {
		return Reconcile(current, q, reported), nil
	})
}

// Current is what the station shows now, by id.
func (s Messages) Current(ctx context.Context, stationID string) ([]store.DisplayMessage, error) {
	ms, err := s.Store.ListDisplayMessages(ctx, stationID)
	if err != nil {
		return nil, err
	}
	return Shown(ms, s.now()), nil
}

func (s Messages) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}
