package commands

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/parse"
)

const opCleanNode = "clean-node"

// pruneStep is one prune command of clean-node.
type pruneStep struct {
	Name    string // container | image | builder
	Timeout time.Duration
}

func nodeLockKey(hostname string) string { return "node:" + hostname }

// CleanNode prunes containers, images (-a) and build cache on the node named exactly name
// (hostname or full ID).
func (d *Deps) CleanNode(ctx context.Context, name string) Result {
	if err := validName("node", name); err != nil {
		return failed(opCleanNode, name, err)
	}
	nodes, err := d.listNodes(ctx)
	if err != nil {
		return failed(opCleanNode, name, err)
	}
	for _, n := range nodes {
		if n.Hostname == name || n.ID == name {
			return d.cleanNode(ctx, n, false)
		}
	}
	return failed(opCleanNode, name, errorf(KindNotFound, "node %q not found", name))
}

// CleanAllNodes cleans every node in parallel; a node that is down, drained or disabled by its
// labels is reported, not waited on.
func (d *Deps) CleanAllNodes(ctx context.Context) Report {
	started := time.Now()
	rep := Report{Operation: opCleanNode, OK: true, Results: []Result{}}
	nodes, err := d.listNodes(ctx)
	if err != nil {
		rep.OK = false
		rep.Results = append(rep.Results, failed(opCleanNode, "*", err))
		return rep
	}
	rep.Results = make([]Result, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { rep.Results[i] = d.cleanNode(ctx, n, true) })
	}
	wg.Wait()
	for _, r := range rep.Results {
		rep.OK = rep.OK && r.OK
	}
	rep.Duration = Duration(time.Since(started))
	return rep
}

func (d *Deps) cleanNode(ctx context.Context, node parse.Node, all bool) Result {
	settings, err := parse.NodeCleanSettingsFromLabels(node.Labels, d.Config)
	if err != nil {
		return failed(opCleanNode, node.Hostname, errorf(KindInvalid, "node %s labels: %w", node.Hostname, err))
	}
	var steps []pruneStep
	if settings.Container {
		steps = append(steps, pruneStep{"container", settings.ContainerTimeout})
	}
	if settings.Image {
		steps = append(steps, pruneStep{"image", settings.ImageTimeout})
	}
	if settings.Builder {
		steps = append(steps, pruneStep{"builder", settings.BuilderTimeout})
	}
	switch {
	case !settings.Enabled || len(steps) == 0:
		if all {
			return skipped(opCleanNode, node.Hostname, "cleaning is disabled by the node's labels")
		}
		return failed(opCleanNode, node.Hostname, errorf(KindNotFound, "node %s: cleaning is disabled by its labels", node.Hostname))
	case node.State != "ready":
		return failed(opCleanNode, node.Hostname, errorf(KindImpossible, "node %s is %s, not ready: not cleaned", node.Hostname, node.State))
	case node.Availability != "active":
		if all {
			return skipped(opCleanNode, node.Hostname, "node is "+node.Availability)
		}
		return failed(opCleanNode, node.Hostname, errorf(KindImpossible, "node %s is %s: no helper can run there", node.Hostname, node.Availability))
	}
	var run time.Duration
	for _, s := range steps {
		run += s.Timeout
	}
	run += helperSlack
	budget := func() time.Duration { return run + d.Config.Timeouts.Pending }
	return d.operation(ctx, opCleanNode, node.Hostname, nodeLockKey(node.Hostname), budget, func(ctx context.Context, r *Result) error {
		r.Steps = d.prune(ctx, node, steps, run, d.keepsRemovedJobTasks(ctx, node.EngineVersion))
		return nil
	}, nil)
}

// helperSlack covers a helper's own start and the docker CLI's start inside it, on top of the
// timeouts of the commands it runs.
const helperSlack = 5 * time.Second

// pruneArgs are pruneScript's step arguments.
func pruneArgs(steps []pruneStep, reapHelpers bool) []string {
	args := make([]string, 0, len(steps))
	for _, s := range steps {
		a := s.Name + ":" + seconds(s.Timeout)
		if s.Name == "container" && reapHelpers {
			a += ":reap"
		}
		args = append(args, a)
	}
	return args
}

var reclaimedRe = regexp.MustCompile(`Total reclaimed space:\s*(\S+)`)

// prune runs the prune steps in one helper on the node and reports each step. reapHelpers: the
// node's engine keeps exited helper containers (pruneScript's ":reap").
func (d *Deps) prune(ctx context.Context, node parse.Node, steps []pruneStep, timeout time.Duration, reapHelpers bool) []Step {
	marker := newMarker()
	args := []string{"sh", "-c", pruneScript, "sh", marker}
	args = append(args, pruneArgs(steps, reapHelpers)...)
	started := time.Now()
	h := d.runHelper(ctx, helperSpec{
		Action: opCleanNode, LockKey: nodeLockKey(node.Hostname), Target: node.Hostname, Step: "prune",
		NodeID: node.ID, NodeName: node.Hostname, Image: d.Config.DockerCLIImage, Args: args, Socket: true, Direct: true, Timeout: timeout,
	})
	parts, _ := parseMarked(h.Logs, marker)
	byName := map[string]scriptPart{}
	for _, p := range parts {
		byName[p.Name] = p
	}
	out := make([]Step, 0, len(steps))
	for _, s := range steps {
		st := Step{Name: s.Name + "-prune", Node: node.Hostname, Helper: h.Name, Duration: Duration(time.Since(started))}
		p, ran := byName[s.Name]
		task := TaskResult{TaskID: h.Task.TaskID, Node: node.Hostname, State: h.Task.State, ExitCode: p.ExitCode, Logs: d.Secrets.Mask(p.Output)}
		switch {
		case ran && p.Ended && p.ExitCode == 0:
			st.OK = true
			if m := reclaimedRe.FindStringSubmatch(p.Output); m != nil {
				st.Details = map[string]string{"reclaimed": m[1]}
			}
		case ran && p.Ended && timedOut(p.ExitCode):
			st.Error = fmt.Sprintf("%s prune timed out after %s", s.Name, s.Timeout)
		case ran && p.Ended:
			st.Error = fmt.Sprintf("%s prune exited with code %d", s.Name, p.ExitCode)
		case h.Err != nil:
			st.Error = h.Err.Error()
			task.Error = h.Task.Error
			task.ExitCode = h.Task.ExitCode
		default:
			st.Error = fmt.Sprintf("%s prune did not run", s.Name)
		}
		st.Tasks = []TaskResult{task}
		out = append(out, st)
	}
	return out
}

// failed is the Result of an operation that could not start.
func failed(op, target string, err error) Result {
	r := Result{Operation: op, Target: target, OK: true, StartedAt: time.Now().UTC(), Steps: []Step{}}
	r.fail(err)
	return r
}

func skipped(op, target, why string) Result {
	return Result{Operation: op, Target: target, OK: true, Skipped: why, StartedAt: time.Now().UTC(), Steps: []Step{}}
}
