package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/urfave/cli/v3"
)

// recHelper is a helper service a killed swarm-utils left behind.
type recHelper struct {
	ID, Name, LockKey, Action string
	Node, NodeID, State       string // task state: "running", "complete", ...
	Container                 string
	Image                     string // "" = the helper image
}

// recService is a service; Restore is its restore-replicas label ("" = none).
type recService struct {
	Name     string
	Replicas int
	Restore  string
}

// recCluster is a scripted docker for Repair: helpers left by a dead process, services left
// stopped, and the helpers Repair itself runs to stop orphaned tasks.
type recCluster struct {
	t    *testing.T
	fake *bashexec.Fake

	mu       sync.Mutex
	helpers  map[string]*recHelper // by ID
	services map[string]*recService
	stoppers []string // argv (after "docker") of every helper Repair created
	failLs   bool     // every `service ls` fails (docker away)
	// engine is every node's EngineVersion; "" = docker 20.10, which leaves a removed job's
	// task running (moby/moby#44312). A current engine stops it when its service is removed.
	engine string
}

func (c *recCluster) current() bool {
	if c.engine == "" {
		return false
	}
	major, ok := parse.EngineMajor(c.engine)
	return !ok || major >= 24 // a dev build ("library-import") here is a current one
}

func newRecCluster(t *testing.T) *recCluster {
	c := &recCluster{t: t, helpers: map[string]*recHelper{}, services: map[string]*recService{}}
	c.fake = &bashexec.Fake{Handler: c.handle}
	return c
}

func (c *recCluster) deps() (*Deps, *bytes.Buffer) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := bkConfig()
	d := NewDeps(cfg, c.fake, nil, log)
	d.PollInterval = time.Millisecond
	return d, &logs
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (c *recCluster) addHelper(h recHelper) {
	if h.ID == "" {
		h.ID = fmt.Sprintf("hid%d", len(c.helpers)+1)
	}
	c.helpers[h.ID] = &h
}

func rowState(s string) string { return strings.ToUpper(s[:1]) + s[1:] + " 2 minutes ago" }

