package swarm

import (
	"context"
	"errors"
	"testing"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/operation"
)

// `docker node inspect -- NAME self` prints the nodes it found in order and fails naming the one
// it did not: the target first, then the local node; a missing target is KindNotFound and the
// local node is still told.
func TestCLINodeAndSelf(t *testing.T) {
	const w1 = `{"ID":"w1id","Spec":{"Labels":{},"Availability":"active"},"Description":{"Hostname":"worker-1","Engine":{"EngineVersion":"27.3.1"}},"Status":{"State":"ready"}}`
	const mgr = `{"ID":"mgrid","Spec":{"Labels":{},"Availability":"active"},"Description":{"Hostname":"manager"},"Status":{"State":"ready"}}`
	for _, tc := range []struct {
		name             string
		stdout           string
		err              error
		wantNode, wantMe string
		wantKind         operation.Kind // "" = no error
		wantErr          bool
	}{
		{name: "both found", stdout: "[" + w1 + "," + mgr + "]", wantNode: "w1id", wantMe: "mgrid"},
		{name: "target not found", stdout: "[" + mgr + "]", err: errors.New("exit status 1: Error response from daemon: node worker-9 not found"),
			wantMe: "mgrid", wantKind: operation.KindNotFound, wantErr: true},
		{name: "ambiguous", stdout: "[" + mgr + "]", err: errors.New("exit status 1: Error response from daemon: node worker-1 is ambiguous (2 matches found)"), wantErr: true},
		{name: "daemon down", err: errors.New("exit status 1: Cannot connect to the Docker daemon"), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &CLI{Runner: &bashexec.Fake{Handler: func(bashexec.Command) (bashexec.Result, error) {
				return bashexec.Result{Stdout: tc.stdout}, tc.err
			}}}
			n, self, err := c.NodeAndSelf(context.Background(), "worker-1")
			if (err != nil) != tc.wantErr || n.ID != tc.wantNode || self != tc.wantMe {
				t.Fatalf("node %q self %q err %v; want node %q self %q, error %v", n.ID, self, err, tc.wantNode, tc.wantMe, tc.wantErr)
			}
			if tc.wantKind != "" && operation.KindOf(err) != tc.wantKind {
				t.Errorf("kind %s, want %s", operation.KindOf(err), tc.wantKind)
			}
			if tc.wantNode != "" && n.Hostname != "worker-1" {
				t.Errorf("node decoded as %+v", n)
			}
		})
	}
}
