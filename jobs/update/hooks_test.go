package update

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

// execHelpers answers exec helpers: the command exits 1 in every container of a helper whose
// step is failing, else 0; it records the containers each step ran in.
func execHelpers(failing string, ran map[string][]string) func(j swarm.Job) swarmtest.JobRun {
	return func(j swarm.Job) swarmtest.JobRun {
		marker, rest, ok := swarmtest.Script(j.Args)
		if !ok {
			return swarmtest.JobRun{State: "complete"}
		}
		step := swarmtest.Step(j)
		exit := 0
		if step == failing {
			exit = 1
		}
		var b strings.Builder
		for _, c := range rest[3:] {
			ran[step] = append(ran[step], c)
			fmt.Fprintf(&b, "%s begin %s\nran %s\n%s end %s %d\n", marker, c, rest[2], marker, c, exit)
		}
		return swarmtest.JobRun{State: "complete", Logs: b.String() + marker + " done\n"}
	}
}

// changesOf is the typed changes, a helper shown with its step.
func changesOf(f *swarmtest.Fake) []string {
	var out []string
	for _, c := range f.Changes() {
		if c.Verb == "create-job" {
			out = append(out, "create-job:"+swarmtest.Step(*c.Job))
			continue
		}
		if c.Verb == "remove" {
			continue // each helper's removal, checked by the helper engine's tests
		}
		out = append(out, c.Verb)
	}
	return out
}

func containersOf(t *testing.T, f *swarmtest.Fake) []string {
	t.Helper()
	svc, _ := f.Get(svcName)
	tasks, err := swarm.RunningTasks(context.Background(), f, svc)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, task := range tasks {
		out = append(out, task.ContainerID)
	}
	slices.Sort(out)
	return out
}