func (c *recCluster) handle(cmd bashexec.Command) (bashexec.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := cmd.Args[1:]
	out := func(s string) (bashexec.Result, error) { return bashexec.Result{Stdout: s}, nil }
	noSuch := func(what, id string) (bashexec.Result, error) {
		return bashexec.Result{ExitCode: 1}, fmt.Errorf("exit status 1: Error: No such %s: %s", what, id)
	}
	last := a[len(a)-1]
	has := func(s string) bool { return slices.Contains(a, s) }
	switch {
	case len(a) >= 2 && a[0] == "service" && a[1] == "ls":
		if c.failLs {
			return bashexec.Result{ExitCode: 1}, fmt.Errorf("exit status 1: Cannot connect to the Docker daemon")
		}
		var b strings.Builder
		switch {
		case has("label="+labelHelper+"=true") || slices.ContainsFunc(a, func(f string) bool { return strings.HasPrefix(f, "label="+labelHelperLock+"=") }):
			only := ""
			for _, f := range a {
				if v, ok := strings.CutPrefix(f, "label="+labelHelperLock+"="); ok {
					only = v
				}
			}
			for _, id := range c.sortedHelperIDs() {
				h := c.helpers[id]
				if only == "" || h.LockKey == only {
					fmt.Fprintf(&b, `{"ID":%q,"Name":%q,"Mode":"replicated job","Replicas":"0/1 (0/1 completed)"}`+"\n", h.ID, h.Name)
				}
			}
		case has("label=" + labelRestoreReplicas):
			for _, name := range c.sortedServiceNames() {
				if s := c.services[name]; s.Restore != "" {
					fmt.Fprintf(&b, `{"ID":"id-%s","Name":%q,"Mode":"replicated","Replicas":"0/0"}`+"\n", s.Name, s.Name)
				}
			}
		default:
			c.t.Errorf("unexpected service ls: %q", a)
		}
		return out(b.String())
	case len(a) >= 3 && a[0] == "service" && a[1] == "inspect":
		var objs []string
		var missing []string
		for _, id := range a[3:] {
			if h, ok := c.helpers[id]; ok {
				image := h.Image
				if image == "" {
					image = "docker:cli"
				}
				objs = append(objs, fmt.Sprintf(`{"ID":%q,"Version":{"Index":5},"Spec":{"Name":%q,"Labels":{%q:"true",%q:%q,%q:%q},"Mode":{"ReplicatedJob":{}},"TaskTemplate":{"ContainerSpec":{"Image":%q}}}}`,
					h.ID, h.Name, labelHelper, labelHelperLock, h.LockKey, labelHelperAction, h.Action, image))
				continue
			}
			if s, ok := c.services[id]; ok {
				labels := map[string]string{parse.LabelBackupEnable: "true"}
				if s.Restore != "" {
					labels[labelRestoreReplicas] = s.Restore
				}
				lj, _ := json.Marshal(labels)
				objs = append(objs, fmt.Sprintf(`{"ID":"id-%s","Version":{"Index":5},"Spec":{"Name":%q,"Labels":%s,"Mode":{"Replicated":{"Replicas":%d}},"TaskTemplate":{"ContainerSpec":{"Image":"db:1"}}}}`,
					s.Name, s.Name, lj, s.Replicas))
				continue
			}
			missing = append(missing, id)
		}
		res := bashexec.Result{Stdout: "[" + strings.Join(objs, ",") + "]"}
		if len(missing) > 0 {
			return res, fmt.Errorf("exit status 1: Error: No such service: %s", missing[0])
		}
		return res, nil
	case len(a) >= 2 && a[0] == "service" && a[1] == "ps":
		if h, ok := c.helpers[last]; ok {
			return out(fmt.Sprintf(`{"ID":"task-%s","Name":"%s.1","Node":%q,"DesiredState":"Complete","CurrentState":%q,"Error":""}`+"\n", h.ID, h.Name, h.Node, rowState(h.State)))
		}
		if s, ok := c.services[last]; ok {
			var b strings.Builder
			for i := 1; i <= s.Replicas; i++ {
				fmt.Fprintf(&b, `{"ID":"st%d","Name":"%s.%d","Node":"worker-1","DesiredState":"Running","CurrentState":"Running 1 second ago","Error":""}`+"\n", i, s.Name, i)
			}
			return out(b.String())
		}
		return noSuch("service", last)
	case len(a) >= 4 && a[0] == "inspect" && a[1] == "--type" && a[2] == "task":
		id := last
		hid, _ := strings.CutPrefix(id, "task-")
		h, ok := c.helpers[hid]
		if !ok {
			return noSuch("task", id)
		}
		state, exit := h.State, 0
		if state == "failed" {
			exit = 137
		}
		return out(fmt.Sprintf(`[{"ID":%q,"ServiceID":%q,"NodeID":%q,"Slot":1,"DesiredState":"complete","Status":{"Timestamp":"2026-01-02T03:04:05Z","State":%q,"Err":"","ContainerStatus":{"ContainerID":%q,"ExitCode":%d}}}]`,
			id, h.ID, h.NodeID, state, h.Container, exit))
	case len(a) >= 2 && a[0] == "service" && a[1] == "rm":
		h, ok := c.helpers[last]
		if !ok {
			return noSuch("service", last)
		}
		// Like docker 20.10 (moby/moby#44312): the service goes, a running task stays. The
		// task object stays too, so that its state can still be read. A current engine stops
		// the task.
		h.Name = ""
		if c.current() && h.State == "running" {
			h.State = "shutdown"
		}
		return out(last + "\n")
	case len(a) >= 2 && a[0] == "service" && a[1] == "create":
		c.stoppers = append(c.stoppers, strings.Join(a, " "))
		id := fmt.Sprintf("stopper%d", len(c.stoppers))
		name := a[slices.Index(a, "--name")+1]
		nodeID := strings.TrimPrefix(a[slices.Index(a, "--constraint")+1], "node.id==")
		ctr := a[len(a)-1]
		for _, h := range c.helpers {
			if h.Container == ctr && h.NodeID == nodeID && h.State == "running" {
				h.State = "failed" // the container is gone: the agent fails the task
			}
		}
		c.helpers[id] = &recHelper{ID: id, Name: name, State: "complete", NodeID: nodeID, Container: strings.Repeat("c", 64)}
		return out(id + "\n")
	case len(a) == 4 && a[0] == "node" && a[1] == "inspect":
		engine := c.engine
		if engine == "" {
			engine = "20.10.24+dfsg1"
		}
		return out(fmt.Sprintf(`[{"ID":%q,"Spec":{"Role":"worker","Availability":"active"},"Description":{"Hostname":"h-%s","Engine":{"EngineVersion":%q}},"Status":{"State":"ready"}}]`, last, last, engine))
	case len(a) == 3 && a[0] == "version" && a[2] == "{{.Server.APIVersion}}":
		if c.current() {
			return out("1.56\n")
		}
		return out("1.41\n")
	case len(a) >= 3 && a[0] == "info" && a[2] == "{{.Swarm.NodeID}}":
		return out("nm\n") // swarm-utils runs on the manager, node ID nm
	case len(a) == 3 && a[0] == "rm" && a[1] == "--force": // run directly on the manager
		c.stoppers = append(c.stoppers, strings.Join(a, " "))
		for _, h := range c.helpers {
			if h.Container == last && h.NodeID == "nm" && h.State == "running" {
				h.State = "failed"
			}
		}
		return out(last + "\n")
	case len(a) >= 2 && a[0] == "service" && a[1] == "logs":
		return out(last + "\n")
	case len(a) >= 2 && a[0] == "service" && a[1] == "update":
		s := c.services[last]
		if s == nil {
			return noSuch("service", last)
		}
		for i := 2; i < len(a)-1; i++ {
			switch a[i] {
			case "--replicas":
				s.Replicas, _ = strconv.Atoi(a[i+1])
			case "--label-rm":
				s.Restore = ""
			}
		}
		return out(last + "\n")
	}
	c.t.Errorf("unexpected docker call: %q", cmd.Args)
	return bashexec.Result{}, fmt.Errorf("unexpected call")
}

