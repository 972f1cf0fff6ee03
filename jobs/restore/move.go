package restore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// OpMove is move-service's name in results, logs and helper names.
const OpMove = "move-service"

// MoveOptions are one move request.
type MoveOptions struct {
	Service string
	Node    string // hostname (exact) or ID of the node to move to
}

// constrainTimeout bounds the placement update that puts a failed move back.
const constrainTimeout = 30 * time.Second

// Move is move-service (SPEC §10): a one-replica replicated service and its volumes go from
// the node its task runs on to another:
//  1. refusals before anything changes: not replicated, not exactly one replica, no volume
//     mounts, backup not enabled (the archive goes through its S3 location), an unknown or
//     unusable node; under the service's lock: no running task, or already on that node;
//  2. stop (the restore label records the count: a crash is repaired like a backup's);
//  3. back the volumes up on the old node, restore that archive on the new one;
//  4. replace the hostname (or node ID) placement constraints with node.hostname==NODE;
//  5. start, and verify that the task runs on NODE.
//
// When anything after the stop fails, the constraints are put back and the service is started
// again where it was (its volumes there are untouched); the result says so.
func (j *Job) Move(ctx context.Context, o MoveOptions) operation.Result {
	name := o.Service
	svc, err := j.Swarm.Service(ctx, name)
	if err != nil {
		return operation.Failed(OpMove, name, err)
	}
	switch {
	case svc.Mode != parse.ModeReplicated:
		return operation.Failed(OpMove, name, operation.Errorf(operation.KindImpossible, "service %s is %s: only a replicated service with one replica can be moved", name, svc.Mode))
	case svc.Replicas != 1:
		return operation.Failed(OpMove, name, operation.Errorf(operation.KindImpossible, "service %s has %d replicas: only a service with one replica can be moved (its volumes are on one node)", name, svc.Replicas))
	case !slices.ContainsFunc(svc.Mounts, func(m parse.Mount) bool { return m.Type == "volume" && m.Source != "" }):
		return operation.Failed(OpMove, name, operation.Errorf(operation.KindImpossible, "service %s mounts no named volume: there is nothing to move (change its placement instead)", name))
	}
	settings, err := Settings(svc, j.Config)
	if err != nil {
		return operation.Failed(OpMove, name, err)
	}
	if j.Config.Age.Encrypts() && !j.Config.Age.CanDecrypt() {
		return operation.Failed(OpMove, name, operation.Errorf(operation.KindConfig,
			"backups are encrypted to public keys and no SWARM_UTILS_BACKUP_AGE_IDENTITY is set: the move could not restore its own archive"))
	}
	ctx = bashexec.WithSecrets(ctx, settings.S3.AccessKey, settings.S3.SecretKey)
	vols, err := backup.VolumesOf(svc, settings.Volumes)
	if err != nil {
		return operation.Failed(OpMove, name, err)
	}
	to, err := j.moveTarget(ctx, o.Node)
	if err != nil {
		return operation.Failed(OpMove, name, err)
	}
	lockKey := operation.LockKeyService(name)
	return j.Ops.Run(ctx, OpMove, name, lockKey, func(ctx context.Context) (operation.Plan, error) {
		return j.prepareMove(ctx, name, lockKey, settings, vols, to)
	})
}

// moveTarget finds the node to move to, by hostname or ID, and refuses one that cannot take
// the task.
func (j *Job) moveTarget(ctx context.Context, node string) (parse.Node, error) {
	if strings.TrimSpace(node) == "" {
		return parse.Node{}, operation.Errorf(operation.KindInvalid, "no node to move to")
	}
	nodes, err := j.Swarm.Nodes(ctx)
	if err != nil {
		return parse.Node{}, fmt.Errorf("list the nodes: %w", err)
	}
	i := slices.IndexFunc(nodes, func(n parse.Node) bool { return n.Hostname == node })
	if i < 0 {
		i = slices.IndexFunc(nodes, func(n parse.Node) bool { return n.ID == node })
	}
	if i < 0 {
		var names []string
		for _, n := range nodes {
			names = append(names, n.Hostname)
		}
		return parse.Node{}, operation.Errorf(operation.KindNotFound, "node %q is not in the swarm (its nodes: %s)", node, strings.Join(names, ", "))
	}
	n := nodes[i]
	if n.State != "ready" || n.Availability != "active" {
		return parse.Node{}, operation.Errorf(operation.KindImpossible, "node %s is %s and %s: a task can only be moved to a ready, active node", n.Hostname, n.State, n.Availability)
	}
	return n, nil
}

