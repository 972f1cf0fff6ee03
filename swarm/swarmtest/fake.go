// Package swarmtest is an in-memory swarm for unit tests: services with tasks on nodes,
// helper jobs whose outcome a test decides, and a record of every typed call the code under
// test made. It behaves like the docker CLI where the jobs depend on it: exact-name lookups,
// "no such" errors, tasks that stop on a scale to 0, and docker 20.10's removed job whose
// running task keeps running (moby/moby#44312) unless the engine is a current one.
package swarmtest

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Fake is an in-memory swarm.Swarm. Set its hooks before the code under test runs.
type Fake struct {
	// OnJob decides what a helper job does; nil: it completes with exit code 0 and no logs.
	// Jobs that remove a container (docker rm --force CID) are handled by the fake itself.
	OnJob func(j swarm.Job) JobRun
	// OnUpdate decides an image update; nil: the service runs the image, update completed.
	OnUpdate func(svc *parse.Service, u swarm.ImageUpdate) (swarm.UpdateResult, error)
	// OnRollback decides a rollback; nil: the service runs its image from before the last
	// update again (new tasks), rollback completed.
	OnRollback func(svc *parse.Service, r swarm.RollbackRequest) error
	// Registry is the registry's digest of each tag (as written in the probe's image), which a
	// probe pins; a tag missing from it is not found there: the probe keeps the bare tag and
	// warns, as docker does when the registry cannot be reached.
	Registry map[string]string
	// OnLogin decides a registry login; nil: it succeeds.
	OnLogin func(env []string, user, password, registry string) error
	// OnScale runs before a scale is applied; an error fails it (nothing changes).
	OnScale func(s swarm.Scale) error
	// Fail makes every call of a verb fail with the error ("list-services", "tasks", ...).
	Fail map[string]error
	// Unplaceable: a new task of a service meant for this node (hostname) stays pending with
	// this scheduler error, on no node (the node is down, or full).
	Unplaceable map[string]string

	Local  string // node ID of the daemon swarm-utils talks to
	Engine string // EngineVersion of every node; "" = "20.10.24+dfsg1", which keeps removed jobs' tasks
	API    string // Engine API version; "" = "1.41"
	Dry    bool   // dry-run: changes are recorded, not made

	mu       sync.Mutex
	nodes    []parse.Node
	services []*parse.Service // in creation order
	tasks    []*task
	logs     map[string]string              // by service ID
	secrets  map[string]*secret             // by name
	configs  map[string]*parse.ConfigObject // by name
	uses     map[string][]string            // secret names a service uses, by service ID
	calls    []Call
	previous map[string]string // image before the last update, by service ID
	seq      int
}

// JobRun is what a helper job does: its task's end state ("complete", "failed"), or a state
// it never leaves ("running", "pending"), with exit code, logs and error.
type JobRun struct {
	State string
	Exit  int
	Logs  string
	Err   string
}

// Call is one typed call the code under test made.
type Call struct {
	Verb      string // the Swarm method, e.g. "create-job", "remove", "scale", "update-image"
	Target    string // service, task or node it was about
	Job       *swarm.Job
	Scale     *swarm.Scale
	Update    *swarm.ImageUpdate
	Probe     *swarm.Probe
	Constrain *swarm.Constraints
	Rollback  *swarm.RollbackRequest
	Args      []string // run-local's argv
	Tail      int      // logs: the lines asked for (0 = all)
}

type secret struct {
	id     string
	labels map[string]string
	data   []byte
}

type task struct {
	parse.Task
	node string // hostname
	logs string
	// keep: the task ignores a scale to 0 (a container that does not stop).
	keep bool
}

var _ swarm.Swarm = (*Fake)(nil)

// New returns a fake with the given nodes (ready, active, no labels unless set).
func New(nodes ...parse.Node) *Fake {
	f := &Fake{logs: map[string]string{}, secrets: map[string]*secret{}, configs: map[string]*parse.ConfigObject{}, uses: map[string][]string{}, previous: map[string]string{}}
	for _, n := range nodes {
		if n.State == "" {
			n.State = "ready"
		}
		if n.Availability == "" {
			n.Availability = "active"
		}
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		f.nodes = append(f.nodes, n)
	}
	return f
}

// Node is a ready, active node named hostname with ID id.
func Node(id, hostname string) parse.Node {
	return parse.Node{ID: id, Hostname: hostname, Role: "worker"}
}

