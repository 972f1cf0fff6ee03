package commands

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// execInTasks runs SHELL -c CMD inside every given task container: one helper per node, the
// nodes in parallel, the tasks of one node one after another. A failing command in one task
// fails its step; the others still run. One Step per node.
func (d *Deps) execInTasks(ctx context.Context, action, lockKey, target, stepName string, tasks []runningTask, shell, command string, timeout time.Duration) []Step {
	byNode := map[string][]runningTask{}
	for _, t := range tasks {
		byNode[t.NodeID] = append(byNode[t.NodeID], t)
	}
	nodeIDs := make([]string, 0, len(byNode))
	for id := range byNode {
		nodeIDs = append(nodeIDs, id)
	}
	sort.Slice(nodeIDs, func(i, j int) bool { return byNode[nodeIDs[i]][0].Node < byNode[nodeIDs[j]][0].Node })
	steps := make([]Step, len(nodeIDs))
	var wg sync.WaitGroup
	for i, id := range nodeIDs {
		wg.Go(func() {
			steps[i] = d.execOnNode(ctx, action, lockKey, target, stepName, byNode[id], shell, command, timeout)
		})
	}
	wg.Wait()
	return steps
}

func (d *Deps) execOnNode(ctx context.Context, action, lockKey, target, stepName string, tasks []runningTask, shell, command string, timeout time.Duration) Step {
	node := tasks[0].Node
	marker := newMarker()
	args := []string{"sh", "-c", execScript, "sh", marker, seconds(timeout), shell, command}
	for _, t := range tasks {
		args = append(args, t.ContainerID)
	}
	started := time.Now()
	h := d.runHelper(ctx, helperSpec{
		Action: action, LockKey: lockKey, Target: target, Step: stepName, NodeID: tasks[0].NodeID, NodeName: node,
		Image: d.Config.DockerCLIImage, Args: args, Socket: true, Direct: true, Timeout: timeout*time.Duration(len(tasks)) + helperSlack,
	})
	st := Step{Name: stepName, Node: node, Helper: h.Name, OK: true, Duration: Duration(time.Since(started))}
	parts, _ := parseMarked(h.Logs, marker)
	byContainer := map[string]scriptPart{}
	for _, p := range parts {
		byContainer[p.Name] = p
	}
	var failedTasks int
	for _, t := range tasks {
		res := TaskResult{TaskID: t.ID, Target: fmt.Sprintf("%s.%d", target, t.Slot), Node: node, ExitCode: -1}
		p, ran := byContainer[t.ContainerID]
		switch {
		case ran && p.Ended:
			res.ExitCode = p.ExitCode
			res.Logs = d.Secrets.Mask(p.Output)
			res.State = "complete"
			if p.ExitCode != 0 {
				res.State = "failed"
				res.Error = fmt.Sprintf("command exited with code %d", p.ExitCode)
				if timedOut(p.ExitCode) {
					res.Error = fmt.Sprintf("command timed out after %s", timeout)
				}
			}
		case ran:
			res.State, res.Logs, res.Error = "failed", d.Secrets.Mask(p.Output), "command did not finish"
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
	} else if h.Err != nil {
		st.OK, st.Error = false, h.Err.Error()
	}
	return st
}
