//go:build integration

package jobs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/jobs/volumes"
)

// A volume a container uses and one nothing uses, both on worker-1: the listing (a helper on
// worker-1, beside the manager's direct listing and worker-2's helper) tells them apart, with
// the used one's size; --unused keeps only the other; no helper is left.
func TestVolumesListsUsedAndUnusedOnWorker1(t *testing.T) {
	tb := testbed.Get(t)
	d := testDeps(t, tb.Config())
	r := suffix()
	used, unused, ctr := "it-vol-"+r+"-used", "it-vol-"+r+"-unused", "it-vol-"+r
	tb.DockerOn(t, "worker-1", "volume", "create", unused)
	tb.DockerOn(t, "worker-1", "run", "-d", "--name", ctr, "-v", used+":/data", tb.HelperImage,
		"sh", "-c", "head -c 50000 /dev/zero > /data/blob && sleep 600")
	t.Cleanup(func() {
		_, _ = tb.TryDockerOn("worker-1", "rm", "-f", ctr)
		_, _ = tb.TryDockerOn("worker-1", "volume", "rm", "-f", used, unused)
	})
	testbed.WaitFor(t, 30*time.Second, "the blob in "+used, func() bool {
		out, _ := tb.TryDockerOn("worker-1", "exec", ctr, "stat", "-c", "%s", "/data/blob")
		return strings.TrimSpace(out) == "50000"
	})

	find := func(l volumes.Listing, node, name string) (volumes.Volume, bool) {
		for _, n := range l.Nodes {
			if n.Node != node {
				continue
			}
			for _, v := range n.Volumes {
				if v.Name == name {
					return v, true
				}
			}
		}
		return volumes.Volume{}, false
	}

	all := d.Volumes(context.Background(), false)
	if !all.OK || len(all.Nodes) != 3 {
		t.Fatalf("listing not ok on 3 nodes: %+v", all)
	}
	for _, n := range all.Nodes {
		if !n.OK {
			t.Errorf("%s: %s", n.Node, n.Error)
		}
	}
	u, ok := find(all, "worker-1", used)
	if !ok || !u.InUse || u.Containers != 1 || u.SizeBytes < 50000 || u.Driver != "local" {
		t.Errorf("%s on worker-1: %+v (listed %v), want in use by 1 container, at least 50000 bytes", used, u, ok)
	}
	n, ok := find(all, "worker-1", unused)
	if !ok || n.InUse || n.Containers != 0 || n.SizeBytes != 0 {
		t.Errorf("%s on worker-1: %+v (listed %v), want unused, 0 bytes", unused, n, ok)
	}
	if _, ok := find(all, "worker-2", used); ok {
		t.Errorf("%s listed on worker-2 too", used)
	}

	only := d.Volumes(context.Background(), true)
	if _, ok := find(only, "worker-1", used); ok || !only.OK {
		t.Errorf("--unused lists the used volume %s (ok %v)", used, only.OK)
	}
	if _, ok := find(only, "worker-1", unused); !ok {
		t.Errorf("--unused does not list %s", unused)
	}
	tb.AssertNoHelpers(t)
}
