package authz

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

// countingTargets counts reads of the targets (each is docker processes in production); Services
// waits for release when it is set, and fails with err when that is set.
type countingTargets struct {
	services []parse.Service
	nodes    []parse.Node
	release  chan struct{}
	err      atomic.Pointer[error]
	reads    atomic.Int32
}

func (c *countingTargets) Service(_ context.Context, name string) (parse.Service, error) {
	c.reads.Add(1)
	for _, s := range c.services {
		if s.Name == name {
			return s, nil
		}
	}
	return parse.Service{}, errors.New("not found")
}

func (c *countingTargets) Services(context.Context) ([]parse.Service, error) {
	c.reads.Add(1)
	if c.release != nil {
		<-c.release
	}
	if e := c.err.Load(); e != nil {
		return nil, *e
	}
	return c.services, nil
}

func (c *countingTargets) Nodes(context.Context) ([]parse.Node, error) {
	c.reads.Add(1)
	return c.nodes, nil
}

type settableClock struct{ at atomic.Int64 }

func (c *settableClock) now() time.Time          { return time.Unix(0, c.at.Load()) }
func (c *settableClock) advance(d time.Duration) { c.at.Add(int64(d)) }
func newSettableClock() *settableClock {
	c := &settableClock{}
	c.at.Store(time.Now().UnixNano())
	return c
}
func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func cacheTargets() *countingTargets {
	return &countingTargets{
		services: []parse.Service{{Name: "web", Labels: map[string]string{LabelCleanToken: "web-clean-plain", LabelBackupToken: "sha256:" + hexDigest("web-backup")}}},
		nodes:    []parse.Node{{Hostname: "w1", Labels: map[string]string{LabelNodeCleanToken: "node-clean-plain"}}},
	}
}

func hexDigest(s string) string {
	d := NewToken(s).Digest
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, 64)
	for _, b := range d {
		out = append(out, hexdigits[b>>4], hexdigits[b&15])
	}
	return string(out)
}

// TestLabelCacheOneFlight: concurrent requests with unknown tokens while the labels are being
// read wait for that one read; none starts another.
func TestLabelCacheOneFlight(t *testing.T) {
	tg := cacheTargets()
	tg.release = make(chan struct{})
	clock := newSettableClock()
	a := New(Options{Targets: tg, Log: quietLog(), Now: clock.now})
	const callers = 50
	var wg sync.WaitGroup
	codes := make(chan int, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, e := a.Service(context.Background(), NewToken("guess-"+string(rune('a'+i%26))), Action{Op: "clean-service", TokenLabel: LabelCleanToken}, "web")
			codes <- e.Status
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); a.cache.waiters.Load() < callers; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d callers reached the cache", a.cache.waiters.Load(), callers)
		}
		time.Sleep(time.Millisecond)
	}
	close(tg.release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 401 {
			t.Errorf("status %d, want 401", c)
		}
	}
	if n := tg.reads.Load(); n != 2 { // one Services, one Nodes
		t.Errorf("%d target reads for %d concurrent unknown tokens, want 2 (one read of services and nodes)", n, callers)
	}
}

// TestLabelCacheRefreshAndErrors: the labels are read again only after labelsTTL; a failed read
// is kept for labelsErrTTL (no read per request while docker is down), and the last good read
// still recognises its tokens meanwhile.
func TestLabelCacheRefreshAndErrors(t *testing.T) {
	tg := cacheTargets()
	clock := newSettableClock()
	secrets := bashexec.NewSecrets()
	a := New(Options{Targets: tg, Log: quietLog(), Now: clock.now, Secrets: secrets,
		Config: config.Config{AdminTokens: []string{"admin-tok"}}})
	ctx := context.Background()
	steps := []struct {
		name    string
		advance time.Duration
		fail    bool
		token   string
		known   bool
		reads   int32 // total so far
	}{
		{name: "first read", token: "web-clean-plain", known: true, reads: 2},
		{name: "cached", advance: labelsTTL / 2, token: "guess", reads: 2},
		{name: "hashed label token", token: "web-backup", known: true, reads: 2},
		{name: "node token", token: "node-clean-plain", known: true, reads: 2},
		{name: "admin needs no read", token: "admin-tok", known: true, reads: 2},
		{name: "expired, read fails: last good read still used", advance: labelsTTL, fail: true, token: "web-clean-plain", known: true, reads: 3},
		{name: "error cached", advance: labelsErrTTL / 2, fail: true, token: "guess", reads: 3},
		{name: "error expired: read again", advance: labelsErrTTL, fail: true, token: "guess", reads: 4},
		{name: "docker back", advance: labelsErrTTL, token: "web-clean-plain", known: true, reads: 6},
	}
	for _, s := range steps {
		clock.advance(s.advance)
		if s.fail {
			err := errors.New("docker: Cannot connect")
			tg.err.Store(&err)
		} else {
			tg.err.Store(nil)
		}
		if got := a.Known(ctx, NewToken(s.token)); got != s.known {
			t.Errorf("%s: Known(%s) = %v, want %v", s.name, s.token, got, s.known)
		}
		if n := tg.reads.Load(); n != s.reads {
			t.Errorf("%s: %d reads so far, want %d", s.name, n, s.reads)
		}
	}
	if got := secrets.Mask("a web-clean-plain b node-clean-plain"); got != "a *** b ***" {
		t.Errorf("plain label tokens are not registered as secrets: %q", got)
	}
}
