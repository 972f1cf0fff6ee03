package history

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/operation"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func run(op, target string, at time.Time, err error) operation.Result {
	r := operation.Result{Operation: op, Target: target, OK: true, StartedAt: at, Duration: operation.Duration(1500 * time.Millisecond), Steps: []operation.Step{}}
	r.Fail(err)
	return r
}

func open(t *testing.T, dir string, days int, c *clock) *Store {
	t.Helper()
	s, err := Open(dir, days, Options{LockWait: 200 * time.Millisecond, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreListsNewestFirstAndKeepsTheLastPerTarget(t *testing.T) {
	c := &clock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	s := open(t, dir, 30, c)
	t0 := c.Now().Add(-time.Hour)
	add := func(id string, r operation.Result) {
		t.Helper()
		if err := s.Add(FromResult(id, "cron", r, nil)); err != nil {
			t.Fatal(err)
		}
	}
	add("a", run("backup-service", "shop_db", t0, nil))
	add("b", run("backup-service", "shop_db", t0.Add(time.Minute), errors.New("upload failed")))
	add("c", run("clean-node", "worker-1", t0.Add(2*time.Minute), nil))
	// The nodes of one clean-node --all end in any order: an older run stored later is not "last".
	add("d", run("clean-node", "worker-1", t0.Add(-time.Minute), errors.New("older")))

	ids := func(recs []Record) string {
		var out []string
		for _, r := range recs {
			out = append(out, r.ID)
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		name string
		f    Filter
		want string
	}{
		{"all", Filter{}, "c,b,a,d"},
		{"operation", Filter{Operation: "backup-service"}, "b,a"},
		{"target", Filter{Target: "worker-1"}, "c,d"},
		{"limit", Filter{Limit: 2}, "c,b"},
		{"visible", Filter{Visible: func(r Record) bool { return !r.OK }}, "b,d"},
	}
	for _, tt := range tests {
		got, err := s.List(tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if ids(got) != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, ids(got), tt.want)
		}
	}
	last, _ := s.Last()
	lastOK, _ := s.LastSuccess()
	byTarget := func(recs []Record) map[string]string {
		m := map[string]string{}
		for _, r := range recs {
			m[r.Operation+" "+r.Target] = r.ID
		}
		return m
	}
	if got := byTarget(last); got["backup-service shop_db"] != "b" || got["clean-node worker-1"] != "c" || len(got) != 2 {
		t.Errorf("Last = %v", got)
	}
	if got := byTarget(lastOK); got["backup-service shop_db"] != "a" || got["clean-node worker-1"] != "c" {
		t.Errorf("LastSuccess = %v", got)
	}

	// Reopened (a restart), the runs are there.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, 30, c)
	defer s.Close()
	rec, ok, err := s.Get("b")
	if err != nil || !ok || rec.Error != "upload failed" || rec.Outcome != "docker" || rec.DurationMs != 1500 || rec.Who != "cron" {
		t.Errorf("Get(b) after reopening = %+v, %v, %v", rec, ok, err)
	}
	if _, ok, _ := s.Get("nope"); ok {
		t.Error("Get of an unknown id found a run")
	}
}

func TestStorePrunesPastTheRetention(t *testing.T) {
	c := &clock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	s := open(t, dir, 2, c)
	_ = s.Add(FromResult("old", "cli", run("clean-service", "web", c.Now().Add(-47*time.Hour), nil), nil))
	_ = s.Add(FromResult("new", "cli", run("clean-service", "web", c.Now().Add(-time.Hour), nil), nil))
	_ = s.Add(FromResult("gone", "cli", run("clean-service", "old_svc", c.Now().Add(-47*time.Hour), nil), nil))
	c.add(2 * time.Hour) // "old" and "gone" are now 49 h old
	if n, err := s.Prune(); err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v; want 2", n, err)
	}
	if _, ok, _ := s.Get("old"); ok {
		t.Error("a pruned run is still found by id")
	}
	if _, ok, _ := s.Get("new"); !ok {
		t.Error("a run within the retention was pruned")
	}
	last, _ := s.Last()
	if len(last) != 1 || last[0].ID != "new" {
		t.Errorf("Last after the prune = %+v, want only new", last)
	}
	_ = s.Close()
	// Opening prunes too.
	c.add(48 * time.Hour)
	s = open(t, dir, 2, c)
	defer s.Close()
	if all, _ := s.List(Filter{}); len(all) != 0 {
		t.Errorf("open did not prune: %d runs", len(all))
	}
}

// One process holds the store: a second Open waits LockWait, then fails (a CLI next to serve).
func TestStoreIsHeldByOneProcess(t *testing.T) {
	c := &clock{now: time.Now()}
	dir := t.TempDir()
	s := open(t, dir, 30, c)
	defer s.Close()
	if _, err := Open(dir, 30, Options{LockWait: 100 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, FileName)) {
		t.Errorf("second Open = %v, want a timeout naming the file", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Error(err)
	}
}

func TestRecordIsBounded(t *testing.T) {
	r := run("clean-node", "worker-1", time.Now(), errors.New(strings.Repeat("é", 5000)+" token-value"))
	for i := range 100 {
		r.Steps = append(r.Steps, operation.Step{Name: "prune", Error: strings.Repeat("x", 5000), Tasks: []operation.TaskResult{{Logs: strings.Repeat("l", 100000)}},
			Details: map[string]string{"a": "1", "token": "token-value"}})
		_ = i
	}
	rec := FromResult("id", "admin", r, func(s string) string { return strings.ReplaceAll(s, "token-value", "***") })
	if len(rec.Steps) != MaxSteps || rec.MoreSteps != 100-MaxSteps {
		t.Errorf("steps %d, more %d", len(rec.Steps), rec.MoreSteps)
	}
	if len(rec.Error) > MaxErrorBytes || len(rec.Steps[0].Error) > MaxErrorBytes || !strings.HasSuffix(rec.Error, "…") {
		t.Errorf("errors are not bounded: %d, %d", len(rec.Error), len(rec.Steps[0].Error))
	}
	if rec.Steps[0].Details["token"] != "***" {
		t.Errorf("a detail is not masked: %q", rec.Steps[0].Details["token"])
	}
	if strings.Contains(rec.Error, "\uFFFD") {
		t.Error("the cut split a rune")
	}
}
