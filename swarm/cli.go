package swarm

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

// readTimeout bounds every read-only docker call (inspect, ls, ps) and the quick changes.
const readTimeout = 30 * time.Second

// logsTimeout bounds one `docker service logs`.
const logsTimeout = 10 * time.Second

// infoTimeout keeps a readiness probe short even when the daemon hangs.
const infoTimeout = 5 * time.Second

// loginTimeout bounds `docker login`: one round trip from the daemon to the registry.
const loginTimeout = 30 * time.Second

// CLI is Swarm over the docker CLI.
type CLI struct {
	Runner     bashexec.Runner
	DockerHost string // DOCKER_HOST for every command; "" = docker's default
	Dry        bool   // the runner only logs changes
}

var _ Swarm = (*CLI)(nil)

// run runs `docker args...`.
func (c *CLI) run(ctx context.Context, cmd bashexec.Command) (bashexec.Result, error) {
	cmd.Args = append([]string{"docker"}, cmd.Args...)
	if c.DockerHost != "" {
		cmd.Env = append([]string{"DOCKER_HOST=" + c.DockerHost}, cmd.Env...)
	}
	return c.Runner.Run(ctx, cmd)
}

func (c *CLI) read(ctx context.Context, args ...string) (string, error) {
	res, err := c.run(ctx, bashexec.Command{Args: args, Timeout: readTimeout, ReadOnly: true})
	return res.Stdout, err
}

func (c *CLI) change(ctx context.Context, args ...string) (string, error) {
	res, err := c.run(ctx, bashexec.Command{Args: args, Timeout: readTimeout})
	return res.Stdout, err
}

func (c *CLI) DryRun() bool { return c.Dry }

