package rabbitmq

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestAssignIsEvenDeterministicAndStable(t *testing.T) {
	const partitions = 16
	ids := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, "core-"+strconv.Itoa(i))
		}
		return out
	}
	for n := 1; n <= 5; n++ {
		owners := assign(ids(n), partitions)
		load := map[string]int{}
		for p, o := range owners {
			if o == "" {
				t.Fatalf("%d members: partition %d has no owner", n, p)
			}
			load[o]++
		}
		lo, hi := partitions/n, (partitions+n-1)/n
		for id, l := range load {
			if l < lo-1 || l > hi {
				t.Errorf("%d members: %s owns %d partitions, want %d..%d", n, id, l, lo, hi)
			}
		}
		if len(load) != n {
			t.Errorf("%d members: only %d own partitions", n, len(load))
		}
		shuffled := slices.Clone(ids(n))
		slices.Reverse(shuffled)
		if got := assign(shuffled, partitions); !slices.Equal(got, owners) {
			t.Errorf("%d members: the assignment depends on the order of the member list", n)
		}
	}
	// A third instance joining takes partitions only for itself: the
	// others keep most of what they had.
	before, after := assign(ids(2), partitions), assign(ids(3), partitions)
	moved := 0
	for p := range partitions {
		if before[p] != after[p] && after[p] != "core-2" {
			moved++
		}
	}
	if moved > partitions/4 {
		t.Errorf("%d partitions moved between the existing instances when a third joined", moved)
	}
}

func TestMembershipViewAndHandOverDecisions(t *testing.T) {
	now := time.Unix(1000, 0)
	m := newMembership("a", 8, 5*time.Second, 5*time.Second)
	m.now = func() time.Time { return now }
	if got := m.assignment().Owned; len(got) != 8 {
		t.Fatalf("alone, a owns %v, want all 8", got)
	}
	ps := make([]*partitionState, 8)
	for p := range ps {
		ps[p] = &partitionState{m: m, p: p}
		if ps[p].onDelivery() || ps[p].onChange() {
			t.Fatalf("partition %d handed over while a owns everything", p)
		}
	}
	if !m.observe("b", memberJoin) {
		t.Fatal("a join did not change the view")
	}
	if m.observe("b", memberBeat) {
		t.Fatal("a beat of a known member changed the view")
	}
	a := m.assignment()
	if len(a.Owned) != 4 || !slices.Equal(a.Members, []string{"a", "b"}) {
		t.Fatalf("with b: %+v, want 4 partitions of 8 and members [a b]", a)
	}
	var foreign int
	for p := range ps {
		if slices.Contains(a.Owned, p) {
			if ps[p].onChange() {
				t.Errorf("partition %d owned by a handed over", p)
			}
			continue
		}
		foreign = p
		if !ps[p].onChange() {
			t.Errorf("partition %d owned by b not handed over on the change", p)
		}
		if ps[p].onChange() {
			t.Errorf("partition %d handed over twice in one epoch", p)
		}
	}
	// It came back at once: b is not in line. Keep it for the cooldown.
	if ps[foreign].onDelivery() {
		t.Error("a partition that came straight back was handed over again within the cooldown")
	}
	now = now.Add(6 * time.Second)
	if !ps[foreign].onDelivery() {
		t.Error("after the cooldown a delivery for b's partition was not offered to b")
	}
	// b stops beating: after the TTL a owns everything again.
	if !m.expire() || len(m.assignment().Owned) != 8 {
		t.Fatalf("b not expired after the TTL: %+v", m.assignment())
	}
	m.observe("b", memberJoin)
	if !m.observe("b", memberLeave) || len(m.assignment().Owned) != 8 {
		t.Fatalf("b's leave not applied: %+v", m.assignment())
	}
}
