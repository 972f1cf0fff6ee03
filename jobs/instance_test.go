package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

// An instance sees only its own services and nodes (label swarm-utils.instance, none =
// default): lookups of others are not found, listings and the cron's list leave them out, and
// no job or repair touches them.
func TestInstanceSeesOnlyItsOwnTargets(t *testing.T) {
	for _, tc := range []struct {
		instance     string
		wantServices []string
		wantNodes    []string
	}{
		{"team-a", []string{"a_web"}, []string{"n1"}},
		{"default", []string{"plain"}, []string{"n2"}},
	} {
		t.Run(tc.instance, func(t *testing.T) {
			n1, n2, n3 := swarmtest.Node("n1", "host-a"), swarmtest.Node("n2", "host-plain"), swarmtest.Node("n3", "host-b")
			n1.Labels = map[string]string{parse.LabelInstance: "team-a"}
			n3.Labels = map[string]string{parse.LabelInstance: "team-b"}
			f := swarmtest.New(n1, n2, n3)
			clean := func(instance string) map[string]string {
				l := map[string]string{parse.LabelCleanEnable: "true", parse.LabelCleanExec: "true", parse.LabelBackupEnable: "true"}
				if instance != "" {
					l[parse.LabelInstance] = instance
				}
				return l
			}
			f.AddService(parse.Service{Name: "a_web", Image: "web:1", Replicas: 1, Labels: clean("team-a")}, "host-a")
			f.AddService(parse.Service{Name: "b_web", Image: "web:1", Replicas: 1, Labels: clean("team-b")}, "host-b")
			f.AddService(parse.Service{Name: "plain", Image: "web:1", Replicas: 1, Labels: clean("")}, "host-plain")
			// Left at 0 by another instance's backup that still runs: not this one's to start.
			stopped := clean("team-b")
			stopped[backup.LabelRestoreReplicas] = "1"
			f.AddService(parse.Service{Name: "b_db", Image: "db:1", Replicas: 0, Labels: stopped}, "host-b")

			cfg := config.Config{Instance: tc.instance, CleanExecShell: "/bin/sh", BackupExecShell: "/bin/sh", Timeouts: config.Timeouts{CleanServiceExec: time.Second, BackupStart: time.Second,
				Lock: 50 * time.Millisecond, Extra: time.Second, Pending: time.Second}}
			d := jobs.NewDeps(cfg, &bashexec.Fake{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			d.Swarm, d.PollInterval = f, time.Millisecond
			ctx := context.Background()

			names, err := d.EnabledServices(ctx, parse.LabelCleanEnable)
			if err != nil || !slices.Equal(names, tc.wantServices) {
				t.Errorf("EnabledServices = %v, %v; want %v", names, err, tc.wantServices)
			}
			svcs, _ := d.Services(ctx)
			var listed []string
			for _, s := range svcs {
				listed = append(listed, s.Name)
			}
			if !slices.Equal(listed, tc.wantServices) {
				t.Errorf("Services = %v, want %v", listed, tc.wantServices)
			}
			nodes, _ := d.Nodes(ctx)
			var ids []string
			for _, n := range nodes {
				ids = append(ids, n.ID)
			}
			if !slices.Equal(ids, tc.wantNodes) {
				t.Errorf("Nodes = %v, want %v", ids, tc.wantNodes)
			}
			if _, err := d.Service(ctx, "b_web"); operation.KindOf(err) != operation.KindNotFound {
				t.Errorf("another instance's service: %v, want not found", err)
			}
			if r := d.CleanService(ctx, "b_web"); r.ErrorKind != operation.KindNotFound {
				t.Errorf("clean-service of another instance's service: %+v, want not found", r)
			}
			if r := d.CleanNode(ctx, "host-b"); r.ErrorKind != operation.KindNotFound {
				t.Errorf("clean-node of another instance's node: %+v, want not found", r)
			}
			if r := d.RestoreService(ctx, jobs.RestoreOptions{Service: "b_web"}); r.ErrorKind != operation.KindNotFound {
				t.Errorf("restore-service of another instance's service: %+v, want not found", r)
			}
			if r := d.MoveService(ctx, jobs.MoveOptions{Service: "b_web", Node: "host-a"}); r.ErrorKind != operation.KindNotFound {
				t.Errorf("move-service of another instance's service: %+v, want not found", r)
			}
			if _, err := d.BackupListing(ctx, "b_web"); operation.KindOf(err) != operation.KindNotFound {
				t.Errorf("the catalogue of another instance's service: %v, want not found", err)
			}
			// Its own service is worked on (the fake's helper prints no markers: the step's
			// outcome is not the point here).
			if r := d.CleanService(ctx, tc.wantServices[0]); len(r.Steps) == 0 || r.Steps[0].Name != "exec" {
				t.Errorf("clean-service of its own service did not run its step: %+v", r)
			}
			if rep := d.RecoverStoppedServices(ctx); len(rep.Results) != 0 {
				t.Errorf("recover touched another instance's stopped service: %+v", rep.Results)
			}
			for _, c := range f.Changes() {
				if c.Target == "b_web" || c.Target == "b_db" || (c.Job != nil && c.Job.NodeID == "n3") {
					t.Errorf("changed another instance's target: %+v", c)
				}
			}
			if s, _ := f.Get("b_db"); s.Replicas != 0 {
				t.Error("another instance's stopped service was started")
			}
		})
	}
}
