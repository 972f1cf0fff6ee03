package clusterlock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

// testClock is a clock only the test moves. Renewals are timed by Locks.Now, so on it a
// loaded machine that runs the renewing goroutine late cannot make a lease run out: the
// lease's time passes only when the test says so.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// renewThrough moves the clock a third of lease at a time, n times, and each time waits until
// the holder made its next renewal and removed the previous one (the claim and one renewal
// left).
func renewThrough(t *testing.T, f *swarmtest.Fake, clock *testClock, lease time.Duration, n int) {
	t.Helper()
	for i := range n {
		want := len(f.Calls("create-config")) + 1
		clock.Advance(lease / 3)
		waitFor(t, func() bool { return len(f.Calls("create-config")) >= want && len(f.Configs()) == 2 },
			"renewal %d: create-config calls %v, configs %v", i+1, f.Calls("create-config"), f.Configs())
	}
}

// waitFor waits up to 10 s of real time for cond (a generous bound: on the test clock nothing
// expires meanwhile) and fails with the message when it never holds.
func waitFor(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf(format, args...)
		}
	}
}
