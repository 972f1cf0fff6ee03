//go:build integration

package api

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/jobs/update"
	"github.com/swarm-utils/swarm-utils/operation"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
)

// The load test serves the API on 127.0.0.1 over real *jobs.Deps and fires 200 mixed calls
// at once on 10 services and the 3 nodes. To tell the server's own time from docker's, the
// runner is wrapped with a recorder of docker calls: each request and each operation carries a
// span list in its context, and its docker time is the union of its calls (calls on several
// nodes run in parallel). An HTTP answer is tied to its operation by the Result's startedAt and
// to its request by X-Job-Id.

type spansKey struct{}

// dockerSpans are the docker calls made under one context.
type dockerSpans struct {
	mu    sync.Mutex
	spans []dockerSpan
}

type dockerSpan struct {
	start, end time.Time
	claim      bool // the lookup of earlier helpers that follows taking the in-process lock
}

func (s *dockerSpans) add(sp dockerSpan) {
	s.mu.Lock()
	s.spans = append(s.spans, sp)
	s.mu.Unlock()
}

func (s *dockerSpans) sorted() []dockerSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.spans)
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// busy is the wall time during which at least one docker call ran.
func busy(spans []dockerSpan) time.Duration {
	var total time.Duration
	var curStart, curEnd time.Time
	for _, s := range spans {
		switch {
		case curEnd.IsZero():
			curStart, curEnd = s.start, s.end
		case s.start.After(curEnd):
			total += curEnd.Sub(curStart)
			curStart, curEnd = s.start, s.end
		case s.end.After(curEnd):
			curEnd = s.end
		}
	}
	if !curEnd.IsZero() {
		total += curEnd.Sub(curStart)
	}
	return total
}

// timingRunner records every docker call in the span list of its context, and how many ran at
// once at most.
type timingRunner struct {
	inner          bashexec.Runner
	mu             sync.Mutex
	inFlight, peak int
}

func (r *timingRunner) Run(ctx context.Context, c bashexec.Command) (bashexec.Result, error) {
	r.mu.Lock()
	r.inFlight++
	r.peak = max(r.peak, r.inFlight)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}()
	start := time.Now()
	res, err := r.inner.Run(ctx, c)
	if s, ok := ctx.Value(spansKey{}).(*dockerSpans); ok {
		claim := slices.Contains(c.Args, "ls") && slices.ContainsFunc(c.Args, func(a string) bool {
			return strings.HasPrefix(a, "label=swarm-utils.helper.lock=")
		})
		s.add(dockerSpan{start: start, end: time.Now(), claim: claim})
	}
	return res, err
}

// opRecord is one operation as the server ran it.
type opRecord struct {
	start, end             time.Time
	wall, docker, lockWait time.Duration
}

// timedOps runs every operation with a span list of its own.
type timedOps struct {
	*jobs.Deps
	mu      sync.Mutex
	records map[string]opRecord
	dups    int
}

func opKey(op, target string, startedAt time.Time) string {
	return fmt.Sprintf("%s|%s|%d", op, target, startedAt.UnixNano())
}

func (o *timedOps) track(ctx context.Context, op, target string, fn func(context.Context) operation.Result) operation.Result {
	spans := &dockerSpans{}
	start := time.Now()
	r := fn(context.WithValue(ctx, spansKey{}, spans))
	end := time.Now()
	list := spans.sorted()
	rec := opRecord{start: start, end: end, wall: end.Sub(start), docker: busy(list)}
	// Waiting for the target's lock is neither docker's time nor the server's work: it is the
	// gap before the lookup of earlier helpers (lock taken), or, when the lock was never taken
	// (busy), the time after the last call.
	lastEnd := start
	for _, s := range list {
		if s.claim {
			rec.lockWait = s.start.Sub(lastEnd)
			break
		}
		if s.end.After(lastEnd) {
			lastEnd = s.end
		}
	}
	if r.ErrorKind == operation.KindBusy && !slices.ContainsFunc(list, func(s dockerSpan) bool { return s.claim }) {
		rec.lockWait = end.Sub(lastEnd)
	}
	o.mu.Lock()
	k := opKey(op, target, r.StartedAt)
	if _, dup := o.records[k]; dup {
		o.dups++
	}
	o.records[k] = rec
	o.mu.Unlock()
	return r
}

