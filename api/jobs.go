package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/operation"
)

// Job states.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
)

// DefaultMaxJobs is how many jobs the store keeps; the oldest finished ones go first.
const DefaultMaxJobs = 1000

// DefaultJobsPerToken is how many queued or running jobs one non-admin token may have: a label
// token acts on one target, a CI job's OIDC token on a few.
const DefaultJobsPerToken = 4

// MaxStoredResult is the most one stored result may hold (about; see operation.Result.Bounded):
// a hundred tasks each printing their 64 KiB tail would be 6 MiB per job, times the store.
const MaxStoredResult = 1 << 20

// DefaultStoreBytes bounds all stored results together; past it the oldest finished jobs go,
// whatever their number.
const DefaultStoreBytes = 64 << 20

// adminShare is the part of the store that only admin tokens may fill with queued or running
// jobs, so that service tokens filling it never lock an operator out.
const adminShare = 4 // 1/4

// job is one operation started through the API, with or without waitRes.
type job struct {
	id, operation, target string
	key                   string       // the target's lock key: service:NAME or node:NAME
	background            bool         // waitRes=false
	admin                 bool         // started by an admin token
	owner                 authz.Digest // of the token that started it
	created               time.Time
	done                  chan struct{}

	mu      sync.Mutex
	state   string
	started time.Time
	ended   time.Time
	result  *operation.Result
	size    int // of result, counted in the store's bytes
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

// outcome is the result of a done job.
func (j *job) outcome() operation.Result {
	j.mu.Lock()
	defer j.mu.Unlock()
	return *j.result
}

func (j *job) setRunning() {
	j.mu.Lock()
	j.state, j.started = JobRunning, time.Now().UTC()
	j.mu.Unlock()
}

func (j *job) finish(r operation.Result) {
	r = r.Bounded(MaxStoredResult)
	j.mu.Lock()
	j.state, j.ended, j.result, j.size = JobDone, time.Now().UTC(), &r, r.Size()
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

// ownedBy tells, in constant time, whether tok started the job.
func (j *job) ownedBy(tok authz.Token) bool {
	return subtle.ConstantTimeCompare(tok.Digest[:], j.owner[:]) == 1
}

// jobStore keeps the last max jobs in memory; ids are random, so knowing one is needed to read
// it. It bounds what callers may queue: one background job per target, perToken queued or
// running jobs per non-admin token, and a share of the store only admins may fill.
type jobStore struct {
	mu       sync.Mutex
	max      int
	perToken int
	maxBytes int // of all stored results together
	bytes    int
	byID     map[string]*job
	order    []*job // oldest first
	// active are the jobs added and not yet seen done, oldest first: add checks its limits
	// against them alone, not against every stored job (a full store holds max).
	active []*job
}

func newJobStore(max, perToken int) *jobStore {
	if max <= 0 {
		max = DefaultMaxJobs
	}
	if perToken <= 0 {
		perToken = DefaultJobsPerToken
	}
	return &jobStore{max: max, perToken: perToken, maxBytes: DefaultStoreBytes, byID: map[string]*job{}}
}

// finish ends j with r and, when the stored results outgrow maxBytes, forgets the oldest
// finished jobs (never j itself, whose caller may be about to read it).
func (s *jobStore) finish(j *job, r operation.Result) {
	r = r.Bounded(MaxStoredResult)
	s.mu.Lock() // held while j becomes done, so that add's eviction never sees it uncounted
	defer s.mu.Unlock()
	j.finish(r)
	if s.byID[j.id] != j {
		return
	}
	s.bytes += j.size
	if s.bytes <= s.maxBytes {
		return
	}
	kept := s.order[:0]
	for _, old := range s.order {
		if s.bytes > s.maxBytes && old != j && old.isDone() {
			s.bytes -= old.size
			delete(s.byID, old.id)
			continue
		}
		kept = append(kept, old)
	}
	clear(s.order[len(kept):])
	s.order = kept
}

// newJob is what add needs to know about a job to be.
type newJob struct {
	operation, target, key string
	owner                  authz.Digest
	admin, background      bool
}

// add registers a queued job, or refuses it: 409 when it is a background job and its target
// has a queued or running job (a waiting request waits for the target's lock instead); 429 when
// a non-admin token has perToken jobs queued or running; 503 when the store is full of them
// (for non-admin tokens: all but the admins' share). A full store drops its oldest finished
// job first.
func (s *jobStore) add(n newJob) (*job, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active = slices.DeleteFunc(s.active, (*job).isDone)
	active, activeNonAdmin, mine := len(s.active), 0, 0
	for _, j := range s.active {
		if !j.admin {
			activeNonAdmin++
		}
		if j.owner == n.owner {
			mine++
		}
		if n.background && j.key == n.key {
			return nil, errorf(http.StatusConflict, string(operation.KindBusy),
				"%s already has an operation queued or running: a background job (waitRes=false) starts only on an idle target; try again when it has ended", n.key)
		}
	}
	switch {
	case !n.admin && mine >= s.perToken:
		return nil, errorf(http.StatusTooManyRequests, kindTooMany,
			"this token has %d operations queued or running, the most one token may have: wait for one to end", mine)
	case active >= s.max, !n.admin && activeNonAdmin >= s.max-s.max/adminShare:
		return nil, errorf(http.StatusServiceUnavailable, kindUnavailable, "too many operations are queued or running (%d): try again later", active)
	}
	if len(s.order) >= s.max {
		if i := slices.IndexFunc(s.order, (*job).isDone); i >= 0 {
			old := s.order[i]
			s.bytes -= old.size
			delete(s.byID, old.id)
			if i == 0 { // the usual case: no copy of the whole order
				s.order[0] = nil
				s.order = s.order[1:]
			} else {
				s.order = slices.Delete(s.order, i, i+1)
			}
		}
	}
	j := &job{id: newJobID(), operation: n.operation, target: n.target, key: n.key, background: n.background, admin: n.admin,
		owner: n.owner, created: time.Now().UTC(), done: make(chan struct{}), state: JobQueued}
	s.byID[j.id] = j
	s.order = append(s.order, j)
	s.active = append(s.active, j)
	return j, nil
}

func (s *jobStore) get(id string) *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}

// newestOf returns, for each set of target keys (service:NAME, node:NAME), the views of the
// newest job of each operation on any of its keys, newest first: the status page's runs. One
// pass over the store under its lock; the views are taken after it.
func (s *jobStore) newestOf(keySets [][]string) [][]JobView {
	sets := map[string][]int{} // key -> the sets it is in
	for i, keys := range keySets {
		for _, k := range keys {
			if !slices.Contains(sets[k], i) {
				sets[k] = append(sets[k], i)
			}
		}
	}
	type setOp struct {
		set int
		op  string
	}
	seen := map[setOp]bool{}
	found := make([][]*job, len(keySets))
	s.mu.Lock()
	for i := len(s.order) - 1; i >= 0; i-- { // newest first
		j := s.order[i]
		for _, set := range sets[j.key] {
			if so := (setOp{set, j.operation}); !seen[so] {
				seen[so] = true
				found[set] = append(found[set], j)
			}
		}
	}
	s.mu.Unlock()
	out := make([][]JobView, len(keySets))
	for i, jobs := range found {
		for _, j := range jobs {
			out[i] = append(out[i], j.view())
		}
	}
	return out
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
func (s *Server) launch(w http.ResponseWriter, r *http.Request, op, target string, token authz.Token, admin, wait bool, run func(context.Context) operation.Result) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		writeError(w, errorf(http.StatusServiceUnavailable, kindUnavailable, "swarm-utils is shutting down: try again when it is back"))
		return
	}
	if s.isRepairing() {
		s.mu.Unlock()
		// The repair removes helpers it takes for an earlier run's: no operation may start yet.
		w.Header().Set("Retry-After", "5")
		writeError(w, errorf(http.StatusServiceUnavailable, kindUnavailable, "swarm-utils is repairing what an earlier run left behind: try again in a few seconds"))
		return
	}
	key := "service:" + target
	if op == OpCleanNode {
		key = "node:" + target
	}
	j, e := s.jobs.add(newJob{operation: op, target: target, key: key, owner: token.Digest, admin: admin, background: !wait})
	if e != nil {
		s.mu.Unlock()
		if e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "10")
		}
		writeError(w, e)
		return
	}
	s.running.Add(1)
	s.mu.Unlock()
	if wait {
		// Waiting costs a goroutine, not a slot: the body is read and authorised. Given back
		// before the go statement: the request it wakes would otherwise run next in the
		// operation's place, which would wait a whole pass of the run queue (and this call with
		// it) before it starts.
		releaseSlot(r)
	}

	go func() {
		defer s.running.Done()
		var res operation.Result
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("operation panicked", "operation", op, "target", target, "panic", fmt.Sprint(p))
				res = operation.Result{Operation: op, Target: target, Error: "internal error: the operation panicked; see the swarm-utils log", Steps: []operation.Step{}}
			}
			s.jobs.finish(j, res)
		}()
		j.setRunning()
		// The job id is the run's id (history, helper labels, lock holder); the caller is
		// the kind of token, never the token.
		res = run(operation.WithCaller(operation.WithRun(s.ctx, j.id), s.auth.Caller(token)))
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
		res := j.outcome()
		writeJSON(w, resultStatus(res), res)
	case <-r.Context().Done():
		// The caller hung up; the operation goes on and its result stays at /api/jobs/{id}.
	}
}

// handleJob answers GET /api/jobs/{id} to an admin token or the token that started the job;
// to another known token the job does not exist (404), and an unknown token is 401 like on
// every other route.
func (s *Server) handleJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	token, e := s.token(r, "")
	if e != nil {
		writeError(w, e)
		return
	}
	j := s.jobs.get(id)
	if j != nil && (s.auth.Admin(token) || j.ownedBy(token)) {
		setJob(r, id)
		writeJSON(w, http.StatusOK, j.view())
		return
	}
	if j == nil {
		// Not in memory: a job of an earlier process, from the run history.
		if v := s.storedJob(r, token, id); v != nil {
			setJob(r, id)
			writeJSON(w, http.StatusOK, v)
			return
		}
	}
	if !s.auth.Known(r.Context(), token) {
		writeError(w, errorf(http.StatusUnauthorized, kindUnauthorized, "unknown token: it is neither an admin token, the token that started a job, nor any service's or node's swarm-utils token"))
		return
	}
	writeError(w, errorf(http.StatusNotFound, string(operation.KindNotFound),
		"job %.40q not found (jobs are kept in memory, the last %d, until swarm-utils restarts, then in the run history; only the token that started one, or an admin token, may read it, and after a restart a token of its target)", id, s.jobs.max))
}
