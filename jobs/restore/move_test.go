package restore

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

func TestMoveService(t *testing.T) {
	pinned := []string{"node.role==worker", "node.hostname == worker-1"}
	const uploaded = "level=INFO msg=\"Uploaded a copy of backup `/tmp/shop_db_worker-1_2026-12-01T23-00-00.tar.gz` to bucket `backups`.\"\n"
	const key = "shop_db/shop_db_worker-1_2026-12-01T23-00-00.tar.gz"
	moved := []string{"scale 0", "job upload@worker-1", "job restore@worker-2",
		`constrain -["node.hostname == worker-1"] +["node.hostname==worker-2"]`, "scale 1"}
	for _, tc := range []struct {
		name    string
		setup   func(c *rcluster)
		node    string
		kind    operation.Kind
		errText string
		changes []string
		// where the task runs afterwards and the constraints then
		runsOn      string
		constraints []string
	}{
		{name: "worker-1 to worker-2", node: "worker-2", changes: moved,
			runsOn: "worker-2", constraints: []string{"node.role==worker", "node.hostname==worker-2"}},
		{name: "by node ID", node: "n2", changes: moved,
			runsOn: "worker-2", constraints: []string{"node.role==worker", "node.hostname==worker-2"}},
		{name: "a failed restore starts it again where it was", node: "worker-2",
			setup: func(c *rcluster) {
				c.restore = func(string, swarm.Job) swarmtest.JobRun {
					return swarmtest.JobRun{State: "failed", Exit: 1, Logs: "restore: extract archive: disk full\n"}
				}
			},
			kind: operation.KindDocker, errText: "it was started again on worker-1 with its placement unchanged",
			changes: []string{"scale 0", "job upload@worker-1", "job restore@worker-2", "scale 1"},
			runsOn:  "worker-1", constraints: pinned},
		{name: "a failed backup restores nothing and starts it again", node: "worker-2",
			setup: func(c *rcluster) {
				c.upload = func(string) swarmtest.JobRun {
					return swarmtest.JobRun{State: "failed", Exit: 1, Logs: "level=ERROR msg=\"upload refused\"\n"}
				}
			},
			kind: operation.KindDocker, errText: "started again on worker-1",
			changes: []string{"scale 0", "job upload@worker-1", "scale 1"},
			runsOn:  "worker-1", constraints: pinned},
		{name: "no task on the new node: unpinned and started again", node: "worker-2",
			setup: func(c *rcluster) { c.unplaceable = "no suitable node (insufficient resources on 1 node)" },
			kind:  operation.KindDocker, errText: "it was started again on worker-1 with its placement unchanged",
			changes: append(slices.Clone(moved), `constrain -["node.hostname==worker-2"] +["node.hostname == worker-1"]`, "scale 1"),
			runsOn:  "worker-1", constraints: pinned},
		{name: "two replicas are refused", node: "worker-2", setup: func(c *rcluster) { c.replicas = 2 },
			kind: operation.KindImpossible, errText: "2 replicas", runsOn: "worker-1,worker-1", constraints: pinned},
		{name: "no volumes are refused", node: "worker-2", setup: func(c *rcluster) { c.noMounts = true },
			kind: operation.KindImpossible, errText: "mounts no named volume", runsOn: "worker-1", constraints: pinned},
		{name: "an unknown node", node: "worker-9",
			kind: operation.KindNotFound, errText: `node "worker-9" is not in the swarm`, runsOn: "worker-1", constraints: pinned},
		{name: "already there", node: "worker-1",
			kind: operation.KindImpossible, errText: "already runs on worker-1", runsOn: "worker-1", constraints: pinned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newRCluster()
			c.replicas, c.constraints = 1, pinned
			c.upload = func(string) swarmtest.JobRun { return swarmtest.JobRun{State: "complete", Logs: uploaded} }
			if tc.setup != nil {
				tc.setup(c)
			}
			j := c.job()
			if c.unplaceable != "" {
				c.f.Unplaceable = map[string]string{"worker-2": c.unplaceable}
			}
			r := j.Move(context.Background(), MoveOptions{Service: svcName, Node: tc.node})
			js, _ := json.MarshalIndent(r, "", "  ")
			if tc.kind == "" && !r.OK {
				t.Fatalf("move failed: %s", js)
			}
			if tc.kind != "" && (r.OK || r.ErrorKind != tc.kind || !strings.Contains(r.Error, tc.errText)) {
				t.Fatalf("want %s failure with %q, got %s", tc.kind, tc.errText, js)
			}
			if got := changes(c); !slices.Equal(got, tc.changes) {
				t.Errorf("changes\n got %q\nwant %q", got, tc.changes)
			}
			svc, _ := c.f.Get(svcName)
			if !slices.Equal(svc.Constraints, tc.constraints) {
				t.Errorf("constraints %q, want %q", svc.Constraints, tc.constraints)
			}
			rows, _ := c.f.Tasks(context.Background(), svcName, true)
			var on []string
			for _, row := range rows {
				if swarm.TaskState(row) == "running" {
					on = append(on, row.Node)
				}
			}
			if slices.Sort(on); strings.Join(on, ",") != tc.runsOn {
				t.Errorf("runs on %q, want %s", on, tc.runsOn)
			}
			if svc.Labels[backup.LabelRestoreReplicas] != "" {
				t.Errorf("restore label left on the service")
			}
			if left := c.f.Helpers(); len(left) != 0 {
				t.Errorf("helpers left: %d", len(left))
			}
			if left := c.f.Secrets(); len(left) != 0 {
				t.Errorf("secrets left: %v", left)
			}
			for _, call := range c.f.Calls("create-job") {
				if swarmtest.Step(*call.Job) == "restore" && argValue(call.Job.Args, "--key") != key {
					t.Errorf("restored %s on worker-2, want the move's archive %s", argValue(call.Job.Args, "--key"), key)
				}
			}
		})
	}
}
