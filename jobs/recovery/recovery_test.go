package recovery

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/clusterlock"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

const ctr = "3f9c2d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e"

func testConfig() config.Config {
	return config.Config{DockerCLIImage: "docker:cli", BackupImage: "offen/docker-volume-backup:v2.48.2",
		Timeouts: config.Timeouts{BackupStart: time.Second, Pending: time.Second, Lock: time.Second, Extra: time.Second}}
}

// stale is a helper a killed swarm-utils left: its service with the helper labels and its task.
type stale struct {
	id, action, target, step, node, nodeID, state, container string
	nodeKey                                                  bool // lock key node:TARGET, else service:TARGET
}

func (s stale) lockKey() string {
	if s.nodeKey {
		return "node:" + s.target
	}
	return "service:" + s.target
}

func (s stale) name() string { return helper.Name(s.action, s.target, s.step, s.node) }

func newFake() *swarmtest.Fake {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"), swarmtest.Node("n2", "worker-2"), swarmtest.Node("nm", "manager"))
	f.Local = "nm" // swarm-utils runs on the manager
	return f
}

func addStale(f *swarmtest.Fake, s stale) {
	f.AddService(parse.Service{ID: s.id, Name: s.name(), Image: "docker:cli", Mode: parse.ModeReplicatedJob, Labels: map[string]string{
		helper.LabelHelper: "true", helper.LabelLock: s.lockKey(), helper.LabelAction: s.action, helper.LabelStep: s.step}})
	f.AddTask(s.id, s.node, parse.Task{ID: "task-" + s.id, NodeID: s.nodeID, Slot: 1, DesiredState: "complete", State: s.state, ContainerID: s.container}, "")
}

// stopped adds a service a backup left at 0 replicas (restore label restore) or, with restore
// "", a service at replicas that is fine.
func stopped(f *swarmtest.Fake, name string, replicas uint64, restore string) {
	labels := map[string]string{parse.LabelBackupEnable: "true"}
	if restore != "" {
		labels[backup.LabelRestoreReplicas] = restore
	}
	f.AddService(parse.Service{Name: name, Image: "db:1", Replicas: replicas, Labels: labels}, "worker-1")
}

func job(f *swarmtest.Fake, cfg config.Config) (*Job, *swarmtest.Wiring) {
	w := swarmtest.Wire(f, cfg)
	bk := &backup.Job{Swarm: f, Helpers: w.Helpers, Ops: w.Ops, Config: cfg, Secrets: w.Secrets, Log: w.Log, PollInterval: time.Millisecond}
	return &Job{Swarm: f, Helpers: w.Helpers, Stopped: bk, Locks: w.Ops.Locks, LockWait: cfg.Timeouts.Lock, Log: w.Log}, w
}

// changes describes the calls that changed the cluster: "remove ID", "scale NAME N",
// "create-job NAME ARGS", "run-local ARGS".
func changes(f *swarmtest.Fake) []string {
	var out []string
	for _, c := range f.Changes() {
		switch c.Verb {
		case "remove":
			out = append(out, "remove "+c.Target)
		case "scale":
			out = append(out, "scale "+c.Target+" "+strconv.FormatUint(c.Scale.Replicas, 10))
		case "create-job":
			out = append(out, "create-job "+strings.Join(c.Job.Args, " "))
		case "run-local":
			out = append(out, "run-local "+strings.Join(c.Args, " "))
		default:
			out = append(out, c.Verb+" "+c.Target)
		}
	}
	return out
}

func TestRepairNothingToDoChangesNothing(t *testing.T) {
	f := newFake()
	stopped(f, "shop_web", 3, "")
	j, w := job(f, testConfig())
	rep := j.Run(context.Background(), Options{})
	if !rep.OK || len(rep.Results) != 0 {
		t.Fatalf("report %+v, want OK with no results", rep)
	}
	if c := changes(f); len(c) != 0 {
		t.Errorf("changes with nothing to repair: %q", c)
	}
	if !strings.Contains(w.Logs(), `level=INFO msg="repaired: 0 helpers removed, 0 services restored"`) {
		t.Errorf("summary not logged at info:\n%s", w.Logs())
	}
}