func TestUpdateExecAndRollback(t *testing.T) {
	paused := &parse.UpdateStatus{State: "paused", Message: "update paused due to failure or early termination of task " + failedID}
	cliPaused := &bashexec.ExitError{Line: "docker service update ...", ExitCode: 1, Stderr: "service update paused: " + paused.Message}
	pre := map[string]string{parse.LabelUpdateExecPre: "touch /tmp/pre", parse.LabelUpdateExecPreShell: "/bin/ash", parse.LabelUpdateExecPreTimeout: "3000"}
	post := map[string]string{parse.LabelUpdateExecPost: "touch /tmp/post"}
	with := func(ms ...map[string]string) map[string]string {
		out := map[string]string{parse.LabelUpdateEnable: "true"}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		labels     map[string]string
		cfg        func(*config.Config)
		image      string // requested; "" = newImage
		crash      bool   // the rollout pauses on a crashing task
		ownRB      bool   // the service's own update_config rolls back
		rbFails    bool   // docker service rollback fails
		failing    string // the exec step whose command fails
		want       []string
		wantOK     bool
		wantChange string
		wantImage  string // the service's image at the end
		wantInErr  []string
		wantPreIn  string // "old": exec-pre ran in the old tasks
		wantPostIn string // "new": exec-post ran in the new tasks
	}{
		{name: "exec-pre and exec-post", labels: with(pre, post), want: []string{"create-job:exec-pre", "update-image", "create-job:exec-post"},
			wantOK: true, wantChange: ChangeUpdated, wantImage: newImage, wantPreIn: "old", wantPostIn: "new"},
		{name: "a failing exec-pre aborts the update", labels: with(pre, post), failing: "exec-pre", want: []string{"create-job:exec-pre"},
			wantChange: ChangeUnchanged, wantImage: oldImage, wantInErr: []string{"exec-pre failed on 1 node(s), the update was not started", "exec-pre.on-failure=continue"}, wantPreIn: "old"},
		{name: "a failing exec-pre with on-failure=continue", labels: with(pre, post, map[string]string{parse.LabelUpdateExecPreOnFailure: "continue"}),
			failing: "exec-pre", want: []string{"create-job:exec-pre", "update-image", "create-job:exec-post"},
			wantOK: true, wantChange: ChangeUpdated, wantImage: newImage, wantPreIn: "old", wantPostIn: "new"},
		{name: "a failing exec-post fails the call, the new image stays", labels: with(post), failing: "exec-post",
			want: []string{"update-image", "create-job:exec-post"}, wantChange: ChangeUpdated, wantImage: newImage,
			wantInErr: []string{"exec-post failed on 1 node(s); the service stays on " + newImage}, wantPostIn: "new"},
		{name: "a failing exec-post with on-failure=continue", labels: with(post, map[string]string{parse.LabelUpdateExecPostOnFail: "continue"}),
			failing: "exec-post", want: []string{"update-image", "create-job:exec-post"}, wantOK: true, wantChange: ChangeUpdated, wantImage: newImage, wantPostIn: "new"},
		{name: "same image: unchanged, no exec-post", labels: with(post), image: oldImage, want: []string{"update-image"},
			wantOK: true, wantChange: ChangeUnchanged, wantImage: oldImage},
		{name: "paused, no rollback", labels: with(post), crash: true, want: []string{"update-image"},
			wantChange: ChangePaused, wantImage: crashImage, wantInErr: []string{"failed and is paused", "task: non-zero exit (3)"}},
		{name: "paused, rollback by label", labels: with(post, map[string]string{parse.LabelUpdateRollback: "true"}), crash: true,
			want: []string{"update-image", "rollback"}, wantChange: ChangeRolledBack, wantImage: oldImage,
			wantInErr: []string{"was rolled back to " + oldImage, "task: non-zero exit (3)"}},
		{name: "paused, rollback by configuration", labels: with(), cfg: func(c *config.Config) { c.UpdateRollbackOnFailure = true }, crash: true,
			want: []string{"update-image", "rollback"}, wantChange: ChangeRolledBack, wantImage: oldImage, wantInErr: []string{"rolled back"}},
		{name: "the label turns the configured rollback off", labels: with(map[string]string{parse.LabelUpdateRollback: "false"}),
			cfg: func(c *config.Config) { c.UpdateRollbackOnFailure = true }, crash: true,
			want: []string{"update-image"}, wantChange: ChangePaused, wantImage: crashImage},
		{name: "the rollback fails", labels: with(map[string]string{parse.LabelUpdateRollback: "true"}), crash: true, rbFails: true,
			want: []string{"update-image", "rollback"}, wantChange: ChangePaused, wantImage: crashImage, wantInErr: []string{"roll shop_web back", "does not have a previous spec"}},
		{name: "the service's own rollback", labels: with(map[string]string{parse.LabelUpdateRollback: "true"}), ownRB: true,
			want: []string{"update-image"}, wantChange: ChangeRolledBack, wantImage: oldImage, wantInErr: []string{"failed and was rolled back"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, tc.labels, "json-file")
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			switch {
			case tc.crash:
				c.after(crashImage, paused, cliPaused, false)
			case tc.ownRB:
				c.after(oldImage, &parse.UpdateStatus{State: "rollback_completed", Message: "rollback completed"}, nil, false)
			}
			if tc.rbFails {
				c.f.OnRollback = func(*parse.Service, swarm.RollbackRequest) error {
					return &bashexec.ExitError{ExitCode: 1, Stderr: "service shop_web does not have a previous spec"}
				}
			}
			ran := map[string][]string{}
			c.f.OnJob = execHelpers(tc.failing, ran)
			old := containersOf(t, c.f)
			image := tc.image
			if image == "" {
				image = newImage
			}
			r := c.job(cfg).Run(context.Background(), Options{Service: svcName, Image: image})
			if got := changesOf(c.f); !slices.Equal(got, tc.want) {
				t.Errorf("changes %q, want %q", got, tc.want)
			}
			if r.OK != tc.wantOK {
				t.Fatalf("ok=%v err=%s, want ok=%v", r.OK, r.Error, tc.wantOK)
			}
			for _, w := range tc.wantInErr {
				if !strings.Contains(r.Error, w) {
					t.Errorf("error does not say %q: %s", w, r.Error)
				}
			}
			var upd *struct{ details map[string]string }
			for _, s := range r.Steps {
				if s.Name == "update" {
					upd = &struct{ details map[string]string }{s.Details}
				}
			}
			switch {
			case tc.wantChange == "" && upd != nil:
				t.Errorf("an update step %v, want none", upd.details)
			case tc.wantChange != "" && upd == nil:
				t.Fatalf("no update step in %+v", r.Steps)
			case upd != nil:
				if upd.details["change"] != tc.wantChange {
					t.Errorf("change %q, want %q (details %v)", upd.details["change"], tc.wantChange, upd.details)
				}
				if (upd.details["rolledBack"] == "true") != (tc.wantChange == ChangeRolledBack) {
					t.Errorf("rolledBack %q with change %s", upd.details["rolledBack"], tc.wantChange)
				}
				if upd.details["previousDigest"] != imageDigest(oldImage) {
					t.Errorf("previousDigest %q", upd.details["previousDigest"])
				}
			}
			if svc, _ := c.f.Get(svcName); svc.Image != tc.wantImage {
				t.Errorf("service image %s, want %s", svc.Image, tc.wantImage)
			}
			now := containersOf(t, c.f)
			for step, in := range map[string]string{"exec-pre": tc.wantPreIn, "exec-post": tc.wantPostIn} {
				got := slices.Sorted(slices.Values(ran[step]))
				switch in {
				case "":
					if len(got) != 0 {
						t.Errorf("%s ran in %q", step, got)
					}
				case "old":
					if !slices.Equal(got, old) {
						t.Errorf("%s ran in %q, want the old tasks %q", step, got, old)
					}
				case "new":
					if !slices.Equal(got, now) || slices.Equal(now, old) {
						t.Errorf("%s ran in %q, want the new tasks %q (old %q)", step, got, now, old)
					}
				}
			}
			for _, s := range r.Steps {
				if strings.HasPrefix(s.Name, "exec-") && s.Node != "" && len(s.Tasks) == 0 {
					t.Errorf("exec step %+v has no per-task results", s)
				}
				if s.Name == tc.failing && s.Error == "" {
					t.Errorf("failed %s step shows no error: %+v", s.Name, s)
				}
			}
			assertNoSecret(t, c.f, r, password)
		})
	}
}
