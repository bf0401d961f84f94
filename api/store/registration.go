package store

import (
	"context"
	"fmt"
	"time"
)

// Standing is what the core checks on every message a charger sends:
// whether the station may talk (its registration status) and when it was
// last seen.
type Standing struct {
	RegistrationStatus string
	LastSeen           *time.Time
	// Blocked by an operator: its connection is being closed, and nothing
	// it sends meanwhile is processed.
	Blocked bool
}

// GetStanding reads a station's Standing: two columns of one row, without
// the connectors GetStation loads, because it runs once per charger message
// (ErrNotFound for an unknown station).
func (s *Store) GetStanding(ctx context.Context, id string) (Standing, error) {
	var st Standing
	err := s.db.WithContext(ctx).Model(&Station{}).Select("registration_status", "last_seen", "blocked").
		Where("id = ?", id).Take(&st).Error
	if err != nil {
		return Standing{}, translate(fmt.Sprintf("store: get standing of %q", id), err)
	}
	if st.LastSeen != nil {
		t := st.LastSeen.UTC()
		st.LastSeen = &t
	}
	return st, nil
}

// GetStandings reads the Standing of many stations in one query; stations
// that do not exist are absent from the result. The router's group reads
// use it (one query for all the messages waiting for one).
func (s *Store) GetStandings(ctx context.Context, ids []string) (map[string]Standing, error) {
	out := make(map[string]Standing, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID string
		Standing
	}
	err := s.db.WithContext(ctx).Model(&Station{}).Select("id", "registration_status", "last_seen", "blocked").
		Where("id IN ?", ids).Find(&rows).Error
	if err != nil {
		return nil, translate("store: get standings", err)
	}
	for _, r := range rows {
		st := r.Standing
		if st.LastSeen != nil {
			t := st.LastSeen.UTC()
			st.LastSeen = &t
		}
		out[r.ID] = st
	}
	return out, nil
}

// OnboardingOf reads the station's onboarding state (ErrNotFound for an
// unknown station): a BootNotification is answered with it.
func (s *Store) OnboardingOf(ctx context.Context, id string) (string, error) {
	var state string
	err := s.db.WithContext(ctx).Model(&Station{}).Select("onboarding").Where("id = ?", id).Take(&state).Error
	if err != nil {
		return "", translate(fmt.Sprintf("store: get onboarding of %q", id), err)
	}
	return state, nil
}

// CurrentConnections returns, for each of ids that exists, the id of its
// current connection, empty while it is not connected. The command
// dispatcher checks with it that the connections its commands wait on are
// still there.
func (s *Store) CurrentConnections(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for start := 0; start < len(ids); start += maxIDsPerQuery {
		var rows []struct {
			ID           string
			ConnectionID string
			Connected    bool
		}
		chunk := ids[start:min(start+maxIDsPerQuery, len(ids))]
		err := s.db.WithContext(ctx).Model(&Station{}).Select("id", "connection_id", "connected").
			Where("id IN ?", chunk).Find(&rows).Error
		if err != nil {
			return nil, translate("store: current connections", err)
		}
		for _, r := range rows {
			if r.Connected {
				out[r.ID] = r.ConnectionID
			} else {
				out[r.ID] = ""
			}
		}
	}
	return out, nil
}

// maxIDsPerQuery keeps an IN list under both databases' bound-parameter
// limits.
const maxIDsPerQuery = 1000
