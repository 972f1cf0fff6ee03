// Package commands holds swarm-utils' pipelines — clean-node, clean-service, backup-service and
// update-service — and the helper-service engine they share. Every cluster action is a docker
// CLI command run through bashexec; work that must happen on a particular node runs in a
// short-lived helper service pinned to it.
package commands

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Deps is what every pipeline needs.
type Deps struct {
	Runner  bashexec.Runner
	Config  config.Config
	Secrets *bashexec.Secrets
	Locks   *Locks
	Log     *slog.Logger
	// PollInterval is how often a helper's task state is read; 100 ms keeps a helper's whole
	// lifecycle near the ~0.6 s floor without loading the manager.
	PollInterval time.Duration
	localOnce    sync.Once
	localNode    string     // see localNodeID
	engine       engineInfo // see keepsRemovedJobTasks

	// Hooks for metrics; nil-safe.
	OnHelperCreated func(action string)
}

// NewDeps wires the defaults around a runner.
func NewDeps(cfg config.Config, runner bashexec.Runner, secrets *bashexec.Secrets, log *slog.Logger) *Deps {
	if log == nil {
		log = slog.Default()
	}
	if secrets == nil {
		secrets = bashexec.NewSecrets()
	}
	secrets.Add(cfg.SecretValues()...)
	return &Deps{Runner: runner, Config: cfg, Secrets: secrets, Locks: NewLocks(), Log: log, PollInterval: 100 * time.Millisecond}
}

// docker runs one docker CLI command and returns its stdout.
func (d *Deps) docker(ctx context.Context, readOnly bool, timeout time.Duration, args ...string) (string, error) {
	return d.dockerIn(ctx, readOnly, timeout, nil, nil, args...)
}

// dockerIn is docker with extra environment and stdin (docker login).
func (d *Deps) dockerIn(ctx context.Context, readOnly bool, timeout time.Duration, env []string, stdin []byte, args ...string) (string, error) {
	res, err := d.dockerResult(ctx, bashexec.Command{Args: args, Env: env, Stdin: stdin, Timeout: timeout, ReadOnly: readOnly})
	return res.Stdout, err
}

// dockerResult runs `docker c.Args...` and returns the whole result (stdout and stderr).
func (d *Deps) dockerResult(ctx context.Context, c bashexec.Command) (bashexec.Result, error) {
	c.Args = append([]string{"docker"}, c.Args...)
	if d.Config.DockerHost != "" {
		c.Env = append([]string{"DOCKER_HOST=" + d.Config.DockerHost}, c.Env...)
	}
	return d.Runner.Run(ctx, c)
}

// readTimeout bounds every read-only docker call (inspect, ls, ps, logs).
const readTimeout = 30 * time.Second

// inspectService returns the one service named exactly name (never a prefix or ID-prefix match).
func (d *Deps) inspectService(ctx context.Context, name string) (parse.Service, error) {
	if err := validName("service", name); err != nil {
		return parse.Service{}, err
	}
	out, err := d.docker(ctx, true, readTimeout, "service", "inspect", "--", name)
	if err != nil {
		if isNoSuch(err) {
			return parse.Service{}, errorf(KindNotFound, "service %q not found", name)
		}
		return parse.Service{}, fmt.Errorf("inspect service %s: %w", name, err)
	}
	svcs, err := parse.ServiceInspect(out)
	if err != nil {
		return parse.Service{}, fmt.Errorf("inspect service %s: %w", name, err)
	}
	for _, s := range svcs {
		if s.Name == name {
			return s, nil
		}
	}
	// docker also resolves ID prefixes; a name must match exactly.
	return parse.Service{}, errorf(KindNotFound, "service %q not found", name)
}

// listNodes returns every node of the swarm with its labels and state.
func (d *Deps) listNodes(ctx context.Context) ([]parse.Node, error) {
	out, err := d.docker(ctx, true, readTimeout, "node", "ls", "-q")
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil, nil
	}
	out, err = d.docker(ctx, true, readTimeout, append([]string{"node", "inspect", "--"}, ids...)...)
	if err != nil {
		return nil, fmt.Errorf("inspect nodes: %w", err)
	}
	nodes, err := parse.NodeInspect(out)
	if err != nil {
		return nil, fmt.Errorf("inspect nodes: %w", err)
	}
	return nodes, nil
}

// runningTask is a task of a target service that is running now, with its container.
type runningTask struct {
	ID, NodeID, Node, ContainerID string
	Slot                          int
}

// runningTasks returns the service's running tasks, with node hostnames.
func (d *Deps) runningTasks(ctx context.Context, svc parse.Service) ([]runningTask, error) {
	out, err := d.docker(ctx, true, readTimeout, "service", "ps", "--no-trunc", "--filter", "desired-state=running", "--format", "json", "--", svc.ID)
	if err != nil {
		return nil, fmt.Errorf("list tasks of %s: %w", svc.Name, err)
	}
	rows, err := parse.ServicePs(out)
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
	out, err = d.docker(ctx, true, readTimeout, append([]string{"inspect", "--type", "task", "--"}, ids...)...)
	if err != nil {
		return nil, fmt.Errorf("inspect tasks of %s: %w", svc.Name, err)
	}
	tasks, err := parse.TaskInspect(out)
	if err != nil {
		return nil, fmt.Errorf("inspect tasks of %s: %w", svc.Name, err)
	}
	var running []runningTask
	for _, t := range tasks {
		if t.State != "running" || t.ContainerID == "" {
			continue
		}
		running = append(running, runningTask{ID: t.ID, NodeID: t.NodeID, Node: hostByTask[t.ID], ContainerID: t.ContainerID, Slot: t.Slot})
	}
	return running, nil
}

// isNoSuch tells docker's "no such service/node/object" answers from real failures.
func isNoSuch(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "no such") || strings.Contains(msg, "not found")
}

// validName rejects names docker could read as flags or that no service or node can have,
// before they reach any command line.
func validName(what, name string) error {
	if name == "" {
		return errorf(KindInvalid, "%s name is empty", what)
	}
	if len(name) > 255 || strings.HasPrefix(name, "-") {
		return errorf(KindInvalid, "%s name %q is not valid", what, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return errorf(KindInvalid, "%s name %q is not valid: only letters, digits, '-', '_' and '.'", what, name)
		}
	}
	return nil
}