// AddService adds a service and, for a replicated or global one, its running tasks: replica i
// on onNodes[i % len(onNodes)] (hostnames), a global one on every node given.
func (f *Fake) AddService(svc parse.Service, onNodes ...string) *parse.Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	if svc.ID == "" {
		svc.ID = "id-" + svc.Name
	}
	if svc.Labels == nil {
		svc.Labels = map[string]string{}
	}
	if svc.Mode == "" {
		svc.Mode = parse.ModeReplicated
	}
	s := &svc
	f.services = append(f.services, s)
	switch s.Mode {
	case parse.ModeReplicated:
		f.startTasks(s, int(s.Replicas), onNodes)
	case parse.ModeGlobal:
		f.startTasks(s, len(onNodes), onNodes)
	}
	return s
}

// AddTask adds a task to a service as it is (a helper left by an earlier run, a failed task).
func (f *Fake) AddTask(serviceID, node string, t parse.Task, logs string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t.ServiceID = serviceID
	if t.ID == "" {
		t.ID = f.id("t")
	}
	f.tasks = append(f.tasks, &task{Task: t, node: node, logs: logs})
}

// SetLogs sets what a service's logs hold.
func (f *Fake) SetLogs(serviceID, logs string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs[serviceID] = logs
}

// KeepRunning makes the running tasks of the service ignore a scale to 0.
func (f *Fake) KeepRunning(service string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.tasks {
		if s := f.byID(t.ServiceID); s != nil && s.Name == service {
			t.keep = true
		}
	}
}

// down tells a node that is down: it runs, stops and reports nothing.
func (f *Fake) down(idOrName string) bool {
	n := f.node(idOrName)
	return n != nil && n.State == "down"
}

// SetNodeState sets a node's state ("ready", "down"); a down node runs, stops and reports
// nothing: its tasks keep their state, no new one is placed there.
func (f *Fake) SetNodeState(idOrName, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := f.node(idOrName); n != nil {
		n.State = state
	}
}

// Get returns a copy of the service named name, and whether it exists.
func (f *Fake) Get(name string) (parse.Service, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.byName(name); s != nil {
		return *s, true
	}
	return parse.Service{}, false
}

// Running counts the service's running tasks.
func (f *Fake) Running(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	if s := f.byName(name); s != nil {
		for _, t := range f.tasks {
			if t.ServiceID == s.ID && t.State == "running" {
				n++
			}
		}
	}
	return n
}

// runs tells whether the service with this ID has a task still running.
func (f *Fake) runs(serviceID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.tasks {
		if t.ServiceID == serviceID && t.State == "running" {
			return true
		}
	}
	return false
}

// TaskState is the state of the task with this ID ("" when there is none).
func (f *Fake) TaskState(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.tasks {
		if t.ID == id {
			return t.State
		}
	}
	return ""
}

// Helpers returns the helper services that still exist.
func (f *Fake) Helpers() []parse.Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []parse.Service
	for _, s := range f.services {
		if s.Labels["swarm-utils.helper"] == "true" {
			out = append(out, *s)
		}
	}
	return out
}

// Calls returns the calls made, of the given verbs only when any are given.
func (f *Fake) Calls(verbs ...string) []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Call
	for _, c := range f.calls {
		if len(verbs) == 0 || slices.Contains(verbs, c.Verb) {
			out = append(out, c)
		}
	}
	return out
}

// Changes returns the calls that change the cluster, in order.
func (f *Fake) Changes() []Call {
	return f.Calls("create-job", "create-probe", "remove", "scale", "constrain", "update-image", "rollback", "login", "run-local", "create-secret", "remove-secret")
}

// SetFail makes every later call of verb fail with err (nil: succeed again), also while the
// code under test runs.
func (f *Fake) SetFail(verb string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail == nil {
		f.Fail = map[string]error{}
	}
	f.Fail[verb] = err
}

func (f *Fake) record(c Call) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	return f.Fail[c.Verb]
}

func (f *Fake) id(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s%d", prefix, f.seq)
}

