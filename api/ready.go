package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/swarm-utils/swarm-utils/operation"
)

// readyTTL is how long /readyz answers from its last check: orchestrators and scrapers poll it,
// and each check is a docker process.
const readyTTL = 2 * time.Second

// readiness caches the docker check of /readyz and knows whether the start-up repair runs.
type readiness struct {
	group singleflight.Group

	mu        sync.Mutex
	repairing bool
	at        time.Time
	checked   bool
	reason    string // "" = ready
}

// setRepairing marks the start-up repair as running or done.
func (s *Server) setRepairing(on bool) {
	s.ready.mu.Lock()
	s.ready.repairing = on
	s.ready.mu.Unlock()
}

func (s *Server) isRepairing() bool {
	s.ready.mu.Lock()
	defer s.ready.mu.Unlock()
	return s.ready.repairing
}

// readyReason is why swarm-utils is not ready ("" when it is): the start-up repair, or the
// last docker check, at most readyTTL old, made once for all callers.
func (s *Server) readyReason(ctx context.Context) string {
	rd := &s.ready
	rd.mu.Lock()
	if rd.repairing {
		rd.mu.Unlock()
		return "repairing: the start-up repair of what an earlier run left is not done"
	}
	if rd.checked && s.now().Sub(rd.at) < readyTTL {
		reason := rd.reason
		rd.mu.Unlock()
		return reason
	}
	rd.mu.Unlock()
	v, _, _ := rd.group.Do("ping", func() (any, error) {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err := s.targets.Ping(pctx)
		reason := shortReason(err)
		rd.mu.Lock()
		changed := !rd.checked || rd.reason != reason
		rd.at, rd.checked, rd.reason = s.now(), true, reason
		rd.mu.Unlock()
		if changed && err != nil {
			s.log.Warn("not ready", "reason", reason, "err", err)
		} else if changed {
			s.log.Info("ready: docker is reachable and this node is a swarm manager")
		}
		return reason, nil
	})
	return v.(string)
}

// shortReason words a failed check for an unauthenticated prober: swarm-utils' own words about
// the swarm state, never docker's command line, DOCKER_HOST or stderr (those are in the log).
func shortReason(err error) string {
	switch {
	case err == nil:
		return ""
	case operation.KindOf(err) == operation.KindImpossible:
		return err.Error()
	}
	return "docker is unreachable or failing (see the swarm-utils log)"
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{"ok": true, "status": "ready"}
	status := http.StatusOK
	if reason := s.readyReason(r.Context()); reason != "" {
		body = map[string]any{"ok": false, "status": "not ready", "reason": reason}
		status = http.StatusServiceUnavailable
	}
	// Services a backup left at 0 replicas (serve retries their start): shown, not a reason to
	// be unready — swarm-utils itself works, and an operator must see them.
	// A run history that could not be opened is told, not a reason to be unready: every
	// operation still works, only unrecorded.
	if s.historyDown != "" {
		body["history"] = "unavailable: " + s.historyDown
	}
	if n := s.leftStopped(); n >= 0 {
		body["servicesLeftStopped"] = n
	}
	writeJSON(w, status, body)
}

// StoppedCounter is what the Targets may also offer: how many services a backup left at 0
// replicas, as of serve's last retry pass (-1: not known yet). It costs no docker process.
type StoppedCounter interface {
	LeftStopped() int
}

func (s *Server) leftStopped() int {
	if c, ok := s.targets.(StoppedCounter); ok {
		return c.LeftStopped()
	}
	return -1
}
