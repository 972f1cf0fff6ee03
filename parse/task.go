package parse

import (
	"fmt"
	"strings"
	"time"
)

// TaskRow is one line of `docker service ps --no-trunc --format json`.
type TaskRow struct {
	ID           string
	Name         string // "svc.1" (replicated), "svc.NODEID" (global); older tasks of a slot as docker prints them
	Image        string
	Node         string // hostname; "" while unscheduled
	DesiredState string // "Running", "Shutdown", "Complete", ... (capitalised, as docker prints it)
	CurrentState string // "Running 5 seconds ago", "Pending 3 seconds ago", ...
	Error        string // Status.Err without the quotes docker wraps it in
}

// State is CurrentState's first word in lower case, as in Task.State: "running", "failed", ...
func (r TaskRow) State() string {
	word, _, _ := strings.Cut(strings.TrimSpace(r.CurrentState), " ")
	return strings.ToLower(word)
}

// ServicePs parses `docker service ps --no-trunc --format json`.
func ServicePs(out string) ([]TaskRow, error) {
	const what = "docker service ps"
	objs, err := objects(out, what)
	if err != nil {
		return nil, err
	}
	rows := make([]TaskRow, 0, len(objs))
	for i, o := range objs {
		id, err := requireString(o, "ID", what, i)
		if err != nil {
			return nil, err
		}
		rows = append(rows, TaskRow{
			ID:           id,
			Name:         o.Get("Name").String(),
			Image:        o.Get("Image").String(),
			Node:         o.Get("Node").String(),
			DesiredState: o.Get("DesiredState").String(),
			CurrentState: o.Get("CurrentState").String(),
			Error:        unquoteError(o.Get("Error").String()),
		})
	}
	return rows, nil
}

// unquoteError undoes docker's `"` + err + `"` (no escaping inside, so not strconv.Unquote).
func unquoteError(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// Task is one task object from `docker inspect TASKID...`.
type Task struct {
	ID, ServiceID, NodeID string
	Slot                  int    // 0 for global-mode tasks
	DesiredState          string // "running", "shutdown", "complete", ...
	State                 string // Status.State
	Message, Err          string // Status.Message, Status.Err
	ContainerID           string // Status.ContainerStatus.ContainerID; "" before a container exists
	ExitCode              int    // Status.ContainerStatus.ExitCode
	Timestamp             time.Time
}

// TaskInspect parses `docker inspect TASKID...`.
func TaskInspect(out string) ([]Task, error) {
	const what = "docker inspect (task)"
	objs, err := objects(out, what)
	if err != nil {
		return nil, err
	}
	tasks := make([]Task, 0, len(objs))
	for i, o := range objs {
		id, err := requireString(o, "ID", what, i)
		if err != nil {
			return nil, err
		}
		status := o.Get("Status")
		if !status.IsObject() || !o.Get("ServiceID").Exists() {
			return nil, fmt.Errorf("%s output, object %s: not a task (no Status or ServiceID)", what, id)
		}
		ts, err := timeAt(status, "Timestamp")
		if err != nil {
			return nil, fmt.Errorf("%s output, task %s: Status.%w", what, id, err)
		}
		tasks = append(tasks, Task{
			ID:           id,
			ServiceID:    o.Get("ServiceID").String(),
			NodeID:       o.Get("NodeID").String(),
			Slot:         int(o.Get("Slot").Int()),
			DesiredState: o.Get("DesiredState").String(),
			State:        status.Get("State").String(),
			Message:      status.Get("Message").String(),
			Err:          status.Get("Err").String(),
			ContainerID:  status.Get("ContainerStatus.ContainerID").String(),
			ExitCode:     int(status.Get("ContainerStatus.ExitCode").Int()),
			Timestamp:    ts,
		})
	}
	return tasks, nil
}

// Terminal tells whether the task has reached a state it never leaves.
func (t Task) Terminal() bool {
	switch strings.ToLower(t.State) {
	case "complete", "failed", "rejected", "shutdown", "orphaned", "remove":
		return true
	}
	return false
}

// Succeeded tells whether the task ran to completion with exit code 0.
func (t Task) Succeeded() bool {
	return strings.EqualFold(t.State, "complete") && t.ExitCode == 0
}
