// Package swarm is the typed face of the cluster: every read and change swarm-utils makes is a
// method here, and CLI, its one implementation, is the only place that builds docker argv and
// reads docker's output through the parse decoders. Every call is one logged, copy-pasteable
// `docker …` command run by bashexec.
package swarm

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Swarm is everything the jobs do to the cluster. Consumers declare the narrower interface
// they need; *CLI and the in-memory fake (package swarmtest) implement all of it.
type Swarm interface {
	// Service returns the one service named exactly name (never an ID-prefix match):
	// KindInvalid for a name no service can have, KindNotFound when there is none.
	Service(ctx context.Context, name string) (parse.Service, error)
	// InspectServices inspects services by ID; one removed since it was listed is skipped.
	InspectServices(ctx context.Context, ids []string) ([]parse.Service, error)
	// ServiceIDs lists the IDs of every service.
	ServiceIDs(ctx context.Context) ([]string, error)
	// ListServices lists the services carrying every given label filter ("key" or "key=value").
	ListServices(ctx context.Context, labels ...string) ([]parse.ServiceRow, error)
	// Nodes returns every node with its labels and state.
	Nodes(ctx context.Context) ([]parse.Node, error)
	// Node returns the node with this ID.
	Node(ctx context.Context, id string) (parse.Node, error)
	// NodeAndSelf returns the node docker resolves name to (its full ID, else its hostname,
	// else an ID prefix: check which it matched) and the ID of the node swarm-utils talks to,
	// in one `docker node inspect -- NAME self`: KindNotFound (with self) when docker knows no
	// such node; an ambiguous name is an error of docker's.
	NodeAndSelf(ctx context.Context, name string) (node parse.Node, self string, err error)
	// Tasks lists a service's tasks, only those desired running when desiredRunning.
	Tasks(ctx context.Context, service string, desiredRunning bool) ([]parse.TaskRow, error)
	// InspectTasks inspects tasks by ID.
	InspectTasks(ctx context.Context, ids ...string) ([]parse.Task, error)
	// JobTasks lists the tasks of several services in one `docker service ps` (the helper
	// engine's polls of helpers that run at once); a row's Name is "<service name>.<slot>".
	JobTasks(ctx context.Context, ids []string) ([]parse.TaskRow, error)
	// Logs returns a service's or task's stdout then stderr, the last tail lines when tail > 0;
	// of each stream at most its last bashexec.TaskOutputTail bytes, then starting with a note of
	// how much was cut.
	Logs(ctx context.Context, id string, tail int) (string, error)
	// FollowLogs is Logs read as they are printed, until a line equal to until (ended) or
	// until ctx ends.
	FollowLogs(ctx context.Context, id string, tail int, until string) (logs string, ended bool, err error)
	// CreateJob creates a one-shot replicated-job service and returns its ID ("" in dry-run).
	CreateJob(ctx context.Context, j Job) (string, error)
	// Remove removes a service; one that is gone already is not an error.
	Remove(ctx context.Context, id string) error
	// CreateSecret creates a swarm secret; its data goes on stdin only, never in argv.
	CreateSecret(ctx context.Context, s Secret) error
	// RemoveSecret removes a swarm secret; one that is gone already is not an error. Docker
	// refuses while a service still uses it.
	RemoveSecret(ctx context.Context, name string) error
	// ListSecrets lists the IDs of the secrets carrying every given label filter.
	ListSecrets(ctx context.Context, labels ...string) ([]string, error)
	// CreateConfig creates a swarm config object and returns its ID; its name is unique in the
	// raft store, so a create is an atomic claim (the cluster lock). Data goes on stdin.
	CreateConfig(ctx context.Context, c Config) (string, error)
	// InspectConfig returns the config named exactly name: KindNotFound when there is none.
	InspectConfig(ctx context.Context, name string) (parse.ConfigObject, error)
	// RemoveConfig removes a config by ID; one that is gone already is not an error.
	RemoveConfig(ctx context.Context, id string) error
	// ListConfigs lists the IDs of the configs carrying every given label filter.
	ListConfigs(ctx context.Context, labels ...string) ([]string, error)
	// Scale sets a replicated service's replica count, adding or removing a label in the same
	// update, without waiting for the tasks.
	Scale(ctx context.Context, s Scale) error
	// CreateProbe creates a service of no replicas whose image docker resolves on the registry
	// (tag to digest, with the registry auth of Env), the way `docker service update --image`
	// pins it; nothing is pulled or run. Remove it after reading its image.
	CreateProbe(ctx context.Context, p Probe) (ProbeResult, error)
	// Constrain removes and adds placement constraints of a service in one update, without
	// waiting for the tasks.
	Constrain(ctx context.Context, c Constraints) error
	// UpdateImage rolls a service to an image and waits for docker's rollout to return.
	UpdateImage(ctx context.Context, u ImageUpdate) (UpdateResult, error)
	// Rollback rolls a service back to its previous spec (docker service rollback) and waits
	// for docker's rollback to return; Env carries the DOCKER_CONFIG of a private login.
	Rollback(ctx context.Context, r RollbackRequest) error
	// Login logs in to a registry into the DOCKER_CONFIG given in env; the password goes on
	// stdin only.
	Login(ctx context.Context, env []string, user, password, registry string) error
	// LocalNodeID is the swarm node ID of the daemon swarm-utils talks to.
	LocalNodeID(ctx context.Context) (string, error)
	// Info is the swarm state of the daemon swarm-utils talks to.
	Info(ctx context.Context) (Info, error)
	// APIVersion is the Engine API version of the daemon swarm-utils talks to.
	APIVersion(ctx context.Context) (string, error)
	// RunLocal runs a script's argv (sh -c SCRIPT ...) here, against the local daemon: a step
	// that only drives the docker CLI of the node swarm-utils runs on. Its output is kept as
	// Logs keeps it: the last bashexec.TaskOutputTail bytes of each stream.
	RunLocal(ctx context.Context, args []string, timeout time.Duration) (bashexec.Result, error)
	// DryRun tells whether changes are only logged.
	DryRun() bool
}

