package helper

import (
	"context"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Exec is one command run inside the running tasks of a target service (clean-service's
// exec, backup-service's pre-exec).
type Exec struct {
	Action, LockKey, Target, Step string
	Shell, Command                string
	Timeout                       time.Duration // per task
	// RemoveLate: nothing later in the operation waits for the helpers to be gone (Spec).
	RemoveLate bool
}

// ExecInTasks runs SHELL -c CMD inside every given task container: one helper per node, the
// nodes in parallel, the tasks of one node one after another. A failing command in one task
// fails its step; the others still run. One Step per node.
func (e *Engine) ExecInTasks(ctx context.Context, x Exec, tasks []swarm.RunningTask) []operation.Step {
	byNode := map[string][]swarm.RunningTask{}
	for _, t := range tasks {
		byNode[t.NodeID] = append(byNode[t.NodeID], t)
	}
	nodeIDs := make([]string, 0, len(byNode))
	for id := range byNode {
		nodeIDs = append(nodeIDs, id)
	}
	sort.Slice(nodeIDs, func(i, j int) bool { return byNode[nodeIDs[i]][0].Node < byNode[nodeIDs[j]][0].Node })
	steps := make([]operation.Step, len(nodeIDs))
	var wg sync.WaitGroup
	for i, id := range nodeIDs {
		wg.Go(func() {
			defer func() {
				// A panic here would crash serve with every operation in flight.
				if p := recover(); p != nil {
					node := byNode[id][0].Node
					msg := e.Secrets.For(ctx).Mask(fmt.Sprint(p))
					e.Log.Error("exec on node panicked", "target", x.Target, "node", node, "panic", msg, "stack", string(debug.Stack()))
					steps[i] = operation.Step{Name: x.Step, Node: node, Error: "internal error: " + msg}
				}
			}()
			steps[i] = e.execOnNode(ctx, x, byNode[id])
		})
	}
	wg.Wait()
	return steps
}

func (e *Engine) execOnNode(ctx context.Context, x Exec, tasks []swarm.RunningTask) operation.Step {
	node := tasks[0].Node
	timeout := x.Timeout
	marker := NewMarker()
	args := []string{"sh", "-c", execScript, "sh", marker, Seconds(timeout), x.Shell, x.Command}
	for _, t := range tasks {
		args = append(args, t.ContainerID)
	}
	started := time.Now()
	h := e.Run(ctx, Spec{
		Action: x.Action, LockKey: x.LockKey, Target: x.Target, Step: x.Step, NodeID: tasks[0].NodeID, NodeName: node,
		Image: e.DockerCLIImage, Args: args, Socket: true, Direct: true, Timeout: timeout*time.Duration(len(tasks)) + Slack,
		RemoveLate: x.RemoveLate, DoneLine: marker + " done",
	})
	st := operation.Step{Name: x.Step, Node: node, Helper: h.Name, OK: true, Duration: operation.Since(started)}
	parts, _ := ParseMarked(h.Logs, marker)
	containers := make([]string, len(tasks))
	for i, t := range tasks {
		containers[i] = t.ContainerID
	}
	byContainer := WithCut(parts, containers)
	var failedTasks int
	for _, t := range tasks {
		res := operation.TaskResult{TaskID: t.ID, Target: fmt.Sprintf("%s.%d", x.Target, t.Slot), Node: node, ExitCode: -1}
		p, ran := byContainer[t.ContainerID]
		switch {
		case ran && p.Ended:
			res.ExitCode = p.ExitCode
			res.Logs = e.Secrets.For(ctx).Mask(cutOutput(p))
			res.State = "complete"
			if p.ExitCode != 0 {
				res.State = "failed"
				res.Error = fmt.Sprintf("command exited with code %d", p.ExitCode)
				if TimedOut(p.ExitCode) {
					res.Error = fmt.Sprintf("command timed out after %s", timeout)
				}
			}
		case ran && p.Cut:
			res.State, res.Logs, res.Error = "unknown", e.Secrets.For(ctx).Mask(cutOutput(p)), "command ran, but its output and exit code were cut from the helper's output"
		case ran:
			res.State, res.Logs, res.Error = "failed", e.Secrets.For(ctx).Mask(p.Output), "command did not finish"
		default:
			res.State, res.Error = "not run", "command did not run"
		}
		if h.Err != nil && res.State != "complete" {
			res.Error += ": " + h.Err.Error()
		}
		if res.State != "complete" {
			failedTasks++
		}
		st.Tasks = append(st.Tasks, res)
	}
	if failedTasks > 0 {
		st.OK = false
		st.Error = fmt.Sprintf("command failed in %d of %d tasks on %s", failedTasks, len(tasks), node)
		if h.Err != nil {
			st.Error += ": " + h.Err.Error()
			st.ErrorKind = StepKind(h.Err)
		}
	} else if h.Err != nil {
		st.OK, st.Error, st.ErrorKind = false, h.Err.Error(), StepKind(h.Err)
	}
	return st
}

// cutOutput is a part's output, saying so when its start was cut with the head of the helper's
// output (the kept tail then starts with bashexec's "[… N cut …]" note, or holds none of it).
func cutOutput(p ScriptPart) string {
	if p.Cut && !strings.HasPrefix(p.Output, "[… ") {
		return strings.TrimPrefix("[… output cut …]\n"+p.Output, "\n")
	}
	return p.Output
}
