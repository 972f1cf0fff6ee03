//go:build integration

package jobs

import (
	"context"
	"errors"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/jobs/cleannode"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/swarm"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
)

// argvRecorder keeps the argv of every command the pipelines run.
type argvRecorder struct {
	inner bashexec.Runner
	mu    sync.Mutex
	argvs [][]string
}

func (r *argvRecorder) Run(ctx context.Context, c bashexec.Command) (bashexec.Result, error) {
	r.mu.Lock()
	r.argvs = append(r.argvs, append([]string(nil), c.Args...))
	r.mu.Unlock()
	return r.inner.Run(ctx, c)
}

// TestHostileNamesNeverReachDocker calls every pipeline directly with names and images built to
// break out of argv or match the wrong target: each is invalid or not found, and no docker
// command line ever holds one of them.
func TestHostileNamesNeverReachDocker(t *testing.T) {
	tb := testbed.Get(t)
	d := testDeps(t, tb.Config())
	cli := d.Swarm.(*swarm.CLI)
	rec := &argvRecorder{inner: cli.Runner}
	cli.Runner = rec
	id := suffix()
	pwned := "/tmp/pwned-" + id
	svc := "it-hostile-" + id
	tb.Service(t, svc, "--label", "swarm-utils.update.enable=true", "--label", "swarm-utils.clean.enable=true",
		"--label", "swarm-utils.clean.exec=true", "--label", "swarm-utils.backup.enable=true",
		"--label", "swarm-utils.backup.volume-list-upload=x", tb.WorkloadImage)

	values := []string{
		"app; rm -rf /", "app && touch " + pwned, "app|touch " + pwned, "$(touch " + pwned + ")", "`touch " + pwned + "`",
		"${IFS}touch${IFS}" + pwned, `a'b"c`, "--help", "-f", "--all", "app\nx", "app\x00x", "приложение",
		strings.Repeat("a", 300) + "!", "../../etc/passwd", "app*", "label=swarm-utils.helper=true", "{{json .}}",
		svc + ";touch " + pwned, svc + " ", "-" + svc,
	}
	// Names that are valid but name nothing: docker sees them, only as the argument after "--".
	data := []string{svc + "x", svc[:len(svc)-1], strings.ToUpper(svc), "help", "all"}
	ctx := context.Background()
	for _, v := range append(values, data...) {
		results := map[string]operation.Result{
			"clean-service":       d.CleanService(ctx, v),
			"backup-service":      d.BackupService(ctx, v),
			"update-service name": d.UpdateService(ctx, UpdateOptions{Service: v, Image: tb.WorkloadImage}),
			"clean-node":          d.CleanNode(ctx, v),
		}
		if slices.Contains(values, v) { // as an image, a plain name would be deployed
			results["update-service image"] = d.UpdateService(ctx, UpdateOptions{Service: svc, Image: v})
		}
		for what, r := range results {
			if r.OK || (r.ErrorKind != operation.KindInvalid && r.ErrorKind != operation.KindNotFound) {
				t.Errorf("%s %q: ok=%v kind=%q err=%q, want invalid or not found", what, v, r.OK, r.ErrorKind, r.Error)
			}
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	seen := map[string]bool{}
	for _, argv := range rec.argvs {
		for i, arg := range argv {
			for _, v := range values {
				// A flag-like value would be a whole element; the others are unmistakable anywhere.
				if arg == v || !strings.HasPrefix(v, "-") && strings.Contains(arg, v) {
					t.Errorf("a hostile value reached a command line: %q in %q", v, argv)
				}
			}
			for _, v := range data {
				if arg == v {
					seen[v] = true
					if argv[i-1] != "--" {
						t.Errorf("name %q is not the argument after -- in %q", v, argv)
					}
				}
			}
		}
	}
	for _, v := range data {
		if !seen[v] {
			t.Errorf("name %q never reached docker: the check above saw nothing of it", v)
		}
	}
	if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (%v)", pwned, err)
		_ = os.Remove(pwned)
	}
}

// TestCleanAllNodesWithAWorkerDaemonStopped freezes worker-1's dockerd (SIGSTOP) right after
// clean-node --all starts: its helper is assigned but never runs, so worker-1 is reported
// failed (helper timeout, or the node found down), while manager and worker-2 are cleaned. The
// daemon is resumed (SIGCONT) as soon as worker-1's helper was given up, in the cleanup in any
// case, and by a detached watchdog should this test process die; the test then waits until
// worker-1 is ready again and checks that no helper is left.
func TestCleanAllNodesWithAWorkerDaemonStopped(t *testing.T) {
	tb := testbed.Get(t)
	pause, resume := testbed.PausableDockerd(t, tb, "worker-1", 240*time.Second)

	cfg := tb.Config()
	cfg.Timeouts.Pending = 3 * time.Second
	cfg.Timeouts.CleanNodeContainer = 5 * time.Second
	cfg.Timeouts.CleanNodeImage = 10 * time.Second
	cfg.Timeouts.CleanNodeBuilder = 5 * time.Second
	cfg.Timeouts.Extra = 5 * time.Second
	d := testDeps(t, cfg)
	w1 := tb.NodeID(t, "worker-1")
	helper := helper.Name(cleannode.Op, w1, "prune", w1)

	done := make(chan operation.Report, 1)
	go func() { done <- d.CleanAllNodes(context.Background()) }()
	pause()
	stopped := time.Now()
	// Resume once worker-1's helper was created and given up (removed), or the sweep ended.
	var rep operation.Report
	seen, ended := false, false
	for !ended {
		select {
		case rep = <-done:
			ended = true
			continue
		case <-time.After(200 * time.Millisecond):
		}
		_, err := tb.TryDockerOn("manager", "service", "inspect", "--format", "{{.ID}}", helper)
		switch {
		case err == nil:
			seen = true
		case seen:
			resume()
		}
		if time.Since(stopped) > 3*time.Minute {
			resume()
		}
	}
	resume()
	t.Logf("worker-1's dockerd was stopped for %s", time.Since(stopped).Round(time.Millisecond))

	byNode := map[string]operation.Result{}
	for _, r := range rep.Results {
		byNode[r.Target] = r
	}
	if w1 := byNode["worker-1"]; w1.OK || w1.Error == "" {
		t.Errorf("worker-1 with its daemon stopped: want a failure, got ok=%v err=%q\n%s", w1.OK, w1.Error, mustJSON(w1))
	} else {
		t.Logf("worker-1 failed as it should: kind %s: %s", w1.ErrorKind, w1.Error)
	}
	for _, n := range []string{"manager", "worker-2"} {
		if r := byNode[n]; !r.OK || len(pruneSteps(r)) != 3 {
			t.Errorf("%s: want cleaned (3 steps), got ok=%v kind=%q err=%q\n%s", n, r.OK, r.ErrorKind, r.Error, mustJSON(r))
		}
	}
	if rep.OK {
		t.Error("the sweep reports OK although worker-1 failed")
	}

	// Back to normal: worker-1 ready, no helper of the sweep left, nothing of it running there.
	testbed.WaitFor(t, 3*time.Minute, "worker-1 ready after SIGCONT", func() bool { return tb.NodeReady("worker-1") })
	testbed.WaitFor(t, time.Minute, "no clean-node helper of worker-1 (others' ones end by themselves)", func() bool {
		out := tb.Docker(t, "service", "ls", "-q", "--filter", "label=swarm-utils.helper.lock="+operation.LockKeyNode(w1))
		return strings.TrimSpace(out) == ""
	})
	testbed.WaitFor(t, time.Minute, "no running container of "+helper+" on worker-1", func() bool {
		out := tb.DockerOn(t, "worker-1", "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+helper)
		return strings.TrimSpace(out) == ""
	})
}
