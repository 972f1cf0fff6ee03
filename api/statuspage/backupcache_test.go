package statuspage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/parse"
)

// slowBackups is a catalogue whose reads wait for release (closed: no wait), counted.
type slowBackups struct {
	reads   atomic.Int32
	release chan struct{}
	err     error
	ctxErr  atomic.Value // the read's context error when it returned
}

func (s *slowBackups) BackupsOf(ctx context.Context, svc parse.Service) (restore.Listing, error) {
	s.reads.Add(1)
	if s.release != nil {
		<-s.release
	}
	if ctx.Err() != nil {
		s.ctxErr.Store(ctx.Err())
	}
	return restore.Listing{Archives: []restore.Archive{{Node: "worker-1", Time: now, Size: int64(len(svc.Name))}}}, s.err
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A service's listing is reused for the TTL, then read again; a new version of the service
// (its labels changed) and another service are read at once; an error is kept like a
// listing, a read cut by its deadline is not.
func TestBackupCacheReuse(t *testing.T) {
	db := parse.Service{ID: "id-db", Name: "shop_db", Version: 7}
	// step: the clock moves on by after, then a page asks for svc's listing.
	type step struct {
		after time.Duration
		svc   parse.Service
	}
	for _, tc := range []struct {
		name  string
		err   error
		steps []step
		reads int32
	}{
		{"within the ttl", nil, []step{{0, db}, {10 * time.Second, db}, {19 * time.Second, db}}, 1},
		{"after the ttl", nil, []step{{0, db}, {30 * time.Second, db}, {time.Second, db}}, 2},
		{"a new version", nil, []step{{0, db}, {0, parse.Service{ID: "id-db", Name: "shop_db", Version: 8}}}, 2},
		{"another service", nil, []step{{0, db}, {0, parse.Service{ID: "id-web", Name: "shop_web"}}}, 2},
		{"an error is kept", errors.New("s3: access denied"), []step{{0, db}, {10 * time.Second, db}}, 1},
		{"a deadline is not", fmt.Errorf("list: %w", context.DeadlineExceeded), []step{{0, db}, {0, db}, {0, db}}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &slowBackups{err: tc.err}
			clk := &clock{t: now}
			c := newBackupCache(src, 30*time.Second, time.Second, clk.now)
			for _, st := range tc.steps {
				clk.add(st.after)
				l, err := c.BackupsOf(context.Background(), st.svc)
				if !errors.Is(err, tc.err) || len(l.Archives) != 1 || l.Archives[0].Size != int64(len(st.svc.Name)) {
					t.Fatalf("%s: %+v, %v; want its listing and %v", st.svc.Name, l, err, tc.err)
				}
			}
			if n := src.reads.Load(); n != tc.reads {
				t.Errorf("%d reads of the catalogue, want %d", n, tc.reads)
			}
		})
	}
}

// Pages that ask at once share one read; one that gives up gets its own context's error and
// neither ends the read nor spoils it for the others.
func TestBackupCacheOneFlight(t *testing.T) {
	src := &slowBackups{release: make(chan struct{})}
	c := newBackupCache(src, 30*time.Second, time.Minute, time.Now)
	svc := parse.Service{ID: "id-db", Name: "shop_db"}

	gone, giveUp := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { _, err := c.BackupsOf(gone, svc); gaveUp <- err }()
	for src.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			l, err := c.BackupsOf(context.Background(), svc)
			if err == nil && len(l.Archives) != 1 {
				err = fmt.Errorf("listing %+v", l)
			}
			errs <- err
		})
	}
	giveUp()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Errorf("the page that gave up: %v, want its context's error", err)
	}
	time.Sleep(10 * time.Millisecond) // the eight are waiting on the read
	close(src.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := src.reads.Load(); n != 1 {
		t.Errorf("%d reads for nine pages at once, want 1", n)
	}
	if e := src.ctxErr.Load(); e != nil {
		t.Errorf("the shared read's context ended (%v) when one page gave up", e)
	}
}

// The cache holds at most maxCachedBackups listings, whatever the number of services.
func TestBackupCacheIsBounded(t *testing.T) {
	src := &slowBackups{}
	clk := &clock{t: now}
	c := newBackupCache(src, 30*time.Second, time.Second, clk.now)
	for i := range maxCachedBackups + 50 {
		clk.add(time.Millisecond)
		if _, err := c.BackupsOf(context.Background(), parse.Service{ID: fmt.Sprint("id-", i), Name: fmt.Sprint("svc-", i)}); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	n := len(c.items)
	_, first := c.items[backupKey{id: "id-0", name: "svc-0"}]
	_, last := c.items[backupKey{id: fmt.Sprint("id-", maxCachedBackups+49), name: fmt.Sprint("svc-", maxCachedBackups+49)}]
	c.mu.Unlock()
	if n > maxCachedBackups || first || !last {
		t.Errorf("%d listings kept (the oldest %v, the newest %v), want at most %d, the oldest gone", n, first, last, maxCachedBackups)
	}
}

// Through the page: a second load within BackupsFor lists nothing again; a negative BackupsFor
// lists on every load.
func TestPageReusesTheCatalogue(t *testing.T) {
	cluster := &fakeTargets{services: []parse.Service{svc("shop_db", parse.LabelBackupEnable, "true"), svc("shop_web", parse.LabelBackupEnable, "true")}}
	archives := map[string][]restore.Archive{"shop_db": {{Node: "worker-1", Time: now.Add(-time.Minute)}}}
	for _, tc := range []struct {
		name  string
		for_  time.Duration
		reads int
	}{{"default", 0, 2}, {"off", -1, 6}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, config.Config{}, cluster, nil, archives)
			o := f.page.o
			o.Backups, o.BackupsFor = f.backups, tc.for_
			f.page, f.mux = New(o), http.NewServeMux()
			f.page.Register(f.mux)
			for range 3 {
				if p := f.get(t, adminToken); p.status != 200 || !strings.Contains(p.body, `class="archive"`) {
					t.Fatalf("%d, no archive:\n%s", p.status, p.body)
				}
			}
			f.backups.mu.Lock()
			defer f.backups.mu.Unlock()
			if f.backups.reads != tc.reads {
				t.Errorf("%d catalogue reads for three loads of two services, want %d", f.backups.reads, tc.reads)
			}
		})
	}
}
