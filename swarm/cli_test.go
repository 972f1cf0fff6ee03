package swarm

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/operation"
)

// Every Swarm method is one docker argv: the argv each builds, and the env, stdin and timeout it
// runs with. This is the only place argv strings are asserted; the jobs' tests assert typed calls.
func TestCLIArgv(t *testing.T) {
	for _, tc := range []struct {
		name     string
		call     func(c *CLI) error
		want     []string
		readOnly bool
		stdin    string
		env      []string
		timeout  time.Duration
	}{
		{"service", func(c *CLI) error { _, err := c.Service(context.Background(), "shop_db"); return err },
			[]string{"service", "inspect", "--", "shop_db"}, true, "", nil, readTimeout},
		{"inspect services", func(c *CLI) error { _, err := c.InspectServices(context.Background(), []string{"a", "b"}); return err },
			[]string{"service", "inspect", "--", "a", "b"}, true, "", nil, readTimeout},
		{"service ids", func(c *CLI) error { _, err := c.ServiceIDs(context.Background()); return err },
			[]string{"service", "ls", "--quiet"}, true, "", nil, readTimeout},
		{"list services", func(c *CLI) error {
			_, err := c.ListServices(context.Background(), "swarm-utils.helper=true", "swarm-utils.helper.lock=node:w")
			return err
		}, []string{"service", "ls", "--filter", "label=swarm-utils.helper=true", "--filter", "label=swarm-utils.helper.lock=node:w", "--format", "json"}, true, "", nil, readTimeout},
		{"nodes", func(c *CLI) error { _, err := c.Nodes(context.Background()); return err },
			[]string{"node", "ls", "-q"}, true, "", nil, readTimeout},
		{"node and self", func(c *CLI) error { _, _, err := c.NodeAndSelf(context.Background(), "worker-1"); return err },
			[]string{"node", "inspect", "--", "worker-1", "self"}, true, "", nil, readTimeout},
		{"tasks", func(c *CLI) error { _, err := c.Tasks(context.Background(), "id1", false); return err },
			[]string{"service", "ps", "--no-trunc", "--format", "json", "--", "id1"}, true, "", nil, readTimeout},
		{"running tasks", func(c *CLI) error { _, err := c.Tasks(context.Background(), "id1", true); return err },
			[]string{"service", "ps", "--no-trunc", "--filter", "desired-state=running", "--format", "json", "--", "id1"}, true, "", nil, readTimeout},
		{"tasks of several jobs", func(c *CLI) error { _, err := c.JobTasks(context.Background(), []string{"h1", "h2"}); return err },
			[]string{"service", "ps", "--no-trunc", "--format", "json", "--", "h1", "h2"}, true, "", nil, readTimeout},
		{"inspect tasks", func(c *CLI) error { _, err := c.InspectTasks(context.Background(), "t1", "t2"); return err },
			[]string{"inspect", "--type", "task", "--", "t1", "t2"}, true, "", nil, readTimeout},
		{"logs", func(c *CLI) error { _, err := c.Logs(context.Background(), "h1", 0); return err },
			[]string{"service", "logs", "--raw", "--no-trunc", "--", "h1"}, true, "", nil, logsTimeout},
		{"logs tail", func(c *CLI) error { _, err := c.Logs(context.Background(), "t1", 20); return err },
			[]string{"service", "logs", "--raw", "--no-trunc", "--tail", "20", "--", "t1"}, true, "", nil, logsTimeout},
		{"create probe", func(c *CLI) error {
			_, err := c.CreateProbe(context.Background(), Probe{Name: "swarm-utils-update-check-web-resolve",
				Labels: []Label{{Key: "swarm-utils.helper", Value: "true"}}, Image: "reg/app:2", Env: []string{"DOCKER_CONFIG=/d"}, Timeout: 7 * time.Second})
			return err
		}, []string{"service", "create", "--detach", "--quiet", "--name", "swarm-utils-update-check-web-resolve", "--mode", "replicated", "--replicas", "0",
			"--label", "swarm-utils.helper=true", "--with-registry-auth", "--", "reg/app:2"}, false, "", []string{"DOCKER_HOST=unix:///d.sock", "DOCKER_CONFIG=/d"}, 7 * time.Second},
		{"create job", func(c *CLI) error {
			_, err := c.CreateJob(context.Background(), Job{Name: "swarm-utils-x", NodeID: "n1",
				Labels:          []Label{{Key: "swarm-utils.helper", Value: "true"}, {Key: "swarm-utils.helper.step", Value: "upload"}},
				ContainerLabels: []Label{{Key: "swarm-utils.helper", Value: "true"}},
				Mounts:          []string{"type=volume,src=v,dst=/backup/v"}, Secrets: []string{"source=s1,target=k,mode=0400"},
				Env: []string{"A=1"}, Entrypoint: "backup", Image: "img:1", Args: []string{"sh", "-c", "x"}})
			return err
		}, []string{"service", "create", "--detach", "--quiet", "--name", "swarm-utils-x", "--mode", "replicated-job",
			"--restart-condition", "none", "--log-driver", "json-file", "--constraint", "node.id==n1",
			"--label", "swarm-utils.helper=true", "--label", "swarm-utils.helper.step=upload", "--container-label", "swarm-utils.helper=true",
			"--no-resolve-image", "--with-registry-auth", "--mount", "type=volume,src=v,dst=/backup/v",
			"--secret", "source=s1,target=k,mode=0400", "--env", "A=1",
			"--entrypoint", "backup", "img:1", "sh", "-c", "x"}, false, "", nil, readTimeout},
		{"create job as a user", func(c *CLI) error {
			_, err := c.CreateJob(context.Background(), Job{Name: "swarm-utils-y", NodeID: "n1", Entrypoint: "swarm-utils", User: "0:0", Image: "img:1", Args: []string{"restore-volumes"}})
			return err
		}, []string{"service", "create", "--detach", "--quiet", "--name", "swarm-utils-y", "--mode", "replicated-job",
			"--restart-condition", "none", "--log-driver", "json-file", "--constraint", "node.id==n1",
			"--no-resolve-image", "--with-registry-auth", "--entrypoint", "swarm-utils", "--user", "0:0", "img:1", "restore-volumes"}, false, "", nil, readTimeout},
		{"create secret", func(c *CLI) error {
			return c.CreateSecret(context.Background(), Secret{Name: "s1", Labels: []Label{{Key: "swarm-utils.secret", Value: "true"}}, Data: []byte("key\n")})
		}, []string{"secret", "create", "--label", "swarm-utils.secret=true", "--", "s1", "-"}, false, "key\n", nil, readTimeout},
		{"create config", func(c *CLI) error {
			_, err := c.CreateConfig(context.Background(), Config{Name: "l1", Labels: []Label{{Key: "swarm-utils.lock", Value: "service:a"}}, Data: []byte("x")})
			return err
		}, []string{"config", "create", "--label", "swarm-utils.lock=service:a", "--", "l1", "-"}, false, "x", nil, readTimeout},
		{"inspect config", func(c *CLI) error { _, err := c.InspectConfig(context.Background(), "l1"); return err },
			[]string{"config", "inspect", "--", "l1"}, true, "", nil, readTimeout},
		{"remove config", func(c *CLI) error { return c.RemoveConfig(context.Background(), "id1") },
			[]string{"config", "rm", "--", "id1"}, false, "", nil, readTimeout},
		{"list configs", func(c *CLI) error {
			_, err := c.ListConfigs(context.Background(), "swarm-utils.lock.claim=c1")
			return err
		},
			[]string{"config", "ls", "--quiet", "--filter", "label=swarm-utils.lock.claim=c1"}, true, "", nil, readTimeout},
		{"remove secret", func(c *CLI) error { return c.RemoveSecret(context.Background(), "s1") },
			[]string{"secret", "rm", "--", "s1"}, false, "", nil, readTimeout},
		{"list secrets", func(c *CLI) error {
			_, err := c.ListSecrets(context.Background(), "swarm-utils.secret=true")
			return err
		},
			[]string{"secret", "ls", "--quiet", "--filter", "label=swarm-utils.secret=true"}, true, "", nil, readTimeout},
		{"remove", func(c *CLI) error { return c.Remove(context.Background(), "h1") },
			[]string{"service", "rm", "h1"}, false, "", nil, readTimeout},
		{"stop", func(c *CLI) error {
			return c.Scale(context.Background(), Scale{Service: "db", Replicas: 0, LabelAdd: &Label{Key: "r", Value: "2"}})
		}, []string{"service", "update", "--detach", "--label-add", "r=2", "--replicas", "0", "--", "db"}, false, "", nil, readTimeout},
		{"start", func(c *CLI) error {
			return c.Scale(context.Background(), Scale{Service: "db", Replicas: 2, LabelRm: "r"})
		},
			[]string{"service", "update", "--detach", "--replicas", "2", "--label-rm", "r", "--", "db"}, false, "", nil, readTimeout},
		{"constrain", func(c *CLI) error {
			return c.Constrain(context.Background(), Constraints{Service: "db", Remove: []string{"node.hostname == worker-1"}, Add: []string{"node.hostname==worker-2"}})
		},
			[]string{"service", "update", "--detach", "--constraint-rm", "node.hostname == worker-1", "--constraint-add", "node.hostname==worker-2", "--", "db"}, false, "", nil, readTimeout},
		{"update image", func(c *CLI) error {
			_, err := c.UpdateImage(context.Background(), ImageUpdate{Service: "web", Image: "reg/app:2", Force: true, Env: []string{"DOCKER_CONFIG=/d"}, Timeout: 42 * time.Second})
			return err
		}, []string{"service", "update", "--detach=false", "--quiet", "--image", "reg/app:2", "--with-registry-auth", "--force", "--", "web"},
			false, "", []string{"DOCKER_HOST=unix:///d.sock", "DOCKER_CONFIG=/d"}, 42 * time.Second},
		{"rollback", func(c *CLI) error {
			return c.Rollback(context.Background(), RollbackRequest{Service: "web", Env: []string{"DOCKER_CONFIG=/d"}, Timeout: 42 * time.Second})
		}, []string{"service", "rollback", "--detach=false", "--quiet", "--", "web"},
			false, "", []string{"DOCKER_HOST=unix:///d.sock", "DOCKER_CONFIG=/d"}, 42 * time.Second},
		{"login", func(c *CLI) error {
			return c.Login(context.Background(), []string{"DOCKER_CONFIG=/d"}, "ci", "pw", "reg:5000")
		},
			[]string{"login", "-u", "ci", "--password-stdin", "--", "reg:5000"}, false, "pw", []string{"DOCKER_HOST=unix:///d.sock", "DOCKER_CONFIG=/d"}, loginTimeout},
		{"local node", func(c *CLI) error { _, err := c.LocalNodeID(context.Background()); return err },
			[]string{"info", "--format", "{{.Swarm.NodeID}}"}, true, "", nil, readTimeout},
		{"api version", func(c *CLI) error { _, err := c.APIVersion(context.Background()); return err },
			[]string{"version", "--format", "{{.Server.APIVersion}}"}, true, "", nil, readTimeout},
		{"node", func(c *CLI) error { _, err := c.Node(context.Background(), "n1"); return err },
			[]string{"node", "inspect", "--", "n1"}, true, "", nil, readTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &bashexec.Fake{}
			c := &CLI{Runner: fake, DockerHost: "unix:///d.sock"}
			_ = tc.call(c) // the fake's empty output may not parse; the argv is what counts
			if len(fake.Calls) == 0 {
				t.Fatal("no command run")
			}
			got := fake.Calls[0]
			if want := append([]string{"docker"}, tc.want...); !slices.Equal(got.Args, want) {
				t.Errorf("argv\n got %q\nwant %q", got.Args, want)
			}
			env := tc.env
			if env == nil {
				env = []string{"DOCKER_HOST=unix:///d.sock"}
			}
			if got.ReadOnly != tc.readOnly || string(got.Stdin) != tc.stdin || !slices.Equal(got.Env, env) || got.Timeout != tc.timeout {
				t.Errorf("readOnly=%v stdin=%q env=%q timeout=%s, want %v %q %q %s", got.ReadOnly, got.Stdin, got.Env, got.Timeout, tc.readOnly, tc.stdin, env, tc.timeout)
			}
		})
	}
}

