// Package cleannode is the clean-node job (SPEC §3): on one node, or on every node in
// parallel, prune stopped containers, unused images (-a) and build cache, in one helper.
package cleannode

import (
	"context"
	"fmt"
	"regexp"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Op is the operation's name in results, logs and helper names.
const Op = "clean-node"

// Swarm is what clean-node reads from the cluster; the helper engine does the rest.
type Swarm interface {
	Nodes(ctx context.Context) ([]parse.Node, error)
}

// Job runs clean-node.
type Job struct {
	Swarm   Swarm
	Helpers *helper.Engine
	Ops     *operation.Runner
	Config  config.Config
}

// pruneStep is one prune command of clean-node.
type pruneStep struct {
	Name    string // container | image | builder
	Timeout time.Duration
}

// Node prunes the node named exactly name (hostname or full ID).
func (j *Job) Node(ctx context.Context, name string) operation.Result {
	if err := swarm.ValidName("node", name); err != nil {
		return operation.Failed(Op, name, err)
	}
	nodes, err := j.Swarm.Nodes(ctx)
	if err != nil {
		return operation.Failed(Op, name, err)
	}
	n, err := swarm.FindNode(nodes, name, j.Config.Instance)
	if err != nil {
		return operation.Failed(Op, name, err)
	}
	return j.clean(ctx, n, false)
}

// All cleans every node in parallel; a node that is down, drained or disabled by its labels
// is reported, not waited on.
func (j *Job) All(ctx context.Context) operation.Report {
	started := time.Now()
	rep := operation.Report{Operation: Op, OK: true, Results: []operation.Result{}}
	nodes, err := j.Swarm.Nodes(ctx)
	if err != nil {
		rep.OK = false
		rep.Results = append(rep.Results, operation.Failed(Op, "*", err))
		return rep
	}
	nodes = slices.DeleteFunc(nodes, func(n parse.Node) bool { return !mine(n, j.Config.Instance) })
	rep.Results = make([]operation.Result, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			defer func() {
				// A panic here would crash serve with every operation in flight.
				if p := recover(); p != nil {
					msg := j.Helpers.Secrets.Mask(fmt.Sprint(p))
					j.Helpers.Log.Error("clean-node on node panicked", "node", n.Hostname, "panic", msg, "stack", string(debug.Stack()))
					rep.Results[i] = operation.Failed(Op, n.Hostname, fmt.Errorf("internal error: %s", msg))
				}
			}()
			rep.Results[i] = j.clean(ctx, n, true)
		})
	}
	wg.Wait()
	for _, r := range rep.Results {
		rep.OK = rep.OK && r.OK
	}
	rep.Duration = operation.Since(started)
	return rep
}

// clean is the job on one node: 1. read the node's labels; 2. refuse a node that is not ready
// and active; 3. run the enabled prunes in one helper there.
func (j *Job) clean(ctx context.Context, node parse.Node, all bool) operation.Result {
	settings, err := SettingsFromLabels(node.Labels, j.Config)
	if err != nil {
		return operation.Failed(Op, node.Hostname, operation.Errorf(operation.KindInvalid, "node %s labels: %w", node.Hostname, err))
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
			return operation.Skipped(Op, node.Hostname, "cleaning is disabled by the node's labels")
		}
		return operation.Failed(Op, node.Hostname, operation.Errorf(operation.KindNotFound, "node %s: cleaning is disabled by its labels", node.Hostname))
	case node.State != "ready":
		return operation.Failed(Op, node.Hostname, operation.Errorf(operation.KindImpossible, "node %s is %s, not ready: not cleaned", node.Hostname, node.State))
	case node.Availability != "active":
		if all {
			return operation.Skipped(Op, node.Hostname, "node is "+node.Availability)
		}
		return operation.Failed(Op, node.Hostname, operation.Errorf(operation.KindImpossible, "node %s is %s: no helper can run there", node.Hostname, node.Availability))
	}
	var run time.Duration
	for _, s := range steps {
		run += s.Timeout
	}
	run += helper.Slack
	return j.Ops.Run(ctx, Op, node.Hostname, operation.LockKeyNode(node.ID), func(context.Context) (operation.Plan, error) {
		return operation.Plan{
			Budget: run + j.Config.Timeouts.Pending,
			Do: func(ctx context.Context, r *operation.Result) error {
				r.Steps = j.prune(ctx, node, steps, run, j.Helpers.KeepsRemovedJobTasks(ctx, node.EngineVersion))
				return nil
			},
		}, nil
	})
}

// mine tells the nodes this instance manages ("" in tests that set none: every node).
func mine(n parse.Node, instance string) bool {
	return instance == "" || parse.InstanceOf(n.Labels) == instance
}

// pruneArgs are pruneScript's step arguments.
func pruneArgs(steps []pruneStep, reapHelpers bool) []string {
	args := make([]string, 0, len(steps))
	for _, s := range steps {
		a := s.Name + ":" + helper.Seconds(s.Timeout)
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
func (j *Job) prune(ctx context.Context, node parse.Node, steps []pruneStep, timeout time.Duration, reapHelpers bool) []operation.Step {
	marker := helper.NewMarker()
	args := []string{"sh", "-c", pruneScript, "sh", marker}
	args = append(args, pruneArgs(steps, reapHelpers)...)
	started := time.Now()
	h := j.Helpers.Run(ctx, helper.Spec{
		Action: Op, LockKey: operation.LockKeyNode(node.ID), Target: node.ID, Step: "prune",
		NodeID: node.ID, NodeName: node.Hostname, Image: j.Config.DockerCLIImage, Args: args, Socket: true, Direct: true, Timeout: timeout,
	})
	parts, _ := helper.ParseMarked(h.Logs, marker)
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.Name
	}
	byName := helper.WithCut(parts, names)
	out := make([]operation.Step, 0, len(steps))
	for _, s := range steps {
		st := operation.Step{Name: s.Name + "-prune", Node: node.Hostname, Helper: h.Name, Duration: operation.Since(started)}
		p, ran := byName[s.Name]
		task := operation.TaskResult{TaskID: h.Task.TaskID, Node: node.Hostname, State: h.Task.State, ExitCode: p.ExitCode, Logs: j.Helpers.Secrets.Mask(p.Output)}
		switch {
		case ran && p.Ended && p.ExitCode == 0:
			st.OK = true
			if m := reclaimedRe.FindStringSubmatch(p.Output); m != nil {
				st.Details = map[string]string{"reclaimed": m[1]}
			}
		case ran && p.Ended && helper.TimedOut(p.ExitCode):
			st.Error = fmt.Sprintf("%s prune timed out after %s", s.Name, s.Timeout)
		case ran && p.Ended:
			st.Error = fmt.Sprintf("%s prune exited with code %d", s.Name, p.ExitCode)
		case ran && p.Cut:
			st.Error = fmt.Sprintf("%s prune ran, but its output and exit code were cut from the helper's output", s.Name)
		case h.Err != nil:
			st.Error = h.Err.Error()
			st.ErrorKind = helper.StepKind(h.Err)
			task.Error = h.Task.Error
			task.ExitCode = h.Task.ExitCode
		default:
			st.Error = fmt.Sprintf("%s prune did not run", s.Name)
		}
		st.Tasks = []operation.TaskResult{task}
		out = append(out, st)
	}
	return out
}