// live reports whether a helper service still exists (service rm clears its name).
func (c *recCluster) live(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.helpers[id]
	return ok && h.Name != ""
}

func (c *recCluster) sortedHelperIDs() []string {
	var ids []string
	for id, h := range c.helpers {
		if h.Name != "" && !strings.HasPrefix(id, "stopper") {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (c *recCluster) sortedServiceNames() []string {
	var names []string
	for n := range c.services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// mutating returns the argv (after "docker") of every mutating call, in order.
func (c *recCluster) mutating() []string {
	var out []string
	for _, call := range c.fake.Calls {
		if !call.ReadOnly {
			out = append(out, strings.Join(call.Args[1:], " "))
		}
	}
	return out
}

const recCtr = "3f9c2d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e"

func TestRepairNothingToDoChangesNothing(t *testing.T) {
	c := newRecCluster(t)
	c.services["shop_web"] = &recService{Name: "shop_web", Replicas: 3} // no restore label
	d, logs := c.deps()
	rep := d.Repair(context.Background())
	if !rep.OK || len(rep.Results) != 0 {
		t.Fatalf("report %+v, want OK with no results", rep)
	}
	if m := c.mutating(); len(m) != 0 {
		t.Errorf("mutating calls with nothing to repair: %q", m)
	}
	if !strings.Contains(logs.String(), `level=INFO msg="repaired: 0 helpers removed, 0 services restored"`) {
		t.Errorf("summary not logged at info:\n%s", logs)
	}
}

func TestRepairRemovesHelpersFirstThenRestores(t *testing.T) {
	c := newRecCluster(t)
	c.addHelper(recHelper{ID: "hid1", Name: helperName(opBackupService, bkService, "upload", "worker-2"), LockKey: "service:" + bkService,
		Action: opBackupService, Node: "worker-2", NodeID: "n2", State: "running", Container: recCtr, Image: bkConfig().BackupImage})
	c.addHelper(recHelper{ID: "hid2", Name: helperName(opCleanNode, "worker-1", "prune", "worker-1"), LockKey: "node:worker-1",
		Action: opCleanNode, Node: "worker-1", NodeID: "n1", State: "complete", Container: strings.Repeat("a", 64)})
	c.services[bkService] = &recService{Name: bkService, Replicas: 0, Restore: "2"}
	c.services["shop_web"] = &recService{Name: "shop_web", Replicas: 3}
	d, logs := c.deps()

	rep := d.Repair(context.Background())
	if !rep.OK {
		t.Fatalf("not OK: %+v", rep)
	}

	m := c.mutating()
	rmUpload, rmPrune := slices.Index(m, "service rm hid1"), slices.Index(m, "service rm hid2")
	restore := slices.Index(m, strings.Join(bkRestore, " "))
	if rmUpload < 0 || rmPrune < 0 || restore < 0 {
		t.Fatalf("mutating calls %q: want both helpers removed and %s restored", m, bkService)
	}
	// The running uploader's container is removed on its node, by a helper pinned there.
	if len(c.stoppers) != 1 {
		t.Fatalf("stop helpers created: %q, want exactly one (for the running uploader)", c.stoppers)
	}
	stop := c.stoppers[0]
	for _, want := range []string{"--constraint node.id==n2", "--label " + labelHelperLock + "=service:" + bkService,
		"--mount type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock", "docker:cli docker rm --force " + recCtr} {
		if !strings.Contains(stop, want) {
			t.Errorf("stop helper argv %q lacks %q", stop, want)
		}
	}
	createStop := slices.IndexFunc(m, func(s string) bool { return strings.HasPrefix(s, "service create") })
	// Order: every removal (and the stop of the running task) before the service starts again.
	for _, i := range []int{rmUpload, rmPrune, createStop} {
		if i > restore {
			t.Errorf("mutating calls %q: the service was restored before the helpers were gone", m)
		}
	}
	if len(m) != 5 { // 2 helper rm, stop helper create + rm, 1 restore
		t.Errorf("mutating calls %q, want exactly 5", m)
	}
	if c.services[bkService].Replicas != 2 || c.services[bkService].Restore != "" || c.services["shop_web"].Replicas != 3 {
		t.Errorf("services after repair: %+v %+v", *c.services[bkService], *c.services["shop_web"])
	}

	// One Result per repair, each with its step.
	if len(rep.Results) != 3 {
		t.Fatalf("results %+v, want 3", rep.Results)
	}
	byTarget := map[string]Result{}
	for _, r := range rep.Results {
		if len(r.Steps) != 1 {
			t.Errorf("result %s has steps %v, want one", r.Target, stepNames(r))
		}
		byTarget[r.Target+"/"+r.Operation] = r
	}
	up := byTarget["service:"+bkService+"/recover"].Steps[0]
	if up.Name != "remove-helper" || up.Details["state"] != "running" || up.Details["step"] != "upload" ||
		up.Details["action"] != opBackupService || up.Details["stopped"] != "true" || !strings.Contains(up.Details["interrupted"], "uploader is interrupted") {
		t.Errorf("uploader step %+v", up)
	}
	prune := byTarget["node:worker-1/recover"].Steps[0]
	if prune.Name != "remove-helper" || prune.Details["state"] != "complete" || prune.Details["interrupted"] != "" || prune.Node != "worker-1" {
		t.Errorf("prune step %+v", prune)
	}
	if st := byTarget[bkService+"/backup-recover"].Steps[0]; st.Name != "recover-start" || !st.OK {
		t.Errorf("restore step %+v", st)
	}

	l := logs.String()
	for _, want := range []string{
		`level=WARN msg="repaired: 2 helpers removed, 1 services restored"`,
		"a running uploader is interrupted",
		"lockKey=service:" + bkService, "action=" + opBackupService, "state=running",
		"lockKey=node:worker-1", "state=complete",
	} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
}

func TestRepairOnlyTargetLeavesOthersAlone(t *testing.T) {
	c := newRecCluster(t)
	c.addHelper(recHelper{ID: "hid1", Name: helperName(opCleanService, "mine", "exec", "worker-1"), LockKey: "service:mine",
		Action: opCleanService, Node: "worker-1", NodeID: "n1", State: "complete"})
	c.addHelper(recHelper{ID: "hid2", Name: helperName(opCleanService, "theirs", "exec", "worker-1"), LockKey: "service:theirs",
		Action: opCleanService, Node: "worker-1", NodeID: "n1", State: "running", Container: recCtr})
	c.services["mine"] = &recService{Name: "mine", Restore: "1"}
	c.services["theirs"] = &recService{Name: "theirs", Restore: "1"}
	d, _ := c.deps()
	rep := d.RepairWith(context.Background(), RepairOptions{Only: "service:mine"})
	if !rep.OK || len(rep.Results) != 2 {
		t.Fatalf("report %+v", rep)
	}
	if c.live("hid1") || !c.live("hid2") {
		t.Errorf("helpers: mine live %v, theirs live %v; want only mine removed", c.live("hid1"), c.live("hid2"))
	}
	if c.services["mine"].Replicas != 1 || c.services["theirs"].Replicas != 0 {
		t.Errorf("replicas mine %d theirs %d; want only mine restored", c.services["mine"].Replicas, c.services["theirs"].Replicas)
	}

	// A node key restores no service at all.
	c2 := newRecCluster(t)
	c2.services["mine"] = &recService{Name: "mine", Restore: "1"}
	d2, _ := c2.deps()
	if rep := d2.RepairWith(context.Background(), RepairOptions{Only: "node:worker-1"}); !rep.OK || len(rep.Results) != 0 || len(c2.mutating()) != 0 {
		t.Errorf("node-only repair: report %+v, mutating %q", rep, c2.mutating())
	}
}

func TestRepairWaitsForTheTargetLock(t *testing.T) {
	c := newRecCluster(t)
	c.addHelper(recHelper{ID: "hid1", Name: helperName(opCleanService, "shop_web", "exec", "worker-1"), LockKey: "service:shop_web",
		Action: opCleanService, Node: "worker-1", NodeID: "n1", State: "complete"})
	d, _ := c.deps()
	release, err := d.Locks.Acquire(context.Background(), "service:shop_web", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan Report)
	go func() { done <- d.Repair(context.Background()) }()
	time.Sleep(100 * time.Millisecond)
	if !c.live("hid1") {
		t.Fatal("helper removed while another operation held its target's lock")
	}
	release()
	rep := <-done
	if !rep.OK || c.live("hid1") {
		t.Errorf("after the lock was released: report %+v, helper live %v", rep, c.live("hid1"))
	}

	// Held past the lock timeout: that target's repair fails as busy, nothing is removed.
	c2 := newRecCluster(t)
	c2.addHelper(recHelper{ID: "hid1", Name: "swarm-utils-clean-service-x-exec", LockKey: "service:x", Action: opCleanService, State: "complete"})
	d2, _ := c2.deps()
	d2.Config.Timeouts.Lock = 20 * time.Millisecond
	rel2, _ := d2.Locks.Acquire(context.Background(), "service:x", time.Second)
	defer rel2()
	rep = d2.Repair(context.Background())
	if rep.OK || len(rep.Results) != 1 || rep.Results[0].ErrorKind != KindBusy || !c2.live("hid1") {
		t.Errorf("busy target: report %+v, helper live %v", rep, c2.live("hid1"))
	}
}

func TestRepairDockerAwayIsReportedNotFatal(t *testing.T) {
	c := newRecCluster(t)
	c.failLs = true
	d, logs := c.deps()
	rep := d.Repair(context.Background())
	if rep.OK || len(rep.Results) != 2 {
		t.Fatalf("report %+v, want two failed listings", rep)
	}
	for _, r := range rep.Results {
		if r.OK || !strings.Contains(r.Error, "Cannot connect") {
			t.Errorf("result %+v", r)
		}
	}
	if m := c.mutating(); len(m) != 0 {
		t.Errorf("mutating calls %q", m)
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("failure not logged as an error:\n%s", logs)
	}
}

func TestRepairTaskThatNeverStopsFails(t *testing.T) {
	c := newRecCluster(t)
	// Not yet on a node: no container to remove, and it never ends.
	c.addHelper(recHelper{ID: "hid1", Name: helperName(opBackupService, "db", "upload", "worker-1"), LockKey: "service:db",
		Action: opBackupService, Node: "worker-1", NodeID: "n1", State: "starting"})
	d, _ := c.deps()
	d.PollInterval = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rep := d.Repair(ctx)
	if rep.OK || len(rep.Results) != 1 || !strings.Contains(rep.Results[0].Error, "still starting") {
		t.Errorf("report %+v", rep)
	}
}

func TestHelperStepOf(t *testing.T) {
	tests := []struct {
		action, target, step, node string
	}{
		{opBackupService, "shop_db", "upload", "worker-1"},
		{opBackupService, "shop_db", "volume-check", "worker-2"},
		{opBackupService, "shop_db", "pre-exec", "manager"},
		{opCleanService, "shop_web", "exec", "worker-1"},
		{opCleanNode, "worker-1", "prune", "worker-1"},
		{opRecover, "shop_db", "stop", "worker-1"},
	}
	for _, tt := range tests {
		kind := "service:"
		if tt.action == opCleanNode {
			kind = "node:"
		}
		h := staleHelper{Name: helperName(tt.action, tt.target, tt.step, tt.node), Action: tt.action, LockKey: kind + tt.target}
		if got := helperStepOf(h); got != tt.step {
			t.Errorf("helperStepOf(%s) = %q, want %q", h.Name, got, tt.step)
		}
	}
	long := strings.Repeat("x", 70)
	if got := helperStepOf(staleHelper{Name: helperName(opBackupService, long, "upload", "w"), Action: opBackupService, LockKey: "service:" + long}); got != "" {
		t.Errorf("hashed name: step %q, want unknown", got)
	}
}

func TestRecoverCommand(t *testing.T) {
	c := newRecCluster(t)
	c.addHelper(recHelper{ID: "hid1", Name: helperName(opCleanService, "mine", "exec", "worker-1"), LockKey: "service:mine",
		Action: opCleanService, Node: "worker-1", NodeID: "n1", State: "complete"})
	d, _ := c.deps()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := &cli.Command{Name: "swarm-utils", Writer: &out, Commands: CLICommands(func() *Deps { return d }),
			ExitErrHandler: func(context.Context, *cli.Command, error) {}}
		err := root.Run(context.Background(), append([]string{"swarm-utils"}, args...))
		return out.String(), err
	}
	if _, err := run("recover", "--only-target", "service:-x"); err == nil {
		t.Error("a bad --only-target was accepted")
	}
	if _, err := run("recover", "--only-target", "volume:x"); err == nil {
		t.Error("an unknown --only-target kind was accepted")
	}
	out, err := run("recover", "--only-target", "service:mine")
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not a report: %v\n%s", err, out)
	}
	if rep.Operation != "recover" || !rep.OK || len(rep.Results) != 1 || rep.Results[0].Steps[0].Helper != helperName(opCleanService, "mine", "exec", "worker-1") {
		t.Errorf("report %s", out)
	}
	out, err = run("recover", "--text")
	if err != nil || out != "" { // nothing left to repair
		t.Errorf("second run: %q, %v", out, err)
	}
}

func TestRepairKnowsAnUploaderWithAShortenedName(t *testing.T) {
	c := newRecCluster(t)
	long := "stack_" + strings.Repeat("database", 6)
	name := helperName(opBackupService, long, "upload", "worker-1")
	if helperStepOf(staleHelper{Name: name, Action: opBackupService, LockKey: "service:" + long}) != "" {
		t.Fatalf("%s: the name was expected to be shortened", name)
	}
	c.addHelper(recHelper{ID: "hid1", Name: name, LockKey: "service:" + long, Action: opBackupService,
		Node: "worker-1", NodeID: "n1", State: "running", Container: recCtr, Image: bkConfig().BackupImage})
	d, logs := c.deps()
	rep := d.Repair(context.Background())
	if !rep.OK || len(rep.Results) != 1 {
		t.Fatalf("report %+v", rep)
	}
	if st := rep.Results[0].Steps[0]; st.Details["step"] != "upload" || !strings.Contains(st.Details["interrupted"], "uploader") {
		t.Errorf("step %+v", st)
	}
	if !strings.Contains(logs.String(), "a running uploader is interrupted") {
		t.Errorf("log:\n%s", logs)
	}
}

func TestRepairStopsATaskOnTheManagerDirectly(t *testing.T) {
	c := newRecCluster(t)
	c.addHelper(recHelper{ID: "hid1", Name: helperName(opCleanService, "shop_web", "exec", "manager"), LockKey: "service:shop_web",
		Action: opCleanService, Node: "manager", NodeID: "nm", State: "running", Container: recCtr})
	d, _ := c.deps()
	rep := d.Repair(context.Background())
	if !rep.OK || rep.Results[0].Steps[0].Details["stopped"] != "true" {
		t.Fatalf("report %+v", rep)
	}
	if m := c.mutating(); !slices.Equal(m, []string{"service rm hid1", "rm --force " + recCtr}) {
		t.Errorf("mutating calls %q, want the helper removed and its container removed directly (no helper)", m)
	}
}

// The 20.10 workaround is engine-aware: a current engine stops a removed helper's task on its
// own, so Repair removes the helper and waits, without a container removal of its own; a node
// still on 20.10 gets its container removed.
func TestRepairStopsOrphanTasksOnlyWhereTheEngineLeavesThem(t *testing.T) {
	for _, c := range []struct {
		engine string
		want   []string
	}{
		{"29.1.3", []string{"service rm hid1"}},
		{"library-import", []string{"service rm hid1"}}, // a dev build: the API version (1.56) decides
		{"20.10.24+dfsg1", []string{"service rm hid1", "rm --force " + recCtr}},
		{"23.0.6", []string{"service rm hid1", "rm --force " + recCtr}},
	} {
		t.Run(c.engine, func(t *testing.T) {
			rc := newRecCluster(t)
			rc.engine = c.engine
			rc.addHelper(recHelper{ID: "hid1", Name: helperName(opCleanService, "shop_web", "exec", "manager"), LockKey: "service:shop_web",
				Action: opCleanService, Node: "manager", NodeID: "nm", State: "running", Container: recCtr})
			d, logs := rc.deps()
			rep := d.Repair(context.Background())
			if !rep.OK || rep.Results[0].Steps[0].Details["stopped"] != "true" {
				t.Fatalf("report %+v", rep)
			}
			if m := rc.mutating(); !slices.Equal(m, c.want) {
				t.Errorf("engine %s: mutating calls %q, want %q", c.engine, m, c.want)
			}
			if legacy := len(c.want) > 1; legacy != strings.Contains(logs.String(), "moby/moby#44312") {
				t.Errorf("engine %s: the log says the workaround ran=%v, want %v:\n%s", c.engine, !legacy, legacy, logs)
			}
		})
	}
}