func TestRepairRemovesHelpersFirstThenRestores(t *testing.T) {
	f := newFake()
	upload := stale{id: "hid1", action: backup.Op, target: "shop_db", step: "upload", node: "worker-2", nodeID: "n2", state: "running", container: ctr}
	prune := stale{id: "hid2", action: "clean-node", target: "worker-1", step: "prune", node: "worker-1", nodeID: "n1", state: "complete",
		container: strings.Repeat("a", 64), nodeKey: true}
	addStale(f, upload)
	addStale(f, prune)
	stopped(f, "shop_db", 0, "2")
	stopped(f, "shop_web", 3, "")
	j, w := job(f, testConfig())

	rep := j.Run(context.Background(), Options{})
	if !rep.OK {
		t.Fatalf("not OK: %+v", rep)
	}
	// Every removal, and the stop of the running uploader's container by a helper pinned to
	// its node (then removed), before the service starts again. The two targets are repaired
	// in parallel.
	got := changes(f)
	if len(got) != 5 || got[4] != "scale shop_db 2" {
		t.Fatalf("changes %q, want 4 removals and the stop, then the restore", got)
	}
	idx := func(prefix string) int {
		for i, c := range got {
			if strings.HasPrefix(c, prefix) {
				return i
			}
		}
		return -1
	}
	create, rmStopper := idx("create-job docker rm --force "+ctr), -1
	for i, c := range got {
		if strings.HasPrefix(c, "remove ") && c != "remove hid1" && c != "remove hid2" {
			rmStopper = i
		}
	}
	for _, c := range []string{"remove hid1", "remove hid2"} {
		if idx(c) < 0 {
			t.Errorf("changes %q lack %q", got, c)
		}
	}
	if idx("remove hid1") > create || create < 0 || rmStopper < create {
		t.Errorf("changes %q: want the uploader removed, its container stopped by a helper, that helper removed", got)
	}
	stop := f.Calls("create-job")[0].Job
	if stop.NodeID != "n2" || stop.Image != "docker:cli" || !hasLabel(*stop, helper.LabelLock, "service:shop_db") ||
		!hasLabel(*stop, helper.LabelStep, "stop") || stop.Mounts[0] != "type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock" {
		t.Errorf("stop helper %+v", stop)
	}
	if s, _ := f.Get("shop_db"); s.Replicas != 2 || s.Labels[backup.LabelRestoreReplicas] != "" {
		t.Errorf("shop_db after repair: %+v", s)
	}
	if s, _ := f.Get("shop_web"); s.Replicas != 3 {
		t.Errorf("shop_web touched: %+v", s)
	}

	// One Result per repair, each with its step.
	if len(rep.Results) != 3 {
		t.Fatalf("results %+v, want 3", rep.Results)
	}
	byTarget := map[string]operation.Result{}
	for _, r := range rep.Results {
		if len(r.Steps) != 1 {
			t.Errorf("result %s has steps %+v, want one", r.Target, r.Steps)
		}
		byTarget[r.Target+"/"+r.Operation] = r
	}
	up := byTarget["service:shop_db/recover"].Steps[0]
	if up.Name != "remove-helper" || up.Details["state"] != "running" || up.Details["step"] != "upload" || up.Helper != upload.name() ||
		up.Details["action"] != backup.Op || up.Details["stopped"] != "true" || !strings.Contains(up.Details["interrupted"], "uploader is interrupted") {
		t.Errorf("uploader step %+v", up)
	}
	pr := byTarget["node:worker-1/recover"].Steps[0]
	if pr.Name != "remove-helper" || pr.Details["state"] != "complete" || pr.Details["interrupted"] != "" || pr.Node != "worker-1" || pr.Details["step"] != "prune" {
		t.Errorf("prune step %+v", pr)
	}
	if st := byTarget["shop_db/backup-recover"].Steps[0]; st.Name != "recover-start" || !st.OK {
		t.Errorf("restore step %+v", st)
	}
	for _, want := range []string{
		`level=WARN msg="repaired: 2 helpers removed, 1 services restored"`,
		"a running uploader is interrupted", "lockKey=service:shop_db", "action=" + backup.Op, "state=running",
		"lockKey=node:worker-1", "state=complete",
	} {
		if !strings.Contains(w.Logs(), want) {
			t.Errorf("log lacks %q:\n%s", want, w.Logs())
		}
	}
}

func hasLabel(j swarm.Job, key, value string) bool {
	for _, l := range j.Labels {
		if l.Key == key && l.Value == value {
			return true
		}
	}
	return false
}

