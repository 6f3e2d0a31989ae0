package queue_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fieldflow/fieldflow/internal/queue"
)

// A queue over jobs that a caller hands over right after creating them
// (the fast path): Claim finds nothing left in the "database", Do does a
// job, and Write records a batch of results. Stop lets the jobs finish,
// writes what is left and releases the leases.
func Example() {
	type job struct{ id, endpoint string }
	var (
		mu      sync.Mutex
		written []string
		done    sync.WaitGroup
	)
	q := queue.New(queue.Config[job, string]{
		Workers: 1, // one worker keeps this example's output in order
		ID:      func(j job) string { return j.id },
		Key:     func(j job) string { return j.endpoint },
		Claim:   func(ctx context.Context, p queue.ClaimParams) ([]job, error) { return nil, nil },
		Owner:   "example",
		Leases:  noLeases{},
		Do: func(ctx context.Context, j job) (string, bool) {
			fmt.Println("send", j.id, "to", j.endpoint)
			return j.id + " succeeded", true
		},
		Write: func(ctx context.Context, batch []string) []time.Time {
			mu.Lock()
			written = append(written, batch...)
			mu.Unlock()
			for range batch {
				done.Done()
			}
			return nil // no retries to wake up for
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err := q.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	done.Add(3)
	q.Enqueue(job{"dlv_1", "wh_a"}, job{"dlv_2", "wh_a"}, job{"dlv_3", "wh_a"})
	done.Wait()
	q.Stop(context.Background())
	fmt.Println(len(written), "results written")
	// Output:
	// send dlv_1 to wh_a
	// send dlv_2 to wh_a
	// send dlv_3 to wh_a
	// 3 results written
}

// noLeases keeps jobs in memory only: nothing to extend or release.
type noLeases struct{}

func (noLeases) ExtendLeases(context.Context, string, []string, time.Time) error { return nil }
func (noLeases) ReleaseLeases(context.Context, string) error                     { return nil }