func (c *CLI) Service(ctx context.Context, name string) (parse.Service, error) {
	if err := ValidName("service", name); err != nil {
		return parse.Service{}, err
	}
	out, err := c.read(ctx, "service", "inspect", "--", name)
	if err != nil {
		if IsNoSuch(err) {
			return parse.Service{}, operation.Errorf(operation.KindNotFound, "service %q not found", name)
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
	return parse.Service{}, operation.Errorf(operation.KindNotFound, "service %q not found", name)
}

func (c *CLI) InspectServices(ctx context.Context, ids []string) ([]parse.Service, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	out, err := c.read(ctx, append([]string{"service", "inspect", "--"}, ids...)...)
	if err != nil && !IsNoSuch(err) {
		return nil, fmt.Errorf("inspect services: %w", err)
	}
	// With "no such service" docker still prints the services it found.
	svcs, err := parse.ServiceInspect(out)
	if err != nil {
		return nil, fmt.Errorf("inspect services: %w", err)
	}
	return svcs, nil
}

func (c *CLI) ServiceIDs(ctx context.Context) ([]string, error) {
	out, err := c.read(ctx, "service", "ls", "--quiet")
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	return strings.Fields(out), nil
}

func (c *CLI) ListServices(ctx context.Context, labels ...string) ([]parse.ServiceRow, error) {
	args := []string{"service", "ls"}
	for _, l := range labels {
		args = append(args, "--filter", "label="+l)
	}
	out, err := c.read(ctx, append(args, "--format", "json")...)
	if err != nil {
		return nil, err
	}
	return parse.ServiceLs(out)
}

func (c *CLI) Nodes(ctx context.Context) ([]parse.Node, error) {
	out, err := c.read(ctx, "node", "ls", "-q")
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil, nil
	}
	out, err = c.read(ctx, append([]string{"node", "inspect", "--"}, ids...)...)
	if err != nil {
		return nil, fmt.Errorf("inspect nodes: %w", err)
	}
	nodes, err := parse.NodeInspect(out)
	if err != nil {
		return nil, fmt.Errorf("inspect nodes: %w", err)
	}
	return nodes, nil
}

func (c *CLI) Node(ctx context.Context, id string) (parse.Node, error) {
	out, err := c.read(ctx, "node", "inspect", "--", id)
	if err != nil {
		return parse.Node{}, fmt.Errorf("inspect node %s: %w", id, err)
	}
	nodes, err := parse.NodeInspect(out)
	if err != nil {
		return parse.Node{}, fmt.Errorf("inspect node %s: %w", id, err)
	}
	if len(nodes) != 1 {
		return parse.Node{}, fmt.Errorf("inspect node %s: %d nodes", id, len(nodes))
	}
	return nodes[0], nil
}

func (c *CLI) NodeAndSelf(ctx context.Context, name string) (parse.Node, string, error) {
	if err := ValidName("node", name); err != nil {
		return parse.Node{}, "", err
	}
	// docker prints the nodes it found, in order, and fails naming the one it did not.
	out, err := c.read(ctx, "node", "inspect", "--", name, "self")
	nodes, perr := parse.NodeInspect(out)
	switch {
	case err == nil && perr == nil && len(nodes) == 2:
		return nodes[0], nodes[1].ID, nil
	case err != nil && IsNoSuch(err) && perr == nil && len(nodes) == 1:
		return parse.Node{}, nodes[0].ID, operation.Errorf(operation.KindNotFound, "node %q not found", name)
	case err != nil:
		return parse.Node{}, "", fmt.Errorf("inspect node %s: %w", name, err)
	case perr != nil:
		return parse.Node{}, "", fmt.Errorf("inspect node %s: %w", name, perr)
	}
	return parse.Node{}, "", fmt.Errorf("inspect node %s and self: %d nodes", name, len(nodes))
}

func (c *CLI) Tasks(ctx context.Context, service string, desiredRunning bool) ([]parse.TaskRow, error) {
	args := []string{"service", "ps", "--no-trunc"}
	if desiredRunning {
		args = append(args, "--filter", "desired-state=running")
	}
	out, err := c.read(ctx, append(args, "--format", "json", "--", service)...)
	if err != nil {
		return nil, err
	}
	return parse.ServicePs(out)
}

func (c *CLI) JobTasks(ctx context.Context, ids []string) ([]parse.TaskRow, error) {
	out, err := c.read(ctx, append([]string{"service", "ps", "--no-trunc", "--format", "json", "--"}, ids...)...)
	if err != nil {
		return nil, err
	}
	return parse.ServicePs(out)
}

func (c *CLI) InspectTasks(ctx context.Context, ids ...string) ([]parse.Task, error) {
	out, err := c.read(ctx, append([]string{"inspect", "--type", "task", "--"}, ids...)...)
	if err != nil {
		return nil, err
	}
	return parse.TaskInspect(out)
}

func (c *CLI) Logs(ctx context.Context, id string, tail int) (string, error) {
	args := []string{"service", "logs", "--raw", "--no-trunc"}
	if tail > 0 {
		args = append(args, "--tail", strconv.Itoa(tail))
	}
	// A task may print without bound; only its tail is kept (with a note of what was cut).
	res, err := c.run(ctx, bashexec.Command{ReadOnly: true, Timeout: logsTimeout, KeepTail: bashexec.TaskOutputTail, Args: append(args, "--", id)})
	return res.Stdout + res.Stderr, err
}

// FollowLogs reads a helper's logs as it prints them (`docker service logs --follow`) until a
// line equal to until arrived (ended: the process is stopped there) or ctx ended; only the
// tail is kept, as by Logs.
func (c *CLI) FollowLogs(ctx context.Context, id string, tail int, until string) (logs string, ended bool, err error) {
	args := []string{"service", "logs", "--follow", "--raw", "--no-trunc", "--tail", strconv.Itoa(tail), "--", id}
	res, err := c.run(ctx, bashexec.Command{ReadOnly: true, KeepTail: bashexec.TaskOutputTail, EndAtLine: until, Args: args})
	return res.Stdout + res.Stderr, res.EndedAtLine, err
}

func (c *CLI) CreateJob(ctx context.Context, j Job) (string, error) {
	args := []string{"service", "create", "--detach", "--quiet", "--name", j.Name,
		"--mode", "replicated-job", "--restart-condition", "none", "--log-driver", "json-file",
		"--constraint", "node.id==" + j.NodeID}
	for _, l := range j.Labels {
		args = append(args, "--label", l.String())
	}
	for _, l := range j.ContainerLabels {
		args = append(args, "--container-label", l.String())
	}
	// A helper image's tag is fixed; resolving its digest would cost a registry round trip
	// per helper. Registry auth still goes along for private helper images.
	args = append(args, "--no-resolve-image", "--with-registry-auth")
	for _, m := range j.Mounts {
		args = append(args, "--mount", m)
	}
	for _, sec := range j.Secrets {
		args = append(args, "--secret", sec)
	}
	for _, e := range j.Env {
		args = append(args, "--env", e)
	}
	if j.Entrypoint != "" {
		args = append(args, "--entrypoint", j.Entrypoint)
	}
	if j.User != "" {
		args = append(args, "--user", j.User)
	}
	args = append(args, j.Image)
	args = append(args, j.Args...)
	id, err := c.change(ctx, args...)
	return strings.TrimSpace(id), err
}

func (c *CLI) Remove(ctx context.Context, id string) error {
	if _, err := c.change(ctx, "service", "rm", id); err != nil && !IsNoSuch(err) {
		return err
	}
	return nil
}

// Swarm secrets and configs are created, removed and listed alike: data on stdin ("-"), so it
// is in no argv and no process listing; a removal of one that is gone already is no error.
func (c *CLI) createObject(ctx context.Context, kind, name string, labels []Label, data []byte) (string, error) {
	args := []string{kind, "create"}
	for _, l := range labels {
		args = append(args, "--label", l.String())
	}
	res, err := c.run(ctx, bashexec.Command{Args: append(args, "--", name, "-"), Stdin: data, Timeout: readTimeout})
	return strings.TrimSpace(res.Stdout), err
}

func (c *CLI) removeObject(ctx context.Context, kind, nameOrID string) error {
	if _, err := c.change(ctx, kind, "rm", "--", nameOrID); err != nil && !IsNoSuch(err) {
		return err
	}
	return nil
}

func (c *CLI) listObjects(ctx context.Context, kind string, labels []string) ([]string, error) {
	args := []string{kind, "ls", "--quiet"}
	for _, l := range labels {
		args = append(args, "--filter", "label="+l)
	}
	out, err := c.read(ctx, args...)
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

func (c *CLI) CreateSecret(ctx context.Context, s Secret) error {
	_, err := c.createObject(ctx, "secret", s.Name, s.Labels, s.Data)
	return err
}

func (c *CLI) RemoveSecret(ctx context.Context, name string) error {
	return c.removeObject(ctx, "secret", name)
}

func (c *CLI) ListSecrets(ctx context.Context, labels ...string) ([]string, error) {
	return c.listObjects(ctx, "secret", labels)
}

func (c *CLI) CreateConfig(ctx context.Context, cfg Config) (string, error) {
	return c.createObject(ctx, "config", cfg.Name, cfg.Labels, cfg.Data)
}

func (c *CLI) InspectConfig(ctx context.Context, name string) (parse.ConfigObject, error) {
	out, err := c.read(ctx, "config", "inspect", "--", name)
	if err != nil {
		if IsNoSuch(err) {
			return parse.ConfigObject{}, operation.Errorf(operation.KindNotFound, "config %q not found", name)
		}
		return parse.ConfigObject{}, fmt.Errorf("inspect config %s: %w", name, err)
	}
	cfgs, err := parse.ConfigInspect(out)
	if err != nil {
		return parse.ConfigObject{}, fmt.Errorf("inspect config %s: %w", name, err)
	}
	for _, cfg := range cfgs {
		if cfg.Name == name || cfg.ID == name {
			return cfg, nil
		}
	}
	// docker also resolves ID prefixes; a name must match exactly.
	return parse.ConfigObject{}, operation.Errorf(operation.KindNotFound, "config %q not found", name)
}

func (c *CLI) RemoveConfig(ctx context.Context, id string) error {
	return c.removeObject(ctx, "config", id)
}

func (c *CLI) ListConfigs(ctx context.Context, labels ...string) ([]string, error) {
	return c.listObjects(ctx, "config", labels)
}

func (c *CLI) Scale(ctx context.Context, s Scale) error {
	args := []string{"service", "update", "--detach"}
	if s.LabelAdd != nil {
		args = append(args, "--label-add", s.LabelAdd.String())
	}
	args = append(args, "--replicas", strconv.FormatUint(s.Replicas, 10))
	if s.LabelRm != "" {
		args = append(args, "--label-rm", s.LabelRm)
	}
	_, err := c.change(ctx, append(args, "--", s.Service)...)
	return err
}

func (c *CLI) CreateProbe(ctx context.Context, p Probe) (ProbeResult, error) {
	// replicated with 0 replicas: no task, no pull; --with-registry-auth lets the manager's
	// daemon resolve the tag with the service's login, as an update would.
	args := []string{"service", "create", "--detach", "--quiet", "--name", p.Name, "--mode", "replicated", "--replicas", "0"}
	for _, l := range p.Labels {
		args = append(args, "--label", l.String())
	}
	args = append(args, "--with-registry-auth", "--", p.Image)
	res, err := c.run(ctx, bashexec.Command{Args: args, Env: p.Env, Timeout: p.Timeout})
	return ProbeResult{ID: strings.TrimSpace(res.Stdout), Warning: strings.TrimSpace(res.Stderr), DryRun: res.DryRun}, err
}

func (c *CLI) Constrain(ctx context.Context, u Constraints) error {
	args := []string{"service", "update", "--detach"}
	for _, r := range u.Remove {
		args = append(args, "--constraint-rm", r)
	}
	for _, a := range u.Add {
		args = append(args, "--constraint-add", a)
	}
	_, err := c.change(ctx, append(args, "--", u.Service)...)
	return err
}

func (c *CLI) UpdateImage(ctx context.Context, u ImageUpdate) (UpdateResult, error) {
	args := []string{"service", "update", "--detach=false", "--quiet", "--image", u.Image, "--with-registry-auth"}
	if u.Force {
		args = append(args, "--force")
	}
	res, err := c.run(ctx, bashexec.Command{Args: append(args, "--", u.Service), Env: u.Env, Timeout: u.Timeout})
	out := UpdateResult{DryRun: res.DryRun}
	if err == nil {
		out.Warning = strings.TrimSpace(res.Stderr)
	}
	return out, err
}

func (c *CLI) Rollback(ctx context.Context, r RollbackRequest) error {
	_, err := c.run(ctx, bashexec.Command{Args: []string{"service", "rollback", "--detach=false", "--quiet", "--", r.Service}, Env: r.Env, Timeout: r.Timeout})
	return err
}

func (c *CLI) Login(ctx context.Context, env []string, user, password, registry string) error {
	_, err := c.run(ctx, bashexec.Command{Env: env, Stdin: []byte(password), Timeout: loginTimeout,
		Args: []string{"login", "-u", user, "--password-stdin", "--", registry}})
	return err
}

func (c *CLI) LocalNodeID(ctx context.Context) (string, error) {
	out, err := c.read(ctx, "info", "--format", "{{.Swarm.NodeID}}")
	return strings.TrimSpace(out), err
}

func (c *CLI) Info(ctx context.Context) (Info, error) {
	res, err := c.run(ctx, bashexec.Command{Args: []string{"info", "--format", "{{json .Swarm}}"}, Timeout: infoTimeout, ReadOnly: true})
	if err != nil {
		return Info{}, fmt.Errorf("docker info: %w", err)
	}
	var info Info
	if err := json.Unmarshal([]byte(strings.TrimSpace(res.Stdout)), &info); err != nil {
		return Info{}, fmt.Errorf("docker info: read swarm state: %w", err)
	}
	return info, nil
}

func (c *CLI) APIVersion(ctx context.Context) (string, error) {
	out, err := c.read(ctx, "version", "--format", "{{.Server.APIVersion}}")
	return strings.TrimSpace(out), err
}

func (c *CLI) RunLocal(ctx context.Context, args []string, timeout time.Duration) (bashexec.Result, error) {
	var env []string
	if c.DockerHost != "" {
		env = []string{"DOCKER_HOST=" + c.DockerHost}
	}
	// Its output is a step's, unbounded: only the tail is kept, as of a helper's logs.
	return c.Runner.Run(ctx, bashexec.Command{Args: args, Env: env, Timeout: timeout, KeepTail: bashexec.TaskOutputTail})
}