// The step comes from the helper's step label, also when its name was shortened with a hash.
func TestRepairReadsTheStepLabel(t *testing.T) {
	f := newFake()
	long := "stack_" + strings.Repeat("database", 6)
	s := stale{id: "hid1", action: backup.Op, target: long, step: "upload", node: "worker-1", nodeID: "n1", state: "running", container: ctr}
	if strings.Contains(s.name(), "upload") {
		t.Fatalf("%s: the name was expected to be shortened past its step", s.name())
	}
	addStale(f, s)
	j, w := job(f, testConfig())
	rep := j.Run(context.Background(), Options{})
	if !rep.OK || len(rep.Results) != 1 {
		t.Fatalf("report %+v", rep)
	}
	if st := rep.Results[0].Steps[0]; st.Details["step"] != "upload" || !strings.Contains(st.Details["interrupted"], "uploader") {
		t.Errorf("step %+v", st)
	}
	if !strings.Contains(w.Logs(), "a running uploader is interrupted") {
		t.Errorf("log:\n%s", w.Logs())
	}
}

func TestRepairOnlyTargetLeavesOthersAlone(t *testing.T) {
	f := newFake()
	addStale(f, stale{id: "hid1", action: "clean-service", target: "mine", step: "exec", node: "worker-1", nodeID: "n1", state: "complete"})
	addStale(f, stale{id: "hid2", action: "clean-service", target: "theirs", step: "exec", node: "worker-1", nodeID: "n1", state: "running", container: ctr})
	stopped(f, "mine", 0, "1")
	stopped(f, "theirs", 0, "1")
	j, _ := job(f, testConfig())
	rep := j.Run(context.Background(), Options{Only: "service:mine"})
	if !rep.OK || len(rep.Results) != 2 {
		t.Fatalf("report %+v", rep)
	}
	if _, live := f.Get(helper.Name("clean-service", "mine", "exec", "worker-1")); live {
		t.Error("my helper is still there")
	}
	if _, live := f.Get(helper.Name("clean-service", "theirs", "exec", "worker-1")); !live {
		t.Error("their helper was removed")
	}
	mine, _ := f.Get("mine")
	theirs, _ := f.Get("theirs")
	if mine.Replicas != 1 || theirs.Replicas != 0 {
		t.Errorf("replicas mine %d theirs %d; want only mine restored", mine.Replicas, theirs.Replicas)
	}

	// A node key restores no service at all.
	f2 := newFake()
	stopped(f2, "mine", 0, "1")
	j2, _ := job(f2, testConfig())
	if rep := j2.Run(context.Background(), Options{Only: "node:worker-1"}); !rep.OK || len(rep.Results) != 0 || len(changes(f2)) != 0 {
		t.Errorf("node-only repair: report %+v, changes %q", rep, changes(f2))
	}
}

func TestRepairWaitsForTheTargetLock(t *testing.T) {
	f := newFake()
	s := stale{id: "hid1", action: "clean-service", target: "shop_web", step: "exec", node: "worker-1", nodeID: "n1", state: "complete"}
	addStale(f, s)
	j, _ := job(f, testConfig())
	release, err := j.Locks.Acquire(context.Background(), "service:shop_web", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan operation.Report)
	go func() { done <- j.Run(context.Background(), Options{}) }()
	time.Sleep(100 * time.Millisecond)
	if len(f.Calls("remove")) != 0 {
		t.Fatal("helper removed while another operation held its target's lock")
	}
	release()
	if rep := <-done; !rep.OK || len(f.Helpers()) != 0 {
		t.Errorf("after the lock was released: report %+v, helpers %+v", rep, f.Helpers())
	}

	// Held past the lock timeout: that target's repair fails as busy, nothing is removed.
	f2 := newFake()
	addStale(f2, stale{id: "hid1", action: "clean-service", target: "x", step: "exec", state: "complete"})
	cfg := testConfig()
	cfg.Timeouts.Lock = 20 * time.Millisecond
	j2, _ := job(f2, cfg)
	rel2, _ := j2.Locks.Acquire(context.Background(), "service:x", time.Second)
	defer rel2()
	rep := j2.Run(context.Background(), Options{})
	if rep.OK || len(rep.Results) != 1 || rep.Results[0].ErrorKind != operation.KindBusy || len(f2.Calls("remove")) != 0 {
		t.Errorf("busy target: report %+v, removes %d", rep, len(f2.Calls("remove")))
	}
}

