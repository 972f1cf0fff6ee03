package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"github.com/swarm-utils/swarm-utils/operation"
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
