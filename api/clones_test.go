package api

import (
	"slices"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/parse"
)

// Two nodes with one hostname (cloned VMs): the hostname is refused with both IDs, before any
// operation, so that authorisation and the operation cannot pick different nodes; each ID works.
func TestCleanNodeHostnameOfTwoNodes(t *testing.T) {
	for _, tc := range []struct {
		node, msg string
		status    int
		call      string
	}{
		{"clone", "use one of their node IDs instead: node-id-c1, node-id-c2", 400, ""},
		{"node-id-c2", "", 200, "clean-node node-id-c2"},
	} {
		t.Run(tc.node, func(t *testing.T) {
			h := newHarness(t)
			h.targets.nodes = append(h.targets.nodes,
				parse.Node{ID: "node-id-c1", Hostname: "clone", Role: "worker", State: "ready", Availability: "active", Labels: map[string]string{}},
				parse.Node{ID: "node-id-c2", Hostname: "clone", Role: "worker", State: "ready", Availability: "active", Labels: map[string]string{}})
			res := h.do("POST", "/api/clean/node", `{"token":"`+adminToken+`","nodeName":"`+tc.node+`"}`, "")
			if res.Status != tc.status || !strings.Contains(string(res.Body), tc.msg) {
				t.Fatalf("status %d, want %d saying %q:\n%s", res.Status, tc.status, tc.msg, res.Body)
			}
			var want []string
			if tc.call != "" {
				want = []string{tc.call}
			}
			if got := h.ops.Calls(); !slices.Equal(got, want) {
				t.Errorf("operation calls %q, want %q", got, want)
			}
		})
	}
}