func (f *Fake) byName(name string) *parse.Service {
	for _, s := range f.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (f *Fake) byID(id string) *parse.Service {
	for _, s := range f.services {
		if s.ID == id {
			return s
		}
	}
	return nil
}

func (f *Fake) byRef(ref string) *parse.Service {
	if s := f.byID(ref); s != nil {
		return s
	}
	return f.byName(ref)
}

func (f *Fake) node(idOrName string) *parse.Node {
	for i := range f.nodes {
		if f.nodes[i].ID == idOrName || f.nodes[i].Hostname == idOrName {
			return &f.nodes[i]
		}
	}
	return nil
}

func (f *Fake) startTasks(s *parse.Service, n int, onNodes []string) {
	// The scheduler places tasks only on nodes the hostname constraints allow.
	given := len(onNodes) > 0
	onNodes = slices.DeleteFunc(slices.Clone(onNodes), func(h string) bool { return !f.allowed(s, h) })
	if len(onNodes) == 0 && (given || len(s.Constraints) > 0) {
		for _, nd := range f.nodes {
			if f.allowed(s, nd.Hostname) {
				onNodes = append(onNodes, nd.Hostname)
			}
		}
	}
	for i := range n {
		host := ""
		if len(onNodes) > 0 {
			host = onNodes[i%len(onNodes)]
		}
		nodeID := host
		if nd := f.node(host); nd != nil {
			nodeID = nd.ID
		}
		id := f.id("t")
		if why := f.Unplaceable[host]; why != "" {
			f.tasks = append(f.tasks, &task{Task: parse.Task{ID: id, ServiceID: s.ID, Slot: i + 1,
				DesiredState: "running", State: "pending", Err: why, Timestamp: time.Now()}})
			continue
		}
		f.tasks = append(f.tasks, &task{node: host, Task: parse.Task{ID: id, ServiceID: s.ID, NodeID: nodeID, Slot: i + 1,
			DesiredState: "running", State: "running", ContainerID: fmt.Sprintf("%064x", f.seq), Timestamp: time.Now()}})
	}
}

func noSuch(what, id string) error {
	return fmt.Errorf("exit status 1: Error: No such %s: %s", what, id)
}

func (f *Fake) Service(_ context.Context, name string) (parse.Service, error) {
	if err := f.record(Call{Verb: "service", Target: name}); err != nil {
		return parse.Service{}, err
	}
	if err := swarm.ValidName("service", name); err != nil {
		return parse.Service{}, err
	}
	if s, ok := f.Get(name); ok {
		return s, nil
	}
	return parse.Service{}, operation.Errorf(operation.KindNotFound, "service %q not found", name)
}

func (f *Fake) InspectServices(_ context.Context, ids []string) ([]parse.Service, error) {
	if err := f.record(Call{Verb: "inspect-services", Target: strings.Join(ids, ",")}); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []parse.Service
	for _, id := range ids {
		if s := f.byRef(id); s != nil {
			out = append(out, *s)
		}
	}
	return out, nil
}

func (f *Fake) ServiceIDs(context.Context) ([]string, error) {
	if err := f.record(Call{Verb: "service-ids"}); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, s := range f.services {
		ids = append(ids, s.ID)
	}
	return ids, nil
}

func (f *Fake) ListServices(_ context.Context, labels ...string) ([]parse.ServiceRow, error) {
	if err := f.record(Call{Verb: "list-services", Target: strings.Join(labels, ",")}); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var rows []parse.ServiceRow
	for _, s := range f.services {
		match := true
		for _, l := range labels {
			k, v, hasValue := strings.Cut(l, "=")
			got, has := s.Labels[k]
			match = match && has && (!hasValue || got == v)
		}
		if match {
			rows = append(rows, parse.ServiceRow{ID: s.ID, Name: s.Name, Mode: s.Mode, Image: s.Image})
		}
	}
	return rows, nil
}

func (f *Fake) Nodes(context.Context) ([]parse.Node, error) {
	if err := f.record(Call{Verb: "nodes"}); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.nodes), nil
}

