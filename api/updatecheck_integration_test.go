//go:build integration

package api

import (
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/internal/testbed"
)

// POST /api/update/check through the live API on the cluster: the service's update token runs
// one check (the registry's digest is the one it runs: unchanged, no update); its clean token
// may not; the listing shows the update check's schedule with its next time.
func TestAPIUpdateCheckOnTheCluster(t *testing.T) {
	tb := testbed.Get(t)
	id := randID()
	cfg := tb.Config()
	cfg.AdminTokens = []string{itAdmin}
	cfg.Cron.UpdateAutoExpr = "0 */5 * * * *"
	a := startAPI(t, cfg, "127.0.0.1:0")
	name := "it-api-" + id + "-auto"
	upd, clean := "it-api-auto-update-"+id, "it-api-auto-clean-"+id
	a.secrets = append(a.secrets, upd, clean)
	tb.Service(t, name, "--label", "swarm-utils.update.enable=true", "--label", "swarm-utils.update.auto=true",
		"--label", "swarm-utils.update.registry.auth=true", "--label", "swarm-utils.update.token="+upd,
		"--label", "swarm-utils.clean.enable=true", "--label", "swarm-utils.clean.exec=true", "--label", "swarm-utils.clean.token="+clean,
		tb.WorkloadImage)
	before, _ := tb.TryDockerOn("manager", "service", "inspect", "--format", "{{.Version.Index}}", name)

	r := a.call(t, "POST", "/api/update/check", upd, jsonBody(map[string]any{"serviceName": name}))
	expect(t, "update check with the update token", r, 200, `"outcome": "unchanged"`)
	if !strings.Contains(r.body, `"registryDigest": "sha256:`) || strings.Contains(r.body, `"name": "update"`) {
		t.Errorf("check result (want the registry's digest and no update step):\n%s", r.body)
	}
	if after, _ := tb.TryDockerOn("manager", "service", "inspect", "--format", "{{.Version.Index}}", name); after != before {
		t.Errorf("an unchanged check updated the service: version %s → %s", before, after)
	}
	expect(t, "update check with the clean token", a.call(t, "POST", "/api/update/check", clean, jsonBody(map[string]any{"serviceName": name})),
		401, "swarm-utils.update.token")

	r = a.call(t, "GET", "/api/services", itAdmin, "")
	if !strings.Contains(r.body, `"operation": "update-check"`) || !strings.Contains(r.body, `"label": "SWARM_UTILS_UPDATE_AUTO_CRON"`) {
		t.Errorf("the listing does not show the update check's schedule:\n%s", r.body)
	}
}
