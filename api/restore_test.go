package api

import (
	"fmt"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
)

const webRestore = "web-restore-token-jjjj"

func TestRestoreServiceRoute(t *testing.T) {
	for _, tc := range []struct {
		name, body, bearer string
		status             int
		want               string           // in the body
		opts               *restore.Options // what reached the operation; nil: nothing
	}{
		{"admin, defaults", `{"serviceName":"shop_web"}`, adminToken, 200, `"ok": true`,
			&restore.Options{Service: "shop_web"}},
		{"the restore token, a time, no safety backup", `{"serviceName":"shop_web","backup":"2026-12-01T02:00:00Z","safetyBackup":false}`, webRestore, 200, `"ok": true`,
			&restore.Options{Service: "shop_web", Backup: "2026-12-01T02:00:00Z", NoSafetyBackup: true}},
		{"token in the body", `{"token":"` + webRestore + `","serviceName":"shop_web","backup":"latest"}`, "", 200, `"ok": true`,
			&restore.Options{Service: "shop_web", Backup: "latest"}},
		{"the backup token may not restore", `{"serviceName":"shop_web"}`, webBackup, 401, "unknown token for restore-service", nil},
		{"without a restore label only admins", `{"serviceName":"shop_db"}`, webRestore, 403, "may not run restore-service", nil},
		{"bad safetyBackup", `{"serviceName":"shop_web","safetyBackup":"no"}`, adminToken, 400, "safetyBackup", nil},
		{"no service", `{}`, adminToken, 400, "serviceName", nil},
		{"unknown service", `{"serviceName":"nope"}`, adminToken, 404, "nope", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.targets.services[0].Labels[authz.LabelRestoreToken] = webRestore
			res := h.do("POST", "/api/restore/service", tc.body, tc.bearer)
			if res.Status != tc.status || !strings.Contains(string(res.Body), tc.want) {
				t.Fatalf("status %d, want %d with %q:\n%s", res.Status, tc.status, tc.want, res.Body)
			}
			h.ops.mu.Lock()
			defer h.ops.mu.Unlock()
			switch {
			case tc.opts == nil && len(h.ops.restore) != 0:
				t.Errorf("a refused request reached the operation: %+v", h.ops.restore)
			case tc.opts != nil && (len(h.ops.restore) != 1 || h.ops.restore[0] != *tc.opts):
				t.Errorf("operation got %+v, want %+v", h.ops.restore, *tc.opts)
			}
			if strings.Contains(h.log.String(), webRestore) {
				t.Errorf("the restore token reached the log")
			}
		})
	}
}

// GET /api/services shows restore-service to the restore token (on its service only) and to
// admins on services with backup enabled.
func TestServicesListRestoreAction(t *testing.T) {
	h := newHarness(t)
	h.targets.services[0].Labels[authz.LabelRestoreToken] = webRestore
	res := h.do("GET", "/api/services", "", webRestore)
	svcs, _ := res.json(t)["services"].([]any)
	if res.Status != 200 || len(svcs) != 1 {
		t.Fatalf("status %d, services %v", res.Status, svcs)
	}
	if v := svcs[0].(map[string]any); v["name"] != "shop_web" || fmt.Sprint(v["actions"]) != "[restore-service]" {
		t.Errorf("restore token sees %v with actions %v", v["name"], v["actions"])
	}
}
