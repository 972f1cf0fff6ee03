package statuspage

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/parse"
)

// DefaultBackupsFor is how long the page reuses a service's S3 listing: every load of every
// open page (a phone left on it, a dashboard reloading it) would otherwise list each backed-up
// service's archives again. A backup that stops the service changes its version and so is
// seen at once; one that does not, within this time.
const DefaultBackupsFor = 30 * time.Second

// maxCachedBackups bounds the listings kept (one per service).
const maxCachedBackups = 1024

// backupCache is Backups in front of the catalogue: a service's listing (or its error) is
// reused for ttl, and pages that ask for it at once share one read.
type backupCache struct {
	src  Backups
	ttl  time.Duration
	now  func() time.Time
	wait time.Duration // the most one read may take (the page's budget)

	mu    sync.Mutex
	items map[backupKey]*backupRead
}

// backupKey names a service as it was read: a change of its labels (its S3 location) is a
// new version.
type backupKey struct {
	id, name string
	version  uint64
}

// backupRead is one read of a service's listing, in flight until done is closed. ended and
// finished are set under the cache's lock, listing and err before done is closed.
type backupRead struct {
	done     chan struct{}
	finished bool
	ended    time.Time
	listing  restore.Listing
	err      error
}

func newBackupCache(src Backups, ttl, wait time.Duration, now func() time.Time) *backupCache {
	return &backupCache{src: src, ttl: ttl, now: now, wait: wait, items: map[backupKey]*backupRead{}}
}

// BackupsOf implements Backups. The read runs under its own deadline, not the caller's: a page
// that is closed does not fail the read another page waits for.
func (c *backupCache) BackupsOf(ctx context.Context, svc parse.Service) (restore.Listing, error) {
	key := backupKey{svc.ID, svc.Name, svc.Version}
	c.mu.Lock()
	r, ok := c.items[key]
	if ok && r.finished && c.now().Sub(r.ended) >= c.ttl {
		delete(c.items, key)
		ok = false
	}
	if !ok {
		r = &backupRead{done: make(chan struct{})}
		if c.makeRoom() {
			c.items[key] = r
		}
		go c.read(context.WithoutCancel(ctx), key, svc, r)
	}
	c.mu.Unlock()
	select {
	case <-r.done:
		return r.listing, r.err
	case <-ctx.Done():
		return restore.Listing{}, ctx.Err()
	}
}

func (c *backupCache) read(ctx context.Context, key backupKey, svc parse.Service, r *backupRead) {
	ctx, cancel := context.WithTimeout(ctx, c.wait)
	defer cancel()
	listing, err := c.src.BackupsOf(ctx, svc)
	c.mu.Lock()
	defer c.mu.Unlock()
	r.listing, r.err, r.ended, r.finished = listing, err, c.now(), true
	close(r.done)
	// A read cut by its deadline says nothing about S3 that the next page should be told.
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		if c.items[key] == r {
			delete(c.items, key)
		}
	}
}

// makeRoom drops expired listings when the cache is full, then the oldest ended one; false
// when every kept read is still in flight (the new one is then not kept). c.mu is held.
func (c *backupCache) makeRoom() bool {
	if len(c.items) < maxCachedBackups {
		return true
	}
	now := c.now()
	var oldest backupKey
	var oldestAt time.Time
	found := false
	for k, r := range c.items {
		if !r.finished {
			continue
		}
		if now.Sub(r.ended) >= c.ttl {
			delete(c.items, k)
			continue
		}
		if !found || r.ended.Before(oldestAt) {
			oldest, oldestAt, found = k, r.ended, true
		}
	}
	if len(c.items) < maxCachedBackups {
		return true
	}
	if found {
		delete(c.items, oldest)
		return true
	}
	return false
}
