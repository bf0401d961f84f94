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
}

// GetStanding reads a station's Standing: two columns of one row, without
// the connectors GetStation loads, because it runs once per charger message
// (ErrNotFound for an unknown station).
func (s *Store) GetStanding(ctx context.Context, id string) (Standing, error) {
	var st Standing
	err := s.db.WithContext(ctx).Model(&Station{}).Select("registration_status", "last_seen").
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
