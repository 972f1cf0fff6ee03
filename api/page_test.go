package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/api/statuspage"
	"github.com/swarm-utils/swarm-utils/history"
	"github.com/swarm-utils/swarm-utils/operation"
)

// TestStatusPageShowsTheJobStoresRuns: through the whole handler, the page lists the runs the
// API started (the job store is its run history until the history store is plugged in): the
// failed one first; a node's run started by ID is the node's; an unknown token gets the form
// (401) and the page reads nothing.
func TestStatusPageShowsTheJobStoresRuns(t *testing.T) {
	h := newHarness(t)
	h.ops.result = func(_ context.Context, op, target string) operation.Result {
		if op == OpCleanService && target == "shop_db" {
			return operation.Result{Operation: op, Target: target, Error: "exec vacuum: exit status 3", ErrorKind: operation.KindDocker, Steps: []operation.Step{}}
		}
		return operation.Result{Operation: op, Target: target, OK: true, Steps: []operation.Step{}}
	}
	expectStatus(t, h.do("POST", "/api/clean/service", `{"serviceName":"shop_web"}`, webClean), 200)
	expectStatus(t, h.do("POST", "/api/clean/service", `{"serviceName":"shop_db"}`, adminToken), 502)
	expectStatus(t, h.do("POST", "/api/clean/node", `{"nodeName":"node-id-w1"}`, adminToken), 200)

	before := h.targets.docker.Load()
	r := h.do("GET", "/", "", "not-a-known-token")
	if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), `action="/login"`) {
		t.Fatalf("unknown token: %d\n%s", r.Status, r.Body)
	}
	if n := h.targets.docker.Load() - before; n > 2 {
		t.Errorf("%d target reads for an unknown token, want at most the label cache's refresh", n)
	}

	r = h.do("GET", "/", "", adminToken)
	body := string(r.Body)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("admin: %d %s\n%s", r.Status, r.Header, body)
	}
	db, web := strings.Index(body, `data-target="shop_db" data-state="failed"`), strings.Index(body, `data-target="shop_web"`)
	if db < 0 || web < 0 || db > web {
		t.Errorf("shop_db (failed) must come before shop_web:\n%s", body)
	}
	for _, want := range []string{"docker: exec vacuum: exit status 3", `data-target="worker-1" data-state="ok"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	// The token of shop_web's clean sees shop_web alone.
	r = h.do("GET", "/", "", webClean)
	if body := string(r.Body); r.Status != 200 || !strings.Contains(body, `data-target="shop_web"`) || strings.Contains(body, "shop_db") || strings.Contains(body, "worker-1") {
		t.Errorf("label token: %d\n%s", r.Status, body)
	}
	// Other paths stay the API's JSON 404.
	if r := h.do("GET", "/nothing", "", adminToken); r.Status != 404 || !strings.Contains(string(r.Body), `"errorKind"`) {
		t.Errorf("GET /nothing: %d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/assets/status.js", "", ""); r.Status != 200 || !strings.Contains(string(r.Body), "dataset.js") {
		t.Errorf("script: %d %s", r.Status, r.Body)
	}
}

func expectStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%d, want %d: %s", r.Status, status, r.Body)
	}
}

// fakeRunHistory is a RunHistory over records in memory, newest first, counting the reads.
type fakeRunHistory struct {
	recs        []history.Record
	lists, last *atomic.Int32
	err         error
}

func newFakeRunHistory(recs ...history.Record) fakeRunHistory {
	return fakeRunHistory{recs: recs, lists: &atomic.Int32{}, last: &atomic.Int32{}}
}

func (f fakeRunHistory) List(flt history.Filter) ([]history.Record, error) {
	f.lists.Add(1)
	var out []history.Record
	for _, r := range f.recs {
		if (flt.Target == "" || r.Target == flt.Target) && (flt.Operation == "" || r.Operation == flt.Operation) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f fakeRunHistory) Get(string) (history.Record, bool, error) {
	return history.Record{}, false, nil
}

// Last is history.Store.Last: the newest record of each (operation, target).
func (f fakeRunHistory) Last() ([]history.Record, error) {
	f.last.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	newest := map[[2]string]history.Record{}
	for _, r := range f.recs {
		k := [2]string{r.Operation, r.Target}
		if old, ok := newest[k]; !ok || r.StartedAt.After(old.StartedAt) {
			newest[k] = r
		}
	}
	out := []history.Record{}
	for _, r := range newest {
		out = append(out, r)
	}
	return out, nil
}

// TestHistoryRunsAreThePagesRuns: with a run history the page's last run of each operation is
// the history's newest (cron runs too, across restarts), a node's runs are found under its
// hostname and its ID, and a job the API is running now wins over what the history knows.
func TestHistoryRunsAreThePagesRuns(t *testing.T) {
	now := time.Now().UTC()
	h := newFakeRunHistory(
		history.Record{Operation: OpBackupService, Target: "shop_db", StartedAt: now.Add(-time.Hour), OK: false, Error: "upload: exit 1"},
		history.Record{Operation: OpBackupService, Target: "shop_db", StartedAt: now.Add(-2 * time.Hour), OK: true},
		history.Record{Operation: OpCleanService, Target: "shop_db", StartedAt: now.Add(-3 * time.Hour), OK: true, DurationMs: 1500},
		history.Record{Operation: OpCleanNode, Target: "node-id-w1", StartedAt: now.Add(-time.Minute), OK: true},
		history.Record{Operation: OpCleanNode, Target: "worker-1", StartedAt: now.Add(-time.Hour), OK: false},
		history.Record{Operation: OpCleanNode, Target: "worker-2", StartedAt: now.Add(-time.Hour), OK: true},
	)
	store := newJobStore(10, 4)
	if _, e := store.add(newJob{operation: OpCleanService, target: "shop_db", key: "service:shop_db", admin: true}); e != nil {
		t.Fatal(e)
	}
	runs := historyRuns{history: h, jobs: jobRuns{store}}
	targets := []statuspage.Target{
		{Kind: statuspage.KindService, Name: "shop_db"},
		{Kind: statuspage.KindNode, Name: "worker-1", ID: "node-id-w1"},
		{Kind: statuspage.KindService, Name: "never_ran"},
		{Kind: statuspage.KindNode, Name: "worker-2", ID: "node-id-w2"},
	}
	got, err := runs.LastRuns(context.Background(), targets)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(targets) {
		t.Fatalf("%d answers for %d targets", len(got), len(targets))
	}
	if n, l := h.last.Load(), h.lists.Load(); n != 1 || l != 0 {
		t.Errorf("the history was read %d times by Last and %d by List for %d targets, want one Last", n, l, len(targets))
	}
	byOp := make([]map[string]statuspage.Run, len(got))
	for i, rs := range got {
		byOp[i] = map[string]statuspage.Run{}
		for _, r := range rs {
			if _, dup := byOp[i][r.Operation]; dup {
				t.Errorf("%s: two runs of %s", targets[i].Name, r.Operation)
			}
			byOp[i][r.Operation] = r
		}
	}
	if b := byOp[0][OpBackupService]; b.OK || b.Error != "upload: exit 1" {
		t.Errorf("backup: %+v, want the newest record (failed)", b)
	}
	if c := byOp[0][OpCleanService]; !c.Running {
		t.Errorf("clean-service: %+v, want the job queued now", c)
	}
	if c := byOp[1][OpCleanNode]; !c.OK || c.Target != "worker-1" {
		t.Errorf("clean-node: %+v, want the run recorded under the node's ID, newer, shown as worker-1", c)
	}
	if len(byOp[2]) != 0 {
		t.Errorf("a service that never ran has runs: %v", byOp[2])
	}
	if c := byOp[3][OpCleanNode]; !c.OK || c.Target != "worker-2" || len(byOp[3]) != 1 {
		t.Errorf("worker-2: %v, want its one clean-node", byOp[3])
	}

	h.err = errors.New("bbolt: database not open")
	runs.history = h
	if _, err := runs.LastRuns(context.Background(), targets); err == nil || !strings.Contains(err.Error(), "read the run history: bbolt") {
		t.Errorf("a failed read: %v, want it said", err)
	}
}

// TestStatusPageReadsTheHistoryOncePerLoad: whatever the number of services and nodes, one
// page load is one read of the run history's last runs, and a failed read is on every card.
func TestStatusPageReadsTheHistoryOncePerLoad(t *testing.T) {
	hist := newFakeRunHistory(history.Record{Operation: OpCleanService, Target: "shop_db", StartedAt: time.Now().Add(-time.Minute), Error: "exit 3", ErrorKind: "docker"})
	h := newHarness(t, func(o *Options) { o.History = hist })
	r := h.do("GET", "/", "", adminToken)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `data-target="shop_db" data-state="failed"`) {
		t.Fatalf("admin: %d\n%s", r.Status, r.Body)
	}
	if n, l := hist.last.Load(), hist.lists.Load(); n != 1 || l != 0 {
		t.Errorf("one page load read the history %d times by Last and %d by List, want one Last", n, l)
	}
}