func (o *timedOps) CleanNode(ctx context.Context, name string) operation.Result {
	return o.track(ctx, OpCleanNode, name, func(ctx context.Context) operation.Result { return o.Deps.CleanNode(ctx, name) })
}
func (o *timedOps) CleanService(ctx context.Context, name string) operation.Result {
	return o.track(ctx, OpCleanService, name, func(ctx context.Context) operation.Result { return o.Deps.CleanService(ctx, name) })
}
func (o *timedOps) BackupService(ctx context.Context, name string) operation.Result {
	return o.track(ctx, OpBackupService, name, func(ctx context.Context) operation.Result { return o.Deps.BackupService(ctx, name) })
}
func (o *timedOps) UpdateService(ctx context.Context, u update.Options) operation.Result {
	return o.track(ctx, OpUpdateService, u.Service, func(ctx context.Context) operation.Result { return o.Deps.UpdateService(ctx, u) })
}

func (o *timedOps) RestoreService(ctx context.Context, r restore.Options) operation.Result {
	return o.track(ctx, OpRestoreService, r.Service, func(ctx context.Context) operation.Result { return o.Deps.RestoreService(ctx, r) })
}

// reqRecord is one request as the server handled it.
type reqRecord struct {
	start, end   time.Time
	wall, docker time.Duration
}