func TestRepairDockerAwayIsReportedNotFatal(t *testing.T) {
	f := newFake()
	f.Fail = map[string]error{"list-services": errorString("exit status 1: Cannot connect to the Docker daemon")}
	j, w := job(f, testConfig())
	rep := j.Run(context.Background(), Options{})
	if rep.OK || len(rep.Results) != 2 {
		t.Fatalf("report %+v, want two failed listings", rep)
	}
	for _, r := range rep.Results {
		if r.OK || !strings.Contains(r.Error, "Cannot connect") {
			t.Errorf("result %+v", r)
		}
	}
	if c := changes(f); len(c) != 0 {
		t.Errorf("changes %q", c)
	}
	if !strings.Contains(w.Logs(), "level=ERROR") {
		t.Errorf("failure not logged as an error:\n%s", w.Logs())
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestRepairTaskThatNeverStopsFails(t *testing.T) {
	f := newFake()
	// Not yet on a node: no container to remove, and it never ends.
	addStale(f, stale{id: "hid1", action: backup.Op, target: "db", step: "upload", node: "worker-1", nodeID: "n1", state: "starting"})
	j, _ := job(f, testConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rep := j.Run(ctx, Options{})
	if rep.OK || len(rep.Results) != 1 || !strings.Contains(rep.Results[0].Error, "still starting") {
		t.Errorf("report %+v", rep)
	}
}

// The 20.10 workaround is engine-aware: a current engine stops a removed helper's task on its
// own, so the repair removes the helper and waits, without a container removal of its own; a
// node still on 20.10 gets its container removed, directly on the manager (no helper).
func TestRepairStopsOrphanTasksOnlyWhereTheEngineLeavesThem(t *testing.T) {
	for _, tc := range []struct {
		engine, api string
		want        []string
	}{
		{"29.1.3", "1.56", []string{"remove hid1"}},
		{"library-import", "1.56", []string{"remove hid1"}}, // a dev build: the API version decides
		{"20.10.24+dfsg1", "1.41", []string{"remove hid1", "run-local docker rm --force " + ctr}},
		{"23.0.6", "1.43", []string{"remove hid1", "run-local docker rm --force " + ctr}},
	} {
		t.Run(tc.engine+"/"+tc.api, func(t *testing.T) {
			f := newFake()
			f.Engine, f.API = tc.engine, tc.api
			addStale(f, stale{id: "hid1", action: "clean-service", target: "shop_web", step: "exec", node: "manager", nodeID: "nm", state: "running", container: ctr})
			j, w := job(f, testConfig())
			rep := j.Run(context.Background(), Options{})
			legacy := len(tc.want) > 1
			if legacy && (!rep.OK || rep.Results[0].Steps[0].Details["stopped"] != "true") {
				t.Fatalf("report %+v", rep)
			}
			got := changes(f)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("changes %q, want %q", got, tc.want)
			}
			if legacy != strings.Contains(w.Logs(), "moby/moby#44312") {
				t.Errorf("the log says the workaround ran=%v, want %v:\n%s", !legacy, legacy, w.Logs())
			}
			if st := f.TaskState("task-hid1"); st == "running" && legacy {
				t.Errorf("task still %s", st)
			}
		})
	}
}

// A crash during an upload leaves the uploader's S3 key secrets: they are removed after the
// helper that uses them (docker refuses before), only swarm-utils' own, only the target's
// when limited to one.
func TestRepairRemovesKeySecretsACrashLeft(t *testing.T) {
	f := newFake()
	upload := stale{id: "hid1", action: backup.Op, target: "shop_db", step: "upload", node: "worker-2", nodeID: "n2", state: "complete"}
	addStale(f, upload)
	ours := func(lockKey string) map[string]string {
		return map[string]string{helper.LabelSecret: "true", helper.LabelLock: lockKey, helper.LabelAction: backup.Op}
	}
	f.AddSecret("swarm-utils-aaaa-s3-access-key-id", ours("service:shop_db"), "hid1")
	f.AddSecret("swarm-utils-aaaa-s3-secret-access-key", ours("service:shop_db"), "hid1")
	f.AddSecret("swarm-utils-bbbb-s3-secret-access-key", ours("service:other"))
	f.AddSecret("users-own-db-password", map[string]string{"team": "shop"})
	j, w := job(f, testConfig())

	rep := j.Run(context.Background(), Options{Only: "service:shop_db"})
	if !rep.OK {
		t.Fatalf("not OK: %+v", rep)
	}
	if got, want := f.Secrets(), []string{"swarm-utils-bbbb-s3-secret-access-key", "users-own-db-password"}; !slices.Equal(got, want) {
		t.Errorf("secrets after the repair of shop_db: %q, want %q", got, want)
	}
	removed := 0
	for _, r := range rep.Results {
		if len(r.Steps) == 1 && r.Steps[0].Name == "remove-secret" && r.Steps[0].OK {
			removed++
		}
	}
	if removed != 2 {
		t.Errorf("%d remove-secret results, want 2: %+v", removed, rep.Results)
	}
	if !strings.Contains(w.Logs(), "secretsRemoved=2") {
		t.Errorf("summary does not count the secrets:\n%s", w.Logs())
	}

	if rep := j.Run(context.Background(), Options{}); !rep.OK {
		t.Fatalf("full repair not OK: %+v", rep)
	}
	if got, want := f.Secrets(), []string{"users-own-db-password"}; !slices.Equal(got, want) {
		t.Errorf("secrets after a full repair: %q, want %q (only the user's own)", got, want)
	}
}

// A repair leaves the helpers of another instance and of a live run (its target's cluster
// lock held) alone, and removes only its own instance's dead ones.
func TestRepairLeavesOtherInstancesAndLiveRuns(t *testing.T) {
	f := newFake()
	for _, s := range []struct {
		stale
		instance string
	}{
		{stale{id: "dead", action: "clean-service", target: "a_dead", step: "exec", node: "worker-1", nodeID: "n1", state: "complete"}, "team-a"},
		{stale{id: "other", action: "clean-service", target: "b_web", step: "exec", node: "worker-1", nodeID: "n1", state: "running", container: ctr}, "team-b"},
		{stale{id: "live", action: "backup-service", target: "a_live", step: "upload", node: "worker-2", nodeID: "n2", state: "running", container: ctr}, "team-a"},
		{stale{id: "crashed", action: "clean-service", target: "a_crashed", step: "exec", node: "worker-1", nodeID: "n1", state: "complete"}, "team-a"},
	} {
		addStale(f, s.stale)
		svc, _ := f.Get(s.name())
		svc.Labels[helper.LabelInstance] = s.instance
	}
	// a_live's run holds its cluster lock, in another process.
	f.AddConfig(clusterlock.Name("service:a_live"), map[string]string{clusterlock.LabelInstance: "team-a",
		clusterlock.LabelExpires: time.Now().Add(time.Hour).Format(time.RFC3339Nano)})
	// a_crashed's holder was killed: its lock expires within the repair's wait of one lease.
	f.AddConfig(clusterlock.Name("service:a_crashed"), map[string]string{clusterlock.LabelInstance: "team-a",
		clusterlock.LabelExpires: time.Now().Add(100 * time.Millisecond).Format(time.RFC3339Nano)})
	cfg := testConfig()
	cfg.Instance = "team-a"
	cfg.Timeouts.Lock = 20 * time.Millisecond
	j, w := job(f, cfg)
	j.Instance, j.Cluster, j.Lease = "team-a", w.Ops.Cluster, 200*time.Millisecond
	rep := j.Run(context.Background(), Options{})
	if !rep.OK {
		t.Fatalf("report %+v", rep)
	}
	var removed []string
	for _, c := range f.Calls("remove") {
		removed = append(removed, c.Target)
	}
	slices.Sort(removed)
	if !slices.Equal(removed, []string{"crashed", "dead"}) {
		t.Fatalf("removed %v, want only the dead helpers of this instance (the crashed holder's after its lease)", removed)
	}
	var skipped bool
	for _, r := range rep.Results {
		skipped = skipped || (r.Target == "service:a_live" && strings.Contains(r.Skipped, "live run"))
	}
	if !skipped {
		t.Errorf("the live run's helper is not reported as skipped: %+v", rep.Results)
	}
	if len(f.Configs()) != 1 {
		t.Errorf("the live run's lock was touched, or the repair's left: %v", f.Configs())
	}
}
