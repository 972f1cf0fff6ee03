package api

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/operation"
)

func (f *fakeOps) MoveService(ctx context.Context, o restore.MoveOptions) operation.Result {
	return f.do(ctx, OpMoveService, o.Service+"->"+o.Node)
}

func TestMoveServiceRoute(t *testing.T) {
	for _, tc := range []struct {
		name, body, bearer string
		status             int
		want               string   // in the body
		calls              []string // what reached the operation
	}{
		{"admin", `{"serviceName":"shop_db","node":"worker-2"}`, adminToken, 200, `"ok": true`, []string{"move-service shop_db->worker-2"}},
		{"admin, token in the body", `{"token":"` + adminToken + `","serviceName":"shop_db","node":"worker-2"}`, "", 200, `"ok": true`, []string{"move-service shop_db->worker-2"}},
		{"a service's restore token may not move it", `{"serviceName":"shop_web","node":"worker-2"}`, webRestore, 401, "admin tokens only", nil},
		{"nor its backup token", `{"serviceName":"shop_web","node":"worker-2"}`, webBackup, 401, "admin tokens only", nil},
		{"no node", `{"serviceName":"shop_db"}`, adminToken, 400, "node", nil},
		{"no service", `{"node":"worker-2"}`, adminToken, 400, "serviceName", nil},
		{"unknown service", `{"serviceName":"nope","node":"worker-2"}`, adminToken, 404, "nope", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.targets.services[0].Labels[authz.LabelRestoreToken] = webRestore
			res := h.do("POST", "/api/move/service", tc.body, tc.bearer)
			if res.Status != tc.status || !strings.Contains(string(res.Body), tc.want) {
				t.Fatalf("status %d, want %d with %q:\n%s", res.Status, tc.status, tc.want, res.Body)
			}
			if got := h.ops.Calls(); !slices.Equal(got, tc.calls) {
				t.Errorf("operation calls %q, want %q", got, tc.calls)
			}
		})
	}
}

// A failed move answers with its kind's status: an unknown node is 404, two replicas 422.
func TestMoveServiceFailureStatus(t *testing.T) {
	for _, tc := range []struct {
		kind   operation.Kind
		status int
	}{{operation.KindNotFound, 404}, {operation.KindImpossible, 422}} {
		h := newHarness(t)
		h.ops.result = func(_ context.Context, op, target string) operation.Result {
			return operation.Failed(op, target, operation.Errorf(tc.kind, "refused"))
		}
		if res := h.do("POST", "/api/move/service", `{"serviceName":"shop_db","node":"worker-9"}`, adminToken); res.Status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.kind, res.Status, tc.status, res.Body)
		}
	}
}