func TestCLIServiceNames(t *testing.T) {
	noSuch := &bashexec.Fake{Handler: func(bashexec.Command) (bashexec.Result, error) {
		return bashexec.Result{ExitCode: 1}, errors.New("exit status 1: Error: No such service: x")
	}}
	prefix := &bashexec.Fake{Handler: func(bashexec.Command) (bashexec.Result, error) {
		// docker resolves an ID prefix: the service it prints is another one
		return bashexec.Result{Stdout: `[{"ID":"abc","Version":{"Index":1},"Spec":{"Name":"abcdef","Labels":{},"Mode":{"Replicated":{"Replicas":1}},"TaskTemplate":{"ContainerSpec":{"Image":"x"}}}}]`}, nil
	}}
	for _, tc := range []struct {
		runner bashexec.Runner
		name   string
		kind   operation.Kind
	}{
		{noSuch, "x", operation.KindNotFound},
		{prefix, "abc", operation.KindNotFound},
		{noSuch, "-f", operation.KindInvalid},
		{noSuch, "a b", operation.KindInvalid},
		{noSuch, "", operation.KindInvalid},
	} {
		c := &CLI{Runner: tc.runner}
		if _, err := c.Service(context.Background(), tc.name); operation.KindOf(err) != tc.kind {
			t.Errorf("Service(%q): %v, want %s", tc.name, err, tc.kind)
		}
	}
	if n := len(noSuch.Calls); n != 1 {
		t.Errorf("invalid names reached docker: %d calls, want 1 (for x)", n)
	}
}

// Task and step output is unbounded: Logs and RunLocal keep only its tail, whatever tail lines
// were asked for.
func TestCLIKeepsTheTailOfTaskOutput(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(c *CLI) error
	}{
		{"logs", func(c *CLI) error { _, err := c.Logs(context.Background(), "h1", 0); return err }},
		{"logs tail", func(c *CLI) error { _, err := c.Logs(context.Background(), "h1", 500); return err }},
		{"run local", func(c *CLI) error {
			_, err := c.RunLocal(context.Background(), []string{"sh", "-c", "x"}, time.Second)
			return err
		}},
	} {
		fake := &bashexec.Fake{}
		_ = tc.call(&CLI{Runner: fake})
		if len(fake.Calls) != 1 || fake.Calls[0].KeepTail != bashexec.TaskOutputTail {
			t.Errorf("%s: commands %+v, want one with KeepTail %d", tc.name, fake.Calls, bashexec.TaskOutputTail)
		}
	}
}
