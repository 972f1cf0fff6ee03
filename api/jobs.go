package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"github.com/swarm-utils/swarm-utils/operation"
	"net/http"
	"sync"
	"time"
)

// Job states.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
)

// DefaultMaxJobs is how many jobs the store keeps; the oldest finished ones go first.
const DefaultMaxJobs = 1000

// job is one operation started through the API, with or without waitRes.
type job struct {
	id, operation, target string
	owner                 [32]byte // sha256 of the token that started it
	created               time.Time
	done                  chan struct{}

	mu      sync.Mutex
	state   string
	started time.Time
	ended   time.Time
	result  *operation.Result
}

// JobView is GET /api/jobs/{id}'s body.
type JobView struct {
	ID        string            `json:"id"`
	Operation string            `json:"operation"`
	Target    string            `json:"target"`
	State     string            `json:"state"`
	CreatedAt time.Time         `json:"createdAt"`
	StartedAt *time.Time        `json:"startedAt,omitempty"`
	EndedAt   *time.Time        `json:"endedAt,omitempty"`
	Status    int               `json:"status,omitempty"` // the HTTP status the result maps to, when done
	Result    *operation.Result `json:"result,omitempty"`
	Links     map[string]string `json:"links"`
}

func (j *job) view() JobView {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := JobView{ID: j.id, Operation: j.operation, Target: j.target, State: j.state, CreatedAt: j.created,
		Links: map[string]string{"self": "/api/jobs/" + j.id}}
	if !j.started.IsZero() {
		t := j.started
		v.StartedAt = &t
	}
	if !j.ended.IsZero() {
		t := j.ended
		v.EndedAt = &t
	}
	if j.result != nil {
		r := *j.result
		v.Result = &r
		v.Status = resultStatus(r)
	}
	return v
}

func (j *job) setRunning() {
	j.mu.Lock()
	j.state, j.started = JobRunning, time.Now().UTC()
	j.mu.Unlock()
}

func (j *job) finish(r operation.Result) {
	j.mu.Lock()
	j.state, j.ended, j.result = JobDone, time.Now().UTC(), &r
	j.mu.Unlock()
	close(j.done)
}

func (j *job) isDone() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// ownedBy tells, in constant time, whether token started the job.
func (j *job) ownedBy(token string) bool {
	h := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(h[:], j.owner[:]) == 1
}

// jobStore keeps the last max jobs in memory; ids are random, so knowing one is needed to read it.
type jobStore struct {
	mu    sync.Mutex
	max   int
	byID  map[string]*job
	order []*job // oldest first
}

func newJobStore(max int) *jobStore {
	if max <= 0 {
		max = DefaultMaxJobs
	}
	return &jobStore{max: max, byID: map[string]*job{}}
}

// add registers a queued job; when the store is full it drops the oldest finished job, and
// when every kept job is still running it refuses (nil).
func (s *jobStore) add(operation, target, token string) *job {
	j := &job{id: newJobID(), operation: operation, target: target, owner: sha256.Sum256([]byte(token)),
		created: time.Now().UTC(), done: make(chan struct{}), state: JobQueued}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) >= s.max {
		dropped := false
		for i, old := range s.order {
			if old.isDone() {
				delete(s.byID, old.id)
				s.order = append(s.order[:i], s.order[i+1:]...)
				dropped = true
				break
			}
		}
		if !dropped {
			return nil
		}
	}
	s.byID[j.id] = j
	s.order = append(s.order, j)
	return j
}

func (s *jobStore) get(id string) *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}

func (s *jobStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.order)
}

// newJobID is 128 random bits in hex.
func newJobID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// launch runs the operation as a job under the server's lifetime (a caller that hangs up does
// not abort it) and answers with its Result, or at once with 202 when waitRes is false.
func (s *Server) launch(w http.ResponseWriter, r *http.Request, op, target, token string, wait bool, run func(context.Context) operation.Result) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		writeError(w, errorf(http.StatusServiceUnavailable, kindUnavailable, "swarm-utils is shutting down: try again when it is back"))
		return
	}
	j := s.jobs.add(op, target, token)
	if j == nil {
		s.mu.Unlock()
		writeError(w, errorf(http.StatusServiceUnavailable, kindUnavailable, "too many operations are running (%d): try again later", s.jobs.len()))
		return
	}
	s.running.Add(1)
	s.mu.Unlock()

	go func() {
		defer s.running.Done()
		var res operation.Result
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("operation panicked", "operation", op, "target", target, "panic", fmt.Sprint(p))
				res = operation.Result{Operation: op, Target: target, Error: "internal error: the operation panicked; see the swarm-utils log", Steps: []operation.Step{}}
			}
			j.finish(res)
		}()
		j.setRunning()
		res = run(s.ctx)
	}()

	setJob(r, j.id)
	w.Header().Set("X-Job-Id", j.id)
	if !wait {
		w.Header().Set("Location", "/api/jobs/"+j.id)
		writeJSON(w, http.StatusAccepted, j.view())
		return
	}
	select {
	case <-j.done:
		res := *j.view().Result
		writeJSON(w, resultStatus(res), res)
	case <-r.Context().Done():
		// The caller hung up; the operation goes on and its result stays at /api/jobs/{id}.
	}
}

// handleJob answers GET /api/jobs/{id} to an admin token or the token that started the job;
// to anyone else the job does not exist.
func (s *Server) handleJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	setTarget(r, id)
	token, e := s.token(r, "")
	if e != nil {
		writeError(w, e)
		return
	}
	j := s.jobs.get(id)
	if j == nil || !(s.auth.Admin(token) || j.ownedBy(token)) {
		writeError(w, errorf(http.StatusNotFound, string(operation.KindNotFound),
			"job %q not found (jobs are kept in memory, the last %d, until swarm-utils restarts; only the token that started one, or an admin token, may read it)", id, s.jobs.max))
		return
	}
	writeJSON(w, http.StatusOK, j.view())
}
