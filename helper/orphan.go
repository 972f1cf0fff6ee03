package helper

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// StopWait bounds the wait for a removed helper's task to stop: its container gets SIGTERM
// and, after the default 10 s grace, SIGKILL.
const StopWait = 30 * time.Second

// orphanStopGrace is how long a current engine gets to stop a removed helper's task on its own
// (10 s grace plus slack) before swarm-utils removes the container itself.
const orphanStopGrace = 15 * time.Second

// stopAction is the action of the helpers that stop orphaned tasks: recovery's.
const stopAction = "recover"

var errNodeDown = errors.New("node down")

var containerIDRe = regexp.MustCompile(`^[0-9a-f]{12,64}$`)

// Stale is a helper service that is being removed, with the task it ran.
type Stale struct {
	ID, Name, LockKey, Action, Step string
	Node, NodeID, TaskID, State     string
}

// StopOrphan waits until the task of a removed helper is no longer running. A current engine
// stops it on its own (SIGTERM, then SIGKILL after the 10 s grace). Docker before 24 leaves a
// removed job's task running (moby/moby#44312): on such a node, once the task has a container,
// a helper there removes that container. Should a current engine still run it after
// orphanStopGrace, the container is removed all the same.
func (e *Engine) StopOrphan(ctx context.Context, h Stale, row parse.TaskRow) error {
	wctx, cancel := context.WithTimeout(ctx, StopWait)
	defer cancel()
	started := time.Now()
	stopSent := false
	legacy := -1 // does the task's node need the workaround? -1: not asked yet
	last := swarm.TaskState(row)
	var nodeChecked time.Time
	err := swarm.Poll(wctx, e.PollInterval, func(ctx context.Context) (bool, error) {
		for {
			tasks, err := e.Swarm.InspectTasks(ctx, row.ID)
			if err != nil && swarm.IsNoSuch(err) {
				return true, nil // reaped: nothing runs any more
			}
			if err != nil || len(tasks) == 0 {
				return false, nil
			}
			t := tasks[0]
			last = strings.ToLower(t.State)
			if t.Terminal() {
				return true, nil
			}
			// A node that is down neither stops the task nor runs a helper to: waiting would
			// only hold the operation up (its engine stops the task once it is back, if current).
			if t.NodeID != "" && time.Since(nodeChecked) >= time.Second {
				nodeChecked = time.Now()
				if n, nerr := e.Swarm.Node(ctx, t.NodeID); nerr == nil && n.State == "down" {
					return false, errNodeDown
				}
			}
			if stopSent || t.ContainerID == "" || t.NodeID == "" {
				return false, nil
			}
			if legacy < 0 {
				legacy = 0
				if e.nodeKeepsRemovedJobTasks(ctx, t.NodeID) {
					legacy = 1
				}
			}
			if legacy == 0 && time.Since(started) <= orphanStopGrace {
				return false, nil // the engine stops it
			}
			stopSent = true
			why := "the node's engine leaves a removed job's task running (moby/moby#44312)"
			if legacy == 0 {
				why = "the engine has not stopped it after " + orphanStopGrace.String()
			}
			e.Log.Info("removing the container of a removed helper's task", "helper", h.Name, "node", row.Node, "task", row.ID, "why", why)
			if serr := e.removeTaskContainer(ctx, h, t, row.Node); serr != nil {
				e.Log.Warn("stop helper's container", "helper", h.Name, "node", row.Node, "err", serr)
			}
			// read its state at once
		}
	})
	if err != nil {
		what := "its task " + row.ID
		if row.Node != "" {
			what += " on " + row.Node
		}
		if errors.Is(err, errNodeDown) {
			return fmt.Errorf("%s is still %s and cannot be stopped: the node is down", what, last)
		}
		return fmt.Errorf("%s is still %s %s after the helper was removed", what, last, time.Since(started).Round(time.Millisecond))
	}
	return nil
}

// removeTaskContainer removes (kills) the container of a task on its node: directly when that
// is the node swarm-utils talks to, else from a helper there (only the node's daemon can).
func (e *Engine) removeTaskContainer(ctx context.Context, h Stale, t parse.Task, nodeName string) error {
	if !containerIDRe.MatchString(t.ContainerID) {
		return fmt.Errorf("unexpected container ID %q", t.ContainerID)
	}
	_, target, _ := strings.Cut(h.LockKey, ":")
	if target == "" {
		target = h.Name
	}
	if nodeName == "" {
		nodeName = t.NodeID
	}
	out := e.Run(ctx, Spec{
		Action: stopAction, LockKey: h.LockKey, Target: target, Step: "stop", NodeID: t.NodeID, NodeName: nodeName,
		Image: e.DockerCLIImage, Args: []string{"docker", "rm", "--force", t.ContainerID}, Socket: true, Direct: true,
		Timeout: StopWait,
	})
	return out.Err
}