// loadCall is one of the 200 calls and what came back.
type loadCall struct {
	path, target string
	body         string
	status       int
	answer       string
	latency      time.Duration
	jobID        string
	result       operation.Result
	err          error
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func msOf(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

// TestAPILoadOnTheCluster: 200 concurrent calls over 10 services and 3 nodes, several on the
// same targets, with a 1 s lock timeout: every answer is 200 or 409, nothing deadlocks, no
// helper is left, no service stays scaled down. Reports p50/p99 of the server's non-docker time
// (t.Log and /tmp/load-result.txt).
func TestAPILoadOnTheCluster(t *testing.T) {
	tb := testbed.Get(t)
	id := randID()
	cfg := tb.Config()
	cfg.AdminTokens = []string{itAdmin}
	cfg.Timeouts.Lock = time.Second
	cfg.LogLevel = "info"

	// Services: 0-2 back up a small volume with stop=true (uploads are slow, so only these);
	// 3-6 may be updated; all may be cleaned.
	type loadSvc struct {
		name     string
		replicas int
		volume   string
	}
	svcs := make([]loadSvc, 10)
	prefix := "it-load-" + id + "-"
	sweepLoadVolumes(tb)
	for i := range svcs {
		s := loadSvc{name: fmt.Sprintf("%s%d", prefix, i), replicas: 1 + i%2}
		args := []string{"--replicas", fmt.Sprint(s.replicas),
			"--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=true"}
		if i < 3 {
			s.volume = s.name + "-data"
			args = append(args, "--mount", "type=volume,src="+s.volume+",dst=/data",
				"--label", "swarm-utils.backup.enable=true", "--label", "swarm-utils.backup.stop=true",
				"--label", "swarm-utils.backup.volume-list-upload="+s.volume)
		}
		if i >= 3 && i <= 6 {
			args = append(args, "--label", "swarm-utils.update.enable=true")
		}
		svcs[i] = s
		tb.ServiceDetached(t, s.name, append(args, tb.WorkloadImage)...)
	}
	t.Cleanup(func() {
		_ = os.RemoveAll(filepath.Join(tb.S3Dir, tb.S3Bucket, prefix+"0"))
		_ = os.RemoveAll(filepath.Join(tb.S3Dir, tb.S3Bucket, prefix+"1"))
		_ = os.RemoveAll(filepath.Join(tb.S3Dir, tb.S3Bucket, prefix+"2"))
	})
	for _, s := range svcs {
		testbed.WaitFor(t, 2*time.Minute, s.name+" to run", func() bool { return tb.RunningReplicas(t, s.name) == s.replicas })
	}

	// The server: real deps behind the timing runner, the API's handler behind a recorder of
	// each request's wall and docker time.
	logRec := &testbed.Recorder{}
	log := slog.New(slog.NewTextHandler(logRec, &slog.HandlerOptions{Level: slog.LevelInfo}))
	secrets := bashexec.NewSecrets(cfg.SecretValues()...)
	runner := &timingRunner{inner: bashexec.New(bashexec.Options{Logger: log, Secrets: secrets})}
	deps := jobs.NewDeps(cfg, runner, secrets, log)
	ops := &timedOps{Deps: deps, records: map[string]opRecord{}}
	metrics := NewMetrics()
	srv := New(Options{Ops: Instrumented{Ops: ops, Metrics: metrics}, Targets: deps, Config: cfg, Log: log, Metrics: metrics})
	var reqMu sync.Mutex
	reqs := map[string]reqRecord{}
	handler := srv.Handler()
	timed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		spans := &dockerSpans{}
		start := time.Now()
		handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), spansKey{}, spans)))
		rec := reqRecord{start: start, end: time.Now(), wall: time.Since(start), docker: busy(spans.sorted())}
		if job := w.Header().Get("X-Job-Id"); job != "" {
			reqMu.Lock()
			reqs[job] = rec
			reqMu.Unlock()
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpSrv := &http.Server{Handler: timed, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = httpSrv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	goroutinesBefore := runtime.NumGoroutine()
	t.Cleanup(func() {
		srv.Abort()
		_ = httpSrv.Close()
		if t.Failed() {
			t.Logf("swarm-utils log:\n%s", logRec.String())
		}
	})

	// The 200 calls.
	nodes := []string{"manager", "worker-1", "worker-2"}
	var calls []*loadCall
	add := func(n int, path, target string, body map[string]any) {
		for range n {
			b, _ := json.Marshal(body)
			calls = append(calls, &loadCall{path: path, target: target, body: string(b)})
		}
	}
	add(3, "/api/backup/service", svcs[0].name, map[string]any{"serviceName": svcs[0].name})
	add(3, "/api/backup/service", svcs[1].name, map[string]any{"serviceName": svcs[1].name})
	add(2, "/api/backup/service", svcs[2].name, map[string]any{"serviceName": svcs[2].name})
	for _, n := range nodes {
		add(6, "/api/clean/node", n, map[string]any{"nodeName": n})
	}
	for _, s := range svcs[3:7] {
		add(8, "/api/update/service", s.name, map[string]any{"serviceName": s.name, "image": tb.WorkloadImage, "isForce": false})
	}
	// Service 6 gets only updates, as 0 and 1 only backups and the nodes only clean-node, so
	// that each action has a target where the first call wins; 2-5 mix actions.
	cleaned := []loadSvc{svcs[2], svcs[3], svcs[4], svcs[5], svcs[7], svcs[8], svcs[9]}
	for i := 0; len(calls) < 200; i++ {
		s := cleaned[i%len(cleaned)]
		add(1, "/api/clean/service", s.name, map[string]any{"serviceName": s.name})
	}
	rand.Shuffle(len(calls), func(i, j int) { calls[i], calls[j] = calls[j], calls[i] })

	// Deadlock guard: every call and the drain must end within this; the test then fails
	// naming the calls without an answer instead of hanging.
	guard, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	start := make(chan struct{})
	t0 := time.Now()
	for _, c := range calls {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequestWithContext(guard, http.MethodPost, base+c.path, strings.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer "+itAdmin)
			began := time.Now()
			res, err := client.Do(req)
			if err != nil {
				c.err = err
				return
			}
			b, err := io.ReadAll(res.Body)
			_ = res.Body.Close()
			c.latency, c.status, c.answer, c.jobID, c.err = time.Since(began), res.StatusCode, string(b), res.Header.Get("X-Job-Id"), err
			_ = json.Unmarshal(b, &c.result)
		})
	}
	cpuBefore := processCPU()
	close(start)
	wg.Wait()
	total := time.Since(t0)
	cpu := processCPU() - cpuBefore
	drainCtx, drainCancel := context.WithTimeout(guard, time.Minute)
	defer drainCancel()
	if err := srv.Drain(drainCtx); err != nil {
		t.Fatalf("operations still running after every call was answered: %v", err)
	}
	if guard.Err() != nil {
		for _, c := range calls {
			if c.err != nil {
				t.Errorf("no answer (deadlock?): POST %s %s: %v", c.path, c.body, c.err)
			}
		}
		t.Fatal("the load did not end within 10 minutes")
	}

	// Every answer is 200 or 409 and says so in its body.
	statuses := map[string]map[int]int{}
	for _, c := range calls {
		if statuses[c.path] == nil {
			statuses[c.path] = map[int]int{}
		}
		statuses[c.path][c.status]++
		switch {
		case c.err != nil:
			t.Errorf("POST %s %s: %v", c.path, c.body, c.err)
		case c.status == http.StatusOK && c.result.OK && c.result.Target == c.target:
		case c.status == http.StatusConflict && c.result.ErrorKind == operation.KindBusy && c.result.Target == c.target:
		case c.status == http.StatusBadGateway && c.path == "/api/clean/node" && strings.Contains(c.answer, "a prune operation is already running"):
			// docker's own answer when another test prunes that node outside this server.
			t.Logf("clean-node %s met a prune of another process: %s", c.target, c.result.Error)
		default:
			t.Errorf("POST %s %s: %d, want 200 or 409:\n%s", c.path, c.body, c.status, c.answer)
		}
	}
	for _, path := range fuzzPaths {
		if statuses[path][http.StatusOK] == 0 {
			t.Errorf("no call to %s succeeded: %v", path, statuses[path])
		}
	}

	// Nothing left behind: no helper of our targets, every service at its replica count
	// without the restore label. Removal is synchronous, so helpers should already be gone;
	// other tests' clean-node helpers may exist for a moment, hence the wait.
	ours := map[string]bool{}
	for _, s := range svcs {
		ours["service:"+s.name] = true
	}
	for _, n := range nodes {
		ours["node:"+n] = true
	}
	var left string
	testbed.WaitFor(t, time.Minute, "no helpers of the load's targets", func() bool {
		ids := strings.Fields(tb.Docker(t, "service", "ls", "-q", "--filter", "label=swarm-utils.helper=true"))
		if len(ids) == 0 {
			return true
		}
		out, err := tb.TryDockerOn("manager", append([]string{"service", "inspect", "--format",
			`{{.Spec.Name}} {{index .Spec.Labels "swarm-utils.helper.lock"}}`}, ids...)...)
		left = ""
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if name, lock, _ := strings.Cut(line, " "); ours[lock] {
				left += " " + name
			}
		}
		return left == "" && (err == nil || strings.Contains(err.Error(), "no such service"))
	})
	for _, s := range svcs {
		out := tb.Docker(t, "service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}} {{json .Spec.Labels}}", s.name)
		if !strings.HasPrefix(out, fmt.Sprintf("%d ", s.replicas)) || strings.Contains(out, "swarm-utils.backup.restore-replicas") {
			t.Errorf("%s after the load: %s (want %d replicas, no restore label)", s.name, strings.TrimSpace(out), s.replicas)
		}
		testbed.WaitFor(t, time.Minute, s.name+" back at its replicas", func() bool { return tb.RunningReplicas(t, s.name) == s.replicas })
	}
	// No goroutine of the server is left once the operations ended and the server closed.
	_ = httpSrv.Close()
	client.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutinesBefore+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutinesBefore+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after the load, %d before:\n%s", n, goroutinesBefore, buf[:runtime.Stack(buf, true)])
	}

	// The server's time without docker: the request's wall time minus the docker time of its
	// authorisation and of its operation, minus the wait for the target's lock.
	var e2e, own, ownOK, lockWaits []time.Duration
	byOp := map[string][]time.Duration{}
	var slowest []string
	var slowestBy []time.Duration
	ops.mu.Lock()
	defer ops.mu.Unlock()
	if ops.dups > 0 {
		t.Errorf("%d operations share op, target and start time: the latency link is ambiguous", ops.dups)
	}
	for _, c := range calls {
		if c.err != nil {
			continue
		}
		e2e = append(e2e, c.latency)
		rq, okReq := reqs[c.jobID]
		op, okOp := ops.records[opKey(c.result.Operation, c.result.Target, c.result.StartedAt)]
		if !okReq || !okOp {
			t.Errorf("no timing for %s %s (job %q): request %v, operation %v", c.path, c.target, c.jobID, okReq, okOp)
			continue
		}
		d := rq.wall - rq.docker - op.docker - op.lockWait
		if d < 0 {
			t.Errorf("negative non-docker time for %s %s: %+v %+v", c.path, c.target, rq, op)
		}
		own = append(own, d)
		lockWaits = append(lockWaits, op.lockWait)
		if c.status == http.StatusOK {
			ownOK = append(ownOK, d)
			byOp[c.result.Operation] = append(byOp[c.result.Operation], d)
		}
		slowest = append(slowest, fmt.Sprintf("%s %s %d: non-docker %s; request %s (docker %s), operation %s (docker %s, lock wait %s); before the operation %s, after it %s",
			c.result.Operation, c.target, c.status, msOf(d), msOf(rq.wall), msOf(rq.docker), msOf(op.wall), msOf(op.docker), msOf(op.lockWait),
			msOf(op.start.Sub(rq.start)), msOf(rq.end.Sub(op.end))))
		slowestBy = append(slowestBy, d)
	}
	idx := make([]int, len(slowest))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return slowestBy[idx[a]] > slowestBy[idx[b]] })
	for _, i := range idx[:min(3, len(idx))] {
		t.Logf("slowest: %s", slowest[i])
	}
	var perOp string
	for _, op := range []string{OpCleanService, OpCleanNode, OpUpdateService, OpBackupService} {
		perOp += fmt.Sprintf("  %s p50 %s max %s", op, msOf(percentile(byOp[op], .5)), msOf(percentile(byOp[op], 1)))
	}
	report := fmt.Sprintf(`swarm-utils API load: %d concurrent calls (%d services, %d nodes), lock timeout %s, %s in all
answers: %v
end-to-end latency (client)           p50 %s  p99 %s
non-docker server time, all answers   p50 %s  p99 %s
non-docker server time, 200 answers   p50 %s  p99 %s
lock wait (excluded above)            p50 %s  p99 %s
200 answers by operation:%s
CPU of this process (client and server, docker CLI children excluded): %s, %s per call
docker CLI processes at once: up to %d on %d CPUs. The non-docker tail is this process waiting
for a CPU behind them (and the 100 ms sleeps between task polls), not the server's own work.
`, len(calls), len(svcs), len(nodes), cfg.Timeouts.Lock, total.Round(time.Millisecond), statuses,
		msOf(percentile(e2e, .5)), msOf(percentile(e2e, .99)), msOf(percentile(own, .5)), msOf(percentile(own, .99)),
		msOf(percentile(ownOK, .5)), msOf(percentile(ownOK, .99)), msOf(percentile(lockWaits, .5)), msOf(percentile(lockWaits, .99)), perOp,
		cpu.Round(time.Millisecond), msOf(cpu/time.Duration(len(calls))), runner.peak, runtime.NumCPU())
	t.Log("\n" + report)
	if err := os.WriteFile("/tmp/load-result.txt", []byte(report), 0o644); err != nil {
		t.Errorf("write /tmp/load-result.txt: %v", err)
	}
}

// processCPU is the user and system CPU time this process used so far (not its children).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sweepLoadVolumes removes it-load-* volumes earlier runs had to leave: the uploader's exited
// container holds a volume until swarm removes it, minutes after the test.
func sweepLoadVolumes(tb testbed.Bed) {
	for _, node := range []string{"manager", "worker-1", "worker-2"} {
		out, _ := tb.TryDockerOn(node, "volume", "ls", "-q", "--filter", "name=it-load-")
		for _, v := range strings.Fields(out) {
			if strings.HasPrefix(v, "it-load-") {
				_, _ = tb.TryDockerOn(node, "volume", "rm", v) // fails while in use: left for later
			}
		}
	}
}