// Job is a one-shot service pinned to one node (a helper).
type Job struct {
	Name            string
	NodeID          string
	Labels          []Label // service labels, in order
	ContainerLabels []Label
	Mounts          []string // --mount values
	Secrets         []string // --secret values (source=NAME,target=FILE,...)
	Env             []string // KEY=VALUE
	Entrypoint      string   // "" keeps the image's
	User            string   // --user (e.g. "0:0"); "" keeps the image's
	Image           string
	Args            []string // "" keeps the image's command
}

// Secret is a swarm secret to create.
type Secret struct {
	Name   string
	Labels []Label
	Data   []byte // never logged, never in argv
}

// Config is a swarm config object to create.
type Config struct {
	Name   string
	Labels []Label
	Data   []byte
}

// Label is one key=value label.
type Label struct{ Key, Value string }

func (l Label) String() string { return l.Key + "=" + l.Value }

// Scale is one replica change of a service.
type Scale struct {
	Service  string
	Replicas uint64
	LabelAdd *Label // set in the same update
	LabelRm  string // removed in the same update
}

// Constraints is one change of a service's placement constraints.
type Constraints struct {
	Service string
	Remove  []string // exactly as the service has them
	Add     []string // e.g. node.hostname==worker-2
}

// ImageUpdate is one `docker service update --image`.
type ImageUpdate struct {
	Service string
	Image   string
	Force   bool
	Env     []string // DOCKER_CONFIG of a private login
	Timeout time.Duration
}

// RollbackRequest is one `docker service rollback`.
type RollbackRequest struct {
	Service string
	Env     []string // DOCKER_CONFIG of a private login, so the previous image can be pulled
	Timeout time.Duration
}

// Probe is one `docker service create --replicas 0` that only resolves an image's digest.
type Probe struct {
	Name    string
	Labels  []Label
	Image   string   // a tag: docker pins it to the registry's digest
	Env     []string // DOCKER_CONFIG of a private login
	Timeout time.Duration
}

// ProbeResult is what the probe's create said.
type ProbeResult struct {
	ID      string
	Warning string // docker's stderr, e.g. "image ... could not be accessed on a registry to record its digest"
	DryRun  bool
}

// UpdateResult is what the update command said.
type UpdateResult struct {
	Warning string // docker's stderr of a successful update, e.g. a digest it could not record
	DryRun  bool
}

// Info is the part of `docker info` swarm-utils reads.
type Info struct {
	LocalNodeState   string
	ControlAvailable bool
	Error            string
}

// RunningTask is a task of a service that is running now, with its container.
type RunningTask struct {
	ID, NodeID, Node, ContainerID string
	Slot                          int
}

// TaskReader is what RunningTasks needs.
type TaskReader interface {
	Tasks(ctx context.Context, service string, desiredRunning bool) ([]parse.TaskRow, error)
	InspectTasks(ctx context.Context, ids ...string) ([]parse.Task, error)
}

// RunningTasks returns the service's running tasks, with node hostnames.
func RunningTasks(ctx context.Context, s TaskReader, svc parse.Service) ([]RunningTask, error) {
	rows, err := s.Tasks(ctx, svc.ID, true)
	if err != nil {
		return nil, fmt.Errorf("list tasks of %s: %w", svc.Name, err)
	}
	ids := make([]string, 0, len(rows))
	hostByTask := map[string]string{}
	for _, r := range rows {
		ids = append(ids, r.ID)
		hostByTask[r.ID] = r.Node
	}
	if len(ids) == 0 {
		return nil, nil
	}
	tasks, err := s.InspectTasks(ctx, ids...)
	if err != nil {
		return nil, fmt.Errorf("inspect tasks of %s: %w", svc.Name, err)
	}
	var running []RunningTask
	for _, t := range tasks {
		if t.State != "running" || t.ContainerID == "" {
			continue
		}
		running = append(running, RunningTask{ID: t.ID, NodeID: t.NodeID, Node: hostByTask[t.ID], ContainerID: t.ContainerID, Slot: t.Slot})
	}
	return running, nil
}

// TaskState is the first word of `docker service ps`'s CURRENT STATE, lower-cased.
func TaskState(row parse.TaskRow) string {
	f := strings.Fields(row.CurrentState)
	if len(f) == 0 {
		return "new"
	}
	return strings.ToLower(f[0])
}

// Terminal tells the task states after which a task never runs again.
func Terminal(state string) bool {
	switch state {
	case "complete", "failed", "rejected", "shutdown", "orphaned", "remove":
		return true
	}
	return false
}

// Unscheduled tells the states of a task that has no node yet.
func Unscheduled(state string) bool {
	return state == "new" || state == "allocated" || state == "pending"
}

// IsNoSuch tells docker's "no such service/node/object" answers from real failures.
func IsNoSuch(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "no such") || strings.Contains(msg, "not found")
}

// ValidName rejects names docker could read as flags or that no service or node can have,
// before they reach any command line.
func ValidName(what, name string) error {
	if name == "" {
		return operation.Errorf(operation.KindInvalid, "%s name is empty", what)
	}
	if len(name) > 255 || strings.HasPrefix(name, "-") {
		return operation.Errorf(operation.KindInvalid, "%s name %q is not valid", what, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return operation.Errorf(operation.KindInvalid, "%s name %q is not valid: only letters, digits, '-', '_' and '.'", what, name)
		}
	}
	return nil
}