// pinConstraint tells a placement constraint that pins the service to a node (hostname or ID).
func pinConstraint(c string) bool {
	k, _, ok := strings.Cut(strings.ReplaceAll(c, " ", ""), "==")
	return ok && (k == "node.hostname" || k == "node.id")
}

func (j *Job) prepareMove(ctx context.Context, name, lockKey string, settings backup.Settings, vols []backup.Volume, to parse.Node) (operation.Plan, error) {
	// No mark: the archive is a normal backup of the old node, listed in the catalogue.
	bj := &backup.Job{Swarm: j.Swarm, Helpers: j.Helpers, Ops: j.Ops, Config: j.Config, Secrets: j.Secrets, Log: j.Log, PollInterval: j.PollInterval}
	l, err := bj.PrepareLocked(ctx, name, lockKey)
	if err != nil {
		return operation.Plan{}, fmt.Errorf("prepare the move of %s: %w", name, err)
	}
	from := l.Nodes()
	switch {
	case l.Service.Replicas != 1:
		return operation.Plan{}, operation.Errorf(operation.KindImpossible, "service %s has %d replicas: only a service with one replica can be moved", name, l.Service.Replicas)
	case len(from) != 1:
		return operation.Plan{}, operation.Errorf(operation.KindImpossible, "service %s has no running task: there is no node to move its volumes from", name)
	case from[0] == to.Hostname:
		return operation.Plan{}, operation.Errorf(operation.KindImpossible, "service %s already runs on %s", name, to.Hostname)
	}
	var unpin []string
	for _, c := range l.Service.Constraints {
		if pinConstraint(c) {
			unpin = append(unpin, c)
		}
	}
	pin := "node.hostname==" + to.Hostname
	m := &move{j: j, bj: bj, name: name, from: from[0], to: to, settings: settings,
		pin:  swarm.Constraints{Service: name, Remove: unpin, Add: []string{pin}},
		back: swarm.Constraints{Service: name, Remove: []string{pin}, Add: unpin}}
	pending := j.Config.Timeouts.Pending
	budget := l.Budget + settings.StopTimeout + 2*settings.StartTimeout + pending + settings.UploadTimeout + 2*constrainTimeout
	do := func(ctx context.Context, r *operation.Result) error {
		return m.run(ctx, r, l, lockKey, vols)
	}
	return operation.Plan{Budget: budget, Do: do}, nil
}

// move is one move's state between its steps.
type move struct {
	j        *Job
	bj       *backup.Job
	name     string
	from     string
	to       parse.Node
	settings backup.Settings
	pin      swarm.Constraints // the update that pins the service to the new node
	back     swarm.Constraints // the one that undoes it
	pinned   bool
}

