package authz

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/swarm-utils/swarm-utils/parse"
)

// The label-token cache: every service's and node's token labels, read at most once per
// labelsTTL in one flight, so that a request whose token is neither an admin token nor any
// target's token is refused without starting a docker process. A failed read is kept for
// labelsErrTTL so that, with docker down, a stream of bad tokens is not a stream of docker
// calls either.
const (
	labelsTTL         = 3 * time.Second
	labelsErrTTL      = time.Second
	labelsReadTimeout = 30 * time.Second
)

// SecretAdder registers values to be masked in logs (*bashexec.Secrets).
type SecretAdder interface{ Add(values ...string) }

// labelSnapshot is one read of the targets' labels with the digests of their tokens.
type labelSnapshot struct {
	at       time.Time
	services []parse.Service
	nodes    []parse.Node
	service  map[string][]Digest // by service token label
	node     []Digest            // the nodes' clean tokens
	all      []Digest
}

// knowsService tells whether tok is some service's token for the label; a nil snapshot knows
// no token.
func (s *labelSnapshot) knowsService(label string, tok Token) bool {
	return s != nil && tok.in(s.service[label])
}

func (s *labelSnapshot) knowsNode(tok Token) bool { return s != nil && tok.in(s.node) }

func (s *labelSnapshot) knowsAny(tok Token) bool { return s != nil && tok.in(s.all) }

type labelCache struct {
	group   singleflight.Group
	waiters atomic.Int32 // callers inside a read now (tests wait for them)

	mu    sync.Mutex
	snap  *labelSnapshot // the last good read
	err   error          // the last read's error, while errAt is recent
	errAt time.Time
}

// labels returns the cached snapshot, read again when older than labelsTTL. When a read fails
// it returns the last good snapshot (nil before the first) with the error; callers treat a
// token the snapshot does not know as unknown.
func (a *Authorizer) labels(ctx context.Context) (*labelSnapshot, error) {
	c := &a.cache
	if snap, fresh, err := c.cached(a.now()); fresh {
		return snap, err
	}
	// One read for all callers; a caller that hangs up does not fail it for the others.
	c.waiters.Add(1)
	defer c.waiters.Add(-1)
	v, err, _ := c.group.Do("labels", func() (any, error) {
		// A caller that found the cache stale may reach Do just after another flight stored a
		// fresh read: that read serves it too.
		if snap, fresh, err := c.cached(a.now()); fresh {
			return snap, err
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), labelsReadTimeout)
		defer cancel()
		fresh, err := a.readLabels(rctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			c.err, c.errAt = err, a.now()
			a.log.Warn("read the targets' token labels failed; label tokens are refused until a read succeeds", "err", err)
			return c.snap, err
		}
		c.snap, c.err = fresh, nil
		return fresh, nil
	})
	snap, _ := v.(*labelSnapshot)
	return snap, err
}

// cached returns the last read when it is still fresh at now: a good read for labelsTTL, a
// failed one for labelsErrTTL.
func (c *labelCache) cached(now time.Time) (snap *labelSnapshot, fresh bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.err == nil && c.snap != nil && now.Sub(c.snap.at) < labelsTTL:
		return c.snap, true, nil
	case c.err != nil && now.Sub(c.errAt) < labelsErrTTL:
		return c.snap, true, c.err
	}
	return nil, false, nil
}

// readLabels lists services and nodes and precomputes their tokens' digests; plain tokens are
// registered as secrets, so that no log line shows them.
func (a *Authorizer) readLabels(ctx context.Context) (*labelSnapshot, error) {
	svcs, err := a.targets.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	nodes, err := a.targets.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	s := &labelSnapshot{at: a.now(), services: svcs, nodes: nodes, service: map[string][]Digest{}}
	var plain []string // registered at once: each Add that adds a value copies the set
	add := func(labels map[string]string, label string) (Digest, bool) {
		v := labelValue(labels, label)
		if _, hashed, _ := TokenHash(v); !hashed && v != "" {
			plain = append(plain, v)
		}
		d, ok := configuredDigest(v)
		if ok {
			s.all = append(s.all, d)
		}
		return d, ok
	}
	for _, svc := range svcs {
		for _, label := range []string{LabelCleanToken, LabelBackupToken, LabelUpdateToken, LabelRestoreToken} {
			if d, ok := add(svc.Labels, label); ok {
				s.service[label] = append(s.service[label], d)
			}
		}
	}
	for _, n := range nodes {
		if d, ok := add(n.Labels, LabelNodeCleanToken); ok {
			s.node = append(s.node, d)
		}
	}
	if a.secrets != nil {
		a.secrets.Add(plain...)
	}
	return s, nil
}

// Known tells whether tok is an admin token or one of the cached label tokens of any service
// or node: what a listing needs before it may read the targets. A failed read of the labels
// knows only admin tokens (and the last good read's label tokens).
func (a *Authorizer) Known(ctx context.Context, tok Token) bool {
	if a.Admin(tok) {
		return true
	}
	snap, _ := a.labels(ctx)
	return snap.knowsAny(tok)
}
