package api

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/swarm-utils/swarm-utils/jobs/volumes"
)

// fakeVolumes answers with a fixed listing and records the unusedOnly of each call.
type fakeVolumes struct {
	mu    sync.Mutex
	ok    bool
	calls []bool
}

func (v *fakeVolumes) Volumes(_ context.Context, unusedOnly bool) volumes.Listing {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls = append(v.calls, unusedOnly)
	n := volumes.Node{Node: "worker-1", NodeID: "w1", OK: true, Total: 1, Volumes: []volumes.Volume{{Name: "old-data", Driver: "local", Size: "20kB", SizeBytes: 20000}}}
	if !v.ok {
		n = volumes.Node{Node: "worker-1", NodeID: "w1", Error: "step list on worker-1 failed", Volumes: []volumes.Volume{}}
	}
	return volumes.Listing{OK: v.ok, UnusedOnly: unusedOnly, Nodes: []volumes.Node{n}}
}

func TestVolumesListing(t *testing.T) {
	for _, tc := range []struct {
		name, path, bearer string
		failing            bool
		status             int
		want               string // in the body
		calls              string // the unusedOnly of the listing made, "" none
	}{
		{"admin, all", "/api/volumes", adminToken, false, 200, `"name": "old-data"`, "false"},
		{"admin, unused", "/api/volumes?unused=true", adminToken, false, 200, `"unusedOnly": true`, "true"},
		{"unused=false", "/api/volumes?unused=0", adminToken, false, 200, `"unusedOnly": false`, "false"},
		{"a node failed: 502 with the listing", "/api/volumes", adminToken, true, 502, "step list on worker-1 failed", "false"},
		{"a label token is not an admin", "/api/volumes", webBackup, false, 403, "only admin tokens", ""},
		{"unknown token", "/api/volumes", "guess", false, 401, "unknown token", ""},
		{"no token", "/api/volumes", "", false, 401, "no token", ""},
		{"token in the query", "/api/volumes?token=" + adminToken, "", false, 400, "Authorization header", ""},
		{"bad unused", "/api/volumes?unused=maybe", adminToken, false, 400, `unused=\"maybe\": want true or false`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &fakeVolumes{ok: !tc.failing}
			h := newHarness(t, func(o *Options) { o.Volumes = v })
			res := h.do("GET", tc.path, "", tc.bearer)
			if res.Status != tc.status || !strings.Contains(string(res.Body), tc.want) {
				t.Fatalf("status %d, want %d with %q:\n%s", res.Status, tc.status, tc.want, res.Body)
			}
			var calls []string
			for _, c := range v.calls {
				calls = append(calls, map[bool]string{true: "true", false: "false"}[c])
			}
			if got := strings.Join(calls, ","); got != tc.calls {
				t.Errorf("listings %q, want %q", got, tc.calls)
			}
		})
	}
	t.Run("not served", func(t *testing.T) {
		res := newHarness(t).do("GET", "/api/volumes", "", adminToken)
		if res.Status != 404 {
			t.Errorf("status %d without a lister, want 404", res.Status)
		}
	})
}