func (m *move) run(ctx context.Context, r *operation.Result, l *backup.Locked, lockKey string, vols []backup.Volume) error {
	if l.Recovered != nil {
		r.Steps = append(r.Steps, *l.Recovered)
	}
	r.Steps = append(r.Steps, l.PreExec(ctx)...)
	settled := false
	// Registered before the stop: on a panic or an early return the service is started again.
	defer func() {
		if !settled {
			r.Steps = append(r.Steps, m.putBack(ctx)...)
		}
	}()
	fail := func(what string) error {
		settled = true
		steps := m.putBack(ctx)
		r.Steps = append(r.Steps, steps...)
		if slices.ContainsFunc(steps, func(s operation.Step) bool { return !s.OK }) {
			return operation.Errorf(operation.KindDocker, "move of %s to %s failed (%s), and starting it again on %s failed too: see the steps", m.name, m.to.Hostname, what, m.from)
		}
		return operation.Errorf(operation.KindDocker, "move of %s to %s failed (%s): it was started again on %s with its placement unchanged", m.name, m.to.Hostname, what, m.from)
	}

	st := m.bj.Stop(ctx, m.name, 1, m.settings.StopTimeout)
	r.Steps = append(r.Steps, st)
	if !st.OK {
		return fail("stop: " + st.Error)
	}
	ups := l.Upload(ctx)
	r.Steps = append(r.Steps, ups...)
	var key string
	for _, s := range ups {
		if !s.OK {
			return fail(fmt.Sprintf("%s on %s: %s", s.Name, s.Node, s.Error))
		}
		if s.Name == "upload" {
			key = s.Details["key"]
		}
	}
	if err := operation.CtxErr(ctx); err != nil {
		return fail(err.Error())
	}
	dry := m.j.Swarm.DryRun()
	if key == "" && !dry {
		return fail("the backup on " + m.from + " reported no archive (are the volumes on that node?)")
	}
	target := restoreNode{ID: m.to.ID, Name: m.to.Hostname, Archive: Archive{Key: key, Node: m.from}}
	rs := m.j.onNode(ctx, m.name, lockKey, m.settings, vols, target, m.j.createKeys(ctx, lockKey, m.settings, []restoreNode{target})()[0])
	r.Steps = append(r.Steps, rs)
	if !rs.OK {
		return fail("restore on " + m.to.Hostname + ": " + rs.Error)
	}
	if err := operation.CtxErr(ctx); err != nil {
		return fail(err.Error())
	}
	ps := m.constrain(ctx, "pin", m.pin)
	r.Steps = append(r.Steps, ps)
	if !ps.OK {
		return fail("pin: " + ps.Error)
	}
	m.pinned = true
	st = m.bj.Start(ctx, m.name, 1, m.settings.StartTimeout)
	r.Steps = append(r.Steps, st)
	if !st.OK {
		return fail("start on " + m.to.Hostname + ": " + st.Error)
	}
	if !dry {
		vs := m.verify(ctx)
		r.Steps = append(r.Steps, vs)
		if !vs.OK {
			return fail(vs.Error)
		}
	}
	settled = true
	return nil
}

// constrain runs one placement update as a step (on a context of its own: a move that is put
// back after a cancel must still unpin).
func (m *move) constrain(ctx context.Context, step string, c swarm.Constraints) operation.Step {
	started := time.Now()
	st := operation.Step{Name: step, OK: true, Details: map[string]string{}}
	if len(c.Remove) > 0 {
		st.Details["removed"] = strings.Join(c.Remove, ",")
	}
	if len(c.Add) > 0 {
		st.Details["added"] = strings.Join(c.Add, ",")
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), constrainTimeout)
	defer cancel()
	if err := m.j.Swarm.Constrain(cctx, c); err != nil {
		st.OK, st.Error = false, fmt.Sprintf("update the placement constraints of %s: %v", m.name, err)
	}
	st.Duration = operation.Since(started)
	return st
}

// verify checks that the running task is on the new node.
func (m *move) verify(ctx context.Context) operation.Step {
	st := operation.Step{Name: "verify", Node: m.to.Hostname, OK: true}
	rows, err := m.j.Swarm.Tasks(context.WithoutCancel(ctx), m.name, true)
	if err != nil {
		st.OK, st.Error = false, fmt.Sprintf("read the tasks of %s: %v", m.name, err)
		return st
	}
	var on []string
	for _, row := range rows {
		if swarm.TaskState(row) == "running" {
			on = append(on, row.Node)
		}
	}
	if !slices.Equal(on, []string{m.to.Hostname}) {
		st.OK, st.Error = false, fmt.Sprintf("the task of %s runs on %v, not on %s", m.name, on, m.to.Hostname)
	}
	return st
}

// putBack undoes the pin, if it was made, and starts the service again at one replica: where
// it ran, whose volumes the move left as they were.
func (m *move) putBack(ctx context.Context) []operation.Step {
	var steps []operation.Step
	if m.pinned {
		st := m.constrain(ctx, "unpin", m.back)
		steps = append(steps, st)
		if st.OK {
			m.pinned = false
		}
	}
	st := m.bj.Start(ctx, m.name, 1, m.settings.StartTimeout)
	st.Name = "start-again"
	st.Node = m.from
	return append(steps, st)
}
