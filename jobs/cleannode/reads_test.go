package cleannode

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

// The node is read with the local node in one `docker node inspect -- NAME self` (no listing,
// no `docker info`) when docker's answer is the node named exactly so; a hostname two nodes
// share, a node of another instance or an ID prefix fall back to the whole listing.
func TestCleanNodeReadsTheNodeOnce(t *testing.T) {
	other := swarmtest.Node("n3", "worker-3")
	other.Labels = map[string]string{parse.LabelInstance: "team-b"}
	for _, tc := range []struct {
		name, target, instance string
		wantOK                 bool
		wantKind               operation.Kind
		wantReads              []string // the node reads, in order
	}{
		{name: "by hostname", target: "worker-1", wantOK: true, wantReads: []string{"node-and-self"}},
		{name: "by ID", target: "n1", wantOK: true, wantReads: []string{"node-and-self"}},
		{name: "hostname of two nodes", target: "twin", wantKind: operation.KindInvalid, wantReads: []string{"node-and-self", "nodes"}},
		{name: "ID prefix is no name", target: "n", wantKind: operation.KindNotFound, wantReads: []string{"node-and-self", "nodes"}},
		{name: "unknown", target: "nope", wantKind: operation.KindNotFound, wantReads: []string{"node-and-self"}},
		{name: "another instance's node", target: "worker-3", instance: "team-a", wantKind: operation.KindNotFound, wantReads: []string{"node-and-self", "nodes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mine := func(n parse.Node) parse.Node {
				if tc.instance != "" {
					n.Labels = map[string]string{parse.LabelInstance: tc.instance}
				}
				return n
			}
			f := swarmtest.New(mine(swarmtest.Node("n1", "worker-1")), mine(swarmtest.Node("nm", "manager")),
				mine(swarmtest.Node("t1", "twin")), mine(swarmtest.Node("t2", "twin")), other)
			f.Local = "nm"
			f.OnJob = pruned(nil)
			cfg := testConfig()
			cfg.Instance = tc.instance
			w := swarmtest.Wire(f, cfg)
			r := (&Job{Swarm: f, Helpers: w.Helpers, Ops: w.Ops, Config: cfg}).Node(context.Background(), tc.target)
			if r.OK != tc.wantOK || (tc.wantKind != "" && r.ErrorKind != tc.wantKind) {
				t.Fatalf("result ok=%v %s %q, want ok=%v %s", r.OK, r.ErrorKind, r.Error, tc.wantOK, tc.wantKind)
			}
			var reads []string
			for _, c := range f.Calls("node-and-self", "nodes", "node", "local-node") {
				reads = append(reads, c.Verb)
			}
			if !slices.Equal(reads, tc.wantReads) {
				t.Errorf("node reads %q, want %q", reads, tc.wantReads)
			}
			if tc.wantOK {
				jobs := f.Calls("create-job")
				if len(jobs) != 1 || jobs[0].Job.NodeID != "n1" || !strings.Contains(jobs[0].Job.Name, "n1") {
					t.Errorf("helpers %+v, want one on n1", jobs)
				}
			}
		})
	}
}
