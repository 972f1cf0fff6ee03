package volumes

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

func testConfig() config.Config {
	return config.Config{DockerCLIImage: "docker:cli", Timeouts: config.Timeouts{Pending: time.Second, Lock: time.Second, Extra: time.Second}}
}

// rows is what `docker system df -v --format VolumeUsageFormat` prints for these volumes.
func rows(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

func TestList(t *testing.T) {
	byNode := map[string]swarmtest.JobRun{
		"m1": {State: "complete", Logs: rows(`{"Name":"db","Driver":"local","Links":"1","Size":"1.5GB"}`, `{"Name":"old","Driver":"local","Links":"0","Size":"20kB"}`)},
		"w1": {State: "complete", Logs: rows(`{"Name":"cache","Driver":"local","Links":"0","Size":"0B"}`, `{"Name":"odd","Driver":"local","Links":"N/A","Size":"N/A"}`)},
		"w2": {State: "failed", Exit: 1, Logs: "Cannot connect to the Docker daemon\n"},
		"w3": {State: "complete", Logs: "[… 70 kB cut …]\n" + `me":"x","Links":"0"}` + "\n" + rows(`{"Name":"last","Driver":"local","Links":"0","Size":"1B"}`)},
	}
	for _, tc := range []struct {
		name       string
		unusedOnly bool
		want       map[string][]string // node → volume names listed
	}{
		{"all", false, map[string][]string{"manager": {"db", "old"}, "worker-1": {"cache", "odd"}, "worker-3": {"last"}}},
		{"unused only: in use or unknown left out", true, map[string][]string{"manager": {"old"}, "worker-1": {"cache"}, "worker-3": {"last"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := swarmtest.New(swarmtest.Node("m1", "manager"), swarmtest.Node("w1", "worker-1"), swarmtest.Node("w2", "worker-2"),
				swarmtest.Node("w3", "worker-3"), swarmtest.Node("w4", "worker-4"), parse.Node{ID: "w5", Hostname: "worker-5", Role: "worker", Availability: "drain"})
			f.Local = "m1"
			f.SetNodeState("w4", "down")
			var mu sync.Mutex
			running, most := 0, 0
			f.OnJob = func(j swarm.Job) swarmtest.JobRun {
				mu.Lock()
				running++
				most = max(most, running)
				mu.Unlock()
				time.Sleep(50 * time.Millisecond) // long enough for the others to start, if they run at once
				defer func() { mu.Lock(); running--; mu.Unlock() }()
				if !slices.Equal(j.Args, []string{"docker", "system", "df", "-v", "--format", parse.VolumeUsageFormat}) {
					t.Errorf("listing argv %q", j.Args)
				}
				if j.NodeID == "w5" {
					t.Errorf("a helper on the drained node")
				}
				return byNode[j.NodeID]
			}
			w := swarmtest.Wire(f, testConfig())
			j := &Job{Swarm: f, Helpers: w.Helpers, Ops: w.Ops, Config: testConfig()}
			l := j.List(context.Background(), tc.unusedOnly)

			if l.OK || l.UnusedOnly != tc.unusedOnly || len(l.Nodes) != 6 {
				t.Fatalf("listing ok=%v unusedOnly=%v with %d nodes, want not ok (worker-2 failed) and 6 nodes", l.OK, l.UnusedOnly, len(l.Nodes))
			}
			got := map[string][]string{}
			for _, n := range l.Nodes {
				if !n.OK {
					continue
				}
				for _, v := range n.Volumes {
					got[n.Node] = append(got[n.Node], v.Name)
				}
			}
			for node, want := range tc.want {
				if !slices.Equal(got[node], want) {
					t.Errorf("%s: volumes %v, want %v", node, got[node], want)
				}
			}
			nodes := map[string]Node{}
			for _, n := range l.Nodes {
				nodes[n.Node] = n
			}
			if n := nodes["worker-2"]; n.OK || !strings.Contains(n.Error, "Cannot connect to the Docker daemon") {
				t.Errorf("worker-2 failed without docker's reason: %+v", n)
			}
			if n := nodes["worker-4"]; n.OK || !strings.Contains(n.Error, "not ready") {
				t.Errorf("worker-4 (down): %+v", n)
			}
			if n := nodes["worker-5"]; n.OK || !strings.Contains(n.Error, "drain") {
				t.Errorf("worker-5 (drained): %+v", n)
			}
			if n := nodes["worker-3"]; !n.Cut || n.Total != 1 {
				t.Errorf("worker-3's cut listing: cut=%v total=%d", n.Cut, n.Total)
			}
			if m := nodes["manager"]; m.Total != 2 || (!tc.unusedOnly && (!m.Volumes[0].InUse || m.Volumes[0].Containers != 1 || m.Volumes[0].SizeBytes != 1_500_000_000)) {
				t.Errorf("manager: %+v", m)
			}
			if most < 3 {
				t.Errorf("at most %d listings ran at once, want the nodes in parallel", most)
			}
			// The manager's listing runs directly; the others in one helper each, all removed.
			if n := len(f.Calls("run-local")); n != 1 {
				t.Errorf("%d direct runs, want 1 (the manager)", n)
			}
			if n := len(f.Calls("create-job")); n != 3 {
				t.Errorf("%d helpers, want 3 (worker-1, -2, -3)", n)
			}
			if h := f.Helpers(); len(h) != 0 {
				t.Errorf("helpers left: %v", h)
			}
			if txt := l.Text(); !strings.Contains(txt, "worker-2: FAILED") || !strings.Contains(txt, "manager:") {
				t.Errorf("text:\n%s", txt)
			}
		})
	}
}