func (f *Fake) Node(_ context.Context, id string) (parse.Node, error) {
	if err := f.record(Call{Verb: "node", Target: id}); err != nil {
		return parse.Node{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.node(id)
	if n == nil {
		return parse.Node{}, noSuch("node", id)
	}
	out := *n
	if out.EngineVersion == "" {
		out.EngineVersion = f.Engine
	}
	if out.EngineVersion == "" {
		out.EngineVersion = "20.10.24+dfsg1"
	}
	return out, nil
}

// NodeAndSelf resolves name as docker does (full ID, else hostname, else ID prefix), failing
// on a hostname or prefix several nodes share; self is Local.
func (f *Fake) NodeAndSelf(_ context.Context, name string) (parse.Node, string, error) {
	if err := f.record(Call{Verb: "node-and-self", Target: name}); err != nil {
		return parse.Node{}, "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var found []parse.Node
	for _, match := range []func(n parse.Node) bool{
		func(n parse.Node) bool { return n.ID == name },
		func(n parse.Node) bool { return n.Hostname == name },
		func(n parse.Node) bool { return strings.HasPrefix(n.ID, name) },
	} {
		for _, n := range f.nodes {
			if match(n) {
				found = append(found, n)
			}
		}
		if len(found) > 0 {
			break
		}
	}
	switch len(found) {
	case 0:
		return parse.Node{}, f.Local, operation.Errorf(operation.KindNotFound, "node %q not found", name)
	case 1:
		if found[0].EngineVersion == "" {
			found[0].EngineVersion = cmp.Or(f.Engine, "20.10.24+dfsg1")
		}
		return found[0], f.Local, nil
	}
	return parse.Node{}, "", fmt.Errorf("exit status 1: Error response from daemon: node %s is ambiguous (%d matches found)", name, len(found))
}

func (f *Fake) Tasks(_ context.Context, service string, desiredRunning bool) ([]parse.TaskRow, error) {
	if err := f.record(Call{Verb: "tasks", Target: service}); err != nil {
		return nil, err
	}
	return f.tasksOf(service, desiredRunning)
}

func (f *Fake) tasksOf(service string, desiredRunning bool) ([]parse.TaskRow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.byRef(service)
	if s == nil {
		return nil, noSuch("service", service)
	}
	var rows []parse.TaskRow
	for _, t := range f.tasks {
		if t.ServiceID != s.ID || (desiredRunning && t.DesiredState != "running") {
			continue
		}
		rows = append(rows, parse.TaskRow{ID: t.ID, Name: fmt.Sprintf("%s.%d", s.Name, t.Slot), Image: s.Image, Node: t.node,
			DesiredState: capital(t.DesiredState), CurrentState: capital(t.State) + " 1 second ago", Error: t.Err})
	}
	return rows, nil
}

// JobTasks is Tasks of every service in ids, in one call ("job-tasks").
func (f *Fake) JobTasks(ctx context.Context, ids []string) ([]parse.TaskRow, error) {
	if err := f.record(Call{Verb: "job-tasks", Target: strings.Join(ids, ",")}); err != nil {
		return nil, err
	}
	var all []parse.TaskRow
	for _, id := range ids {
		f.mu.Lock()
		s := f.byRef(id)
		f.mu.Unlock()
		if s == nil {
			return nil, noSuch("service", id)
		}
		rows, err := f.tasksOf(id, false)
		if err != nil {
			return nil, err
		}
		all = append(all, rows...)
	}
	return all, nil
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (f *Fake) InspectTasks(_ context.Context, ids ...string) ([]parse.Task, error) {
	if err := f.record(Call{Verb: "inspect-tasks", Target: strings.Join(ids, ",")}); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []parse.Task
	var missing []string
	for _, id := range ids {
		i := slices.IndexFunc(f.tasks, func(t *task) bool { return t.ID == id })
		if i < 0 {
			missing = append(missing, id)
			continue
		}
		out = append(out, f.tasks[i].Task)
	}
	if len(missing) > 0 {
		return out, noSuch("task", missing[0])
	}
	return out, nil
}

func (f *Fake) Logs(_ context.Context, id string, tail int) (string, error) {
	if err := f.record(Call{Verb: "logs", Target: id, Tail: tail}); err != nil {
		return "", err
	}
	return f.logsOf(id, tail)
}

func (f *Fake) logsOf(id string, tail int) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	logs, ok := f.logs[id]
	if !ok {
		for _, t := range f.tasks {
			if t.ID == id {
				logs, ok = t.logs, true
			}
		}
	}
	if !ok {
		return "", noSuch("service", id)
	}
	// As docker: the last tail lines, a final newline ending the last line, not starting one.
	body, nl := strings.CutSuffix(logs, "\n")
	if lines := strings.Split(body, "\n"); tail > 0 && len(lines) > tail {
		logs = strings.Join(lines[len(lines)-tail:], "\n")
		if nl {
			logs += "\n"
		}
	}
	return logs, nil
}

// FollowLogs is Logs read until a line equal to until ("follow-logs"): a helper still running
// without it (KeepRunning) is followed until ctx ends, as docker does.
func (f *Fake) FollowLogs(ctx context.Context, id string, tail int, until string) (string, bool, error) {
	if err := f.record(Call{Verb: "follow-logs", Target: id, Tail: tail}); err != nil {
		return "", false, err
	}
	for {
		logs, err := f.logsOf(id, tail)
		if err != nil {
			return "", false, err
		}
		for line := range strings.Lines(logs) {
			if strings.TrimRight(line, "\r\n") == until {
				return logs, true, nil
			}
		}
		if !f.runs(id) {
			return logs, false, nil
		}
		select {
		case <-ctx.Done():
			return logs, false, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (f *Fake) CreateJob(_ context.Context, j swarm.Job) (string, error) {
	if err := f.record(Call{Verb: "create-job", Target: j.Name, Job: &j}); err != nil {
		return "", err
	}
	if f.Dry {
		return "", nil
	}
	f.mu.Lock()
	down := f.down(j.NodeID)
	f.mu.Unlock()
	run := JobRun{State: "complete"}
	switch {
	case down:
		// The scheduler places nothing on a down node.
		run = JobRun{State: "pending", Err: "no suitable node (1 node not available for new tasks)"}
	case !f.removesContainer(j.Args) && f.OnJob != nil:
		run = f.OnJob(j)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byName(j.Name) != nil {
		return "", fmt.Errorf("exit status 1: Error response from daemon: rpc error: code = AlreadyExists desc = name conflicts with an existing object")
	}
	labels := map[string]string{}
	for _, l := range j.Labels {
		labels[l.Key] = l.Value
	}
	var uses []string
	for _, ref := range j.Secrets {
		name := secretSource(ref)
		if f.secrets[name] == nil {
			return "", fmt.Errorf("exit status 1: Error response from daemon: secret not found: %s", name)
		}
		uses = append(uses, name)
	}
	s := &parse.Service{ID: f.id("h"), Name: j.Name, Image: j.Image, Labels: labels, Mode: parse.ModeReplicatedJob}
	f.services = append(f.services, s)
	f.uses[s.ID] = uses
	f.logs[s.ID] = run.Logs
	t := &task{Task: parse.Task{ID: f.id("t"), ServiceID: s.ID, Slot: 1, DesiredState: "complete", State: run.State,
		ExitCode: run.Exit, Err: run.Err, Timestamp: time.Now()}, logs: run.Logs}
	if run.State != "pending" {
		t.NodeID = j.NodeID
		if n := f.node(j.NodeID); n != nil {
			t.node = n.Hostname
		}
		t.ContainerID = fmt.Sprintf("%064x", f.seq+1000)
	}
	f.tasks = append(f.tasks, t)
	if run.State != "pending" {
		f.killContainer(j.Args, j.NodeID)
	}
	return s.ID, nil
}

// removesContainer tells a stop step: docker rm --force CID.
func (f *Fake) removesContainer(args []string) bool {
	return len(args) == 4 && args[0] == "docker" && args[1] == "rm" && args[2] == "--force"
}

// killContainer fails the running task whose container a stop step removed.
func (f *Fake) killContainer(args []string, nodeID string) {
	if !f.removesContainer(args) {
		return
	}
	for _, t := range f.tasks {
		if t.ContainerID == args[3] && t.NodeID == nodeID && !t.Terminal() {
			t.State, t.ExitCode = "failed", 137
		}
	}
}

func (f *Fake) Remove(_ context.Context, id string) error {
	if err := f.record(Call{Verb: "remove", Target: id}); err != nil {
		return err
	}
	if f.Dry {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.byRef(id)
	if s == nil {
		return nil // gone already: not an error, as swarm.CLI
	}
	f.services = slices.DeleteFunc(f.services, func(x *parse.Service) bool { return x == s })
	delete(f.uses, s.ID)
	// A dev build ("library-import") counts as a current engine, as on the test bed.
	major, release := parse.EngineMajor(f.Engine)
	current := f.Engine != "" && (!release || major >= 24)
	for _, t := range f.tasks {
		// The task object stays so that its state can still be read. docker 20.10 leaves a
		// running task running (moby/moby#44312); a current engine stops it.
		if t.ServiceID == s.ID && current && !t.Terminal() && !f.down(t.NodeID) {
			t.State = "shutdown"
		}
	}
	return nil
}

// secretSource is the secret name of a --secret value (source=NAME,... or NAME).
func secretSource(ref string) string {
	for _, kv := range strings.Split(ref, ",") {
		if v, ok := strings.CutPrefix(kv, "source="); ok {
			return v
		}
		if v, ok := strings.CutPrefix(kv, "src="); ok {
			return v
		}
	}
	name, _, _ := strings.Cut(ref, ",")
	return name
}

// CreateSecret stores the secret; its data is kept for SecretData, never in the call record.
func (f *Fake) CreateSecret(_ context.Context, s swarm.Secret) error {
	if err := f.record(Call{Verb: "create-secret", Target: s.Name}); err != nil {
		return err
	}
	if f.Dry {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.secrets[s.Name] != nil {
		return fmt.Errorf("exit status 1: Error response from daemon: rpc error: code = AlreadyExists desc = secret %s already exists", s.Name)
	}
	labels := map[string]string{}
	for _, l := range s.Labels {
		labels[l.Key] = l.Value
	}
	f.secrets[s.Name] = &secret{id: f.id("s"), labels: labels, data: slices.Clone(s.Data)}
	return nil
}

// RemoveSecret refuses, as docker does, while a service still uses the secret.
func (f *Fake) RemoveSecret(_ context.Context, ref string) error {
	if err := f.record(Call{Verb: "remove-secret", Target: ref}); err != nil {
		return err
	}
	if f.Dry {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	name := f.secretName(ref)
	if name == "" {
		return nil
	}
	for id, uses := range f.uses {
		if slices.Contains(uses, name) {
			return fmt.Errorf("exit status 1: Error response from daemon: rpc error: code = InvalidArgument desc = secret '%s' is in use by the following service: %s", name, id)
		}
	}
	delete(f.secrets, name)
	return nil
}

func (f *Fake) secretName(ref string) string {
	if f.secrets[ref] != nil {
		return ref
	}
	for name, s := range f.secrets {
		if s.id == ref {
			return name
		}
	}
	return ""
}

func (f *Fake) ListSecrets(_ context.Context, labels ...string) ([]string, error) {
	if err := f.record(Call{Verb: "list-secrets", Target: strings.Join(labels, ",")}); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, s := range f.secrets {
		match := true
		for _, l := range labels {
			k, v, hasValue := strings.Cut(l, "=")
			got, has := s.labels[k]
			match = match && has && (!hasValue || got == v)
		}
		if match {
			ids = append(ids, s.id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// CreateConfig stores the config; a name that exists fails as docker's AlreadyExists does.
func (f *Fake) CreateConfig(_ context.Context, c swarm.Config) (string, error) {
	if err := f.record(Call{Verb: "create-config", Target: c.Name}); err != nil {
		return "", err
	}
	if f.Dry {
		return "", nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.configs[c.Name] != nil {
		return "", fmt.Errorf("exit status 1: Error response from daemon: rpc error: code = AlreadyExists desc = config %s already exists", c.Name)
	}
	labels := map[string]string{}
	for _, l := range c.Labels {
		labels[l.Key] = l.Value
	}
	cfg := &parse.ConfigObject{ID: f.id("c"), Name: c.Name, CreatedAt: time.Now().UTC(), Labels: labels}
	f.configs[c.Name] = cfg
	return cfg.ID, nil
}

func (f *Fake) InspectConfig(_ context.Context, name string) (parse.ConfigObject, error) {
	if err := f.record(Call{Verb: "inspect-config", Target: name}); err != nil {
		return parse.ConfigObject{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, c := range f.configs {
		if n == name || c.ID == name {
			out := *c
			out.Labels = maps.Clone(c.Labels)
			return out, nil
		}
	}
	return parse.ConfigObject{}, operation.Errorf(operation.KindNotFound, "config %q not found", name)
}

// RemoveConfig removes by ID only, as the cluster lock does; a name is not an ID here.
func (f *Fake) RemoveConfig(_ context.Context, id string) error {
	if err := f.record(Call{Verb: "remove-config", Target: id}); err != nil {
		return err
	}
	if f.Dry {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, c := range f.configs {
		if c.ID == id {
			delete(f.configs, name)
		}
	}
	return nil
}

func (f *Fake) ListConfigs(_ context.Context, labels ...string) ([]string, error) {
	if err := f.record(Call{Verb: "list-configs", Target: strings.Join(labels, ",")}); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, c := range f.configs {
		match := true
		for _, l := range labels {
			k, v, hasValue := strings.Cut(l, "=")
			got, has := c.Labels[k]
			match = match && has && (!hasValue || got == v)
		}
		if match {
			ids = append(ids, c.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Configs returns the configs that exist, by name.
func (f *Fake) Configs() map[string]parse.ConfigObject {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]parse.ConfigObject{}
	for n, c := range f.configs {
		out[n] = *c
	}
	return out
}

// AddConfig adds a config as another process (or a crashed one) left it.
func (f *Fake) AddConfig(name string, labels map[string]string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &parse.ConfigObject{ID: f.id("c"), Name: name, CreatedAt: time.Now().UTC(), Labels: maps.Clone(labels)}
	f.configs[name] = c
	return c.ID
}

// Secrets returns the names of the secrets that exist.
func (f *Fake) Secrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for n := range f.secrets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// SecretData is what the secret named name holds, and whether it exists.
func (f *Fake) SecretData(name string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.secrets[name]; s != nil {
		return slices.Clone(s.data), true
	}
	return nil, false
}

// KeyFiles is what a container of the job reads from each file its X_FILE variables name (by
// X): the data of the secret mounted at that path, while the secret exists.
func (f *Fake) KeyFiles(j swarm.Job) map[string]string {
	out := map[string]string{}
	for _, e := range j.Env {
		k, path, _ := strings.Cut(e, "=")
		v, ok := strings.CutSuffix(k, "_FILE")
		if !ok {
			continue
		}
		for _, ref := range j.Secrets {
			var src, target string
			for _, kv := range strings.Split(ref, ",") {
				if x, ok := strings.CutPrefix(kv, "source="); ok {
					src = x
				}
				if x, ok := strings.CutPrefix(kv, "target="); ok {
					target = x
				}
			}
			if "/run/secrets/"+target == path {
				if data, ok := f.SecretData(src); ok {
					out[v] = string(data)
				}
			}
		}
	}
	return out
}

// AddSecret adds a secret as a crashed run left it, used by the services with these IDs.
func (f *Fake) AddSecret(name string, labels map[string]string, usedBy ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[name] = &secret{id: f.id("s"), labels: labels}
	for _, id := range usedBy {
		f.uses[id] = append(f.uses[id], name)
	}
}

func (f *Fake) Scale(_ context.Context, sc swarm.Scale) error {
	if err := f.record(Call{Verb: "scale", Target: sc.Service, Scale: &sc}); err != nil {
		return err
	}
	if f.OnScale != nil {
		if err := f.OnScale(sc); err != nil {
			return err
		}
	}
	if f.Dry {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.byName(sc.Service)
	if s == nil {
		return noSuch("service", sc.Service)
	}
	if sc.LabelAdd != nil {
		s.Labels[sc.LabelAdd.Key] = sc.LabelAdd.Value
	}
	if sc.LabelRm != "" {
		delete(s.Labels, sc.LabelRm)
	}
	s.Version++
	if sc.Replicas == s.Replicas {
		return nil
	}
	var nodes []string
	for _, t := range f.tasks {
		if t.ServiceID == s.ID && t.DesiredState == "running" {
			nodes = append(nodes, t.node)
			if !t.keep {
				t.DesiredState, t.State = "shutdown", "shutdown"
			}
		}
	}
	if len(nodes) == 0 {
		for _, n := range f.nodes {
			nodes = append(nodes, n.Hostname)
		}
	}
	s.Replicas = sc.Replicas
	f.startTasks(s, int(sc.Replicas), nodes)
	return nil
}

// ProbeWarning is docker's warning for an image it could not resolve on the registry.
const ProbeWarning = "image %s could not be accessed on a registry to record\nits digest. Each node will access %s independently,\npossibly leading to different nodes running different\nversions of the image."

func (f *Fake) CreateProbe(_ context.Context, p swarm.Probe) (swarm.ProbeResult, error) {
	if err := f.record(Call{Verb: "create-probe", Target: p.Name, Probe: &p}); err != nil {
		return swarm.ProbeResult{}, err
	}
	if f.Dry {
		return swarm.ProbeResult{DryRun: true}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byName(p.Name) != nil {
		return swarm.ProbeResult{}, fmt.Errorf("exit status 1: Error response from daemon: rpc error: code = AlreadyExists desc = name conflicts with an existing object")
	}
	labels := map[string]string{}
	for _, l := range p.Labels {
		labels[l.Key] = l.Value
	}
	s := &parse.Service{ID: f.id("p"), Name: p.Name, Image: p.Image, Labels: labels, Mode: parse.ModeReplicated}
	res := swarm.ProbeResult{ID: s.ID}
	if d, ok := f.Registry[p.Image]; ok {
		s.Image = p.Image + "@" + d
	} else {
		res.Warning = fmt.Sprintf(ProbeWarning, p.Image, p.Image)
	}
	f.services = append(f.services, s)
	return res, nil
}

// Constrain changes the service's constraints as docker does (a constraint to remove that it
// does not have is an error); its running tasks move to a node the hostname constraints allow.
func (f *Fake) Constrain(_ context.Context, c swarm.Constraints) error {
	if err := f.record(Call{Verb: "constrain", Target: c.Service, Constrain: &c}); err != nil {
		return err
	}
	if f.Dry {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.byName(c.Service)
	if s == nil {
		return noSuch("service", c.Service)
	}
	for _, r := range c.Remove {
		i := slices.Index(s.Constraints, r)
		if i < 0 {
			return fmt.Errorf("exit status 1: constraint %q not found", r)
		}
		s.Constraints = slices.Delete(s.Constraints, i, i+1)
	}
	s.Constraints = append(s.Constraints, c.Add...)
	s.Version++
	var n int
	for _, t := range f.tasks {
		if t.ServiceID == s.ID && t.DesiredState == "running" && !f.allowed(s, t.node) {
			t.DesiredState, t.State = "shutdown", "shutdown"
			n++
		}
	}
	f.startTasks(s, n, nil)
	return nil
}

// allowed tells whether the service's node.hostname constraints allow the node (hostname).
func (f *Fake) allowed(s *parse.Service, host string) bool {
	for _, c := range s.Constraints {
		k, v, ok := strings.Cut(strings.ReplaceAll(c, " ", ""), "==")
		if ok && k == "node.hostname" && v != host {
			return false
		}
	}
	return true
}

func (f *Fake) UpdateImage(_ context.Context, u swarm.ImageUpdate) (swarm.UpdateResult, error) {
	if err := f.record(Call{Verb: "update-image", Target: u.Service, Update: &u}); err != nil {
		return swarm.UpdateResult{}, err
	}
	if f.Dry {
		return swarm.UpdateResult{DryRun: true}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.byName(u.Service)
	if s == nil {
		return swarm.UpdateResult{}, noSuch("service", u.Service)
	}
	f.previous[s.ID] = s.Image
	s.PreviousImage = s.Image // as service inspect's PreviousSpec shows it
	if f.OnUpdate != nil {
		return f.OnUpdate(s, u)
	}
	if s.Image == u.Image && !u.Force {
		// swarmkit changes nothing and clears the update status.
		s.Version++
		s.UpdateStatus = nil
		return swarm.UpdateResult{}, nil
	}
	s.Image, s.Version = u.Image, s.Version+1
	f.rollTasks(s)
	s.UpdateStatus = &parse.UpdateStatus{State: "completed", Message: "update completed"}
	return swarm.UpdateResult{}, nil
}

// rollTasks replaces the service's running tasks by new ones on the same nodes, as a rollout does.
func (f *Fake) rollTasks(s *parse.Service) {
	var nodes []string
	for _, t := range f.tasks {
		if t.ServiceID == s.ID && t.DesiredState == "running" {
			nodes = append(nodes, t.node)
			t.DesiredState, t.State = "shutdown", "shutdown"
		}
	}
	f.startTasks(s, len(nodes), nodes)
}

func (f *Fake) Rollback(_ context.Context, r swarm.RollbackRequest) error {
	if err := f.record(Call{Verb: "rollback", Target: r.Service, Rollback: &r}); err != nil {
		return err
	}
	if f.Dry {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.byName(r.Service)
	if s == nil {
		return noSuch("service", r.Service)
	}
	if f.OnRollback != nil {
		return f.OnRollback(s, r)
	}
	prev, ok := f.previous[s.ID]
	if !ok {
		return fmt.Errorf("exit status 1: Error response from daemon: rpc error: code = FailedPrecondition desc = service %s does not have a previous spec", s.ID)
	}
	s.PreviousImage, s.Image, s.Version = s.Image, prev, s.Version+1 // docker swaps spec and previous spec
	f.rollTasks(s)
	s.UpdateStatus = &parse.UpdateStatus{State: "rollback_completed", Message: "rollback completed"}
	return nil
}

func (f *Fake) Login(_ context.Context, env []string, user, password, registry string) error {
	if err := f.record(Call{Verb: "login", Target: registry, Args: env}); err != nil {
		return err
	}
	if f.OnLogin != nil {
		return f.OnLogin(env, user, password, registry)
	}
	return nil
}

func (f *Fake) LocalNodeID(context.Context) (string, error) {
	if err := f.record(Call{Verb: "local-node"}); err != nil {
		return "", err
	}
	return f.Local, nil
}

func (f *Fake) Info(context.Context) (swarm.Info, error) {
	if err := f.record(Call{Verb: "info"}); err != nil {
		return swarm.Info{}, err
	}
	return swarm.Info{LocalNodeState: "active", ControlAvailable: true}, nil
}

func (f *Fake) APIVersion(context.Context) (string, error) {
	if err := f.record(Call{Verb: "api-version"}); err != nil {
		return "", err
	}
	if f.API == "" {
		return "1.41", nil
	}
	return f.API, nil
}

// RunLocal runs a Direct step on the local node: a container removal is done, anything else
// is decided by OnJob as a job on the local node would be.
func (f *Fake) RunLocal(_ context.Context, args []string, _ time.Duration) (bashexec.Result, error) {
	if err := f.record(Call{Verb: "run-local", Args: args}); err != nil {
		return bashexec.Result{ExitCode: -1}, err
	}
	if f.Dry {
		return bashexec.Result{DryRun: true}, nil
	}
	if f.removesContainer(args) {
		f.mu.Lock()
		f.killContainer(args, f.Local)
		f.mu.Unlock()
		return bashexec.Result{}, nil
	}
	run := JobRun{State: "complete"}
	if f.OnJob != nil {
		run = f.OnJob(swarm.Job{NodeID: f.Local, Args: args})
	}
	res := bashexec.Result{Stdout: run.Logs, ExitCode: run.Exit}
	switch {
	case run.State == "running":
		return bashexec.Result{Stdout: run.Logs, ExitCode: -1}, bashexec.ErrTimeout
	case run.Exit != 0:
		return res, &bashexec.ExitError{Line: strings.Join(args[:min(len(args), 2)], " "), ExitCode: run.Exit}
	}
	return res, nil
}

// Script splits a helper's marker-script argv (sh -c SCRIPT sh MARKER ARGS...) into the
// marker and the script's arguments; ok is false for any other command.
func Script(args []string) (marker string, rest []string, ok bool) {
	if len(args) < 5 || args[0] != "sh" || args[1] != "-c" {
		return "", nil, false
	}
	return args[4], args[5:], true
}

func (f *Fake) DryRun() bool { return f.Dry }
