package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// Concurrent creates (several requests, several core instances) never make
// more than MaxWebhooks: exactly the free places are taken, every other
// create is ErrTooManyWebhooks.
func TestCreateWebhookBoundUnderConcurrency(t *testing.T) {
	each(t, func(t *testing.T, s *Store, _ *clock) {
		ctx := context.Background()
		const before, racing = MaxWebhooks - 20, 60
		create := func(id string) error {
			return s.CreateWebhook(ctx, &Webhook{ID: id, URL: "https://example.com/hook", SealedSecret: "v1:x", Enabled: true})
		}
		for i := range before {
			if err := create(fmt.Sprintf("pre-%03d", i)); err != nil {
				t.Fatalf("create %d: %v", i, err)
			}
		}
		errs := make([]error, racing)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racing {
			wg.Go(func() {
				<-start
				errs[i] = create(fmt.Sprintf("race-%03d", i))
			})
		}
		close(start)
		wg.Wait()
		created, refused := 0, 0
		for i, err := range errs {
			switch {
			case err == nil:
				created++
			case errors.Is(err, ErrTooManyWebhooks):
				refused++
			default:
				t.Errorf("create %d: %v", i, err)
			}
		}
		if created != MaxWebhooks-before || refused != racing-created {
			t.Errorf("%d created, %d refused; want %d and %d", created, refused, MaxWebhooks-before, racing-(MaxWebhooks-before))
		}
		var n int64
		if err := s.db.Model(&Webhook{}).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n != MaxWebhooks {
			t.Errorf("%d webhooks stored, want %d", n, MaxWebhooks)
		}
	})
}
