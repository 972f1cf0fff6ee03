package swarm

import (
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

func TestFindNode(t *testing.T) {
	nodes := []parse.Node{
		{ID: "id1", Hostname: "mgr"},
		{ID: "id2", Hostname: "clone"},
		{ID: "id3", Hostname: "clone"},
		{ID: "id4", Hostname: "team-b", Labels: map[string]string{parse.LabelInstance: "b"}},
	}
	for _, tc := range []struct {
		name, instance, wantID string
		wantKind               operation.Kind
		wantMsg                string
	}{
		{name: "mgr", wantID: "id1"},
		{name: "id3", wantID: "id3"},
		{name: "clone", wantKind: operation.KindInvalid, wantMsg: "use one of their node IDs instead: id2, id3"},
		{name: "nope", wantKind: operation.KindNotFound},
		{name: "team-b", instance: "default", wantKind: operation.KindNotFound},
		{name: "id4", instance: "default", wantKind: operation.KindNotFound},
		{name: "team-b", instance: "b", wantID: "id4"},
		{name: "mgr", instance: "b", wantKind: operation.KindNotFound},
		{name: "team-b", wantID: "id4"},
	} {
		n, err := FindNode(nodes, tc.name, tc.instance)
		if tc.wantKind != "" {
			if operation.KindOf(err) != tc.wantKind || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("FindNode(%q, %q) = %v, want %s containing %q", tc.name, tc.instance, err, tc.wantKind, tc.wantMsg)
			}
			continue
		}
		if err != nil || n.ID != tc.wantID {
			t.Errorf("FindNode(%q, %q) = %s, %v; want %s", tc.name, tc.instance, n.ID, err, tc.wantID)
		}
	}
}
