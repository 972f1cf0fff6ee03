package api

import (
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/parse"
)

// The listings show each target's own schedules with their next time, and an invalid
// expression with its error (never silently dropped).
func TestListingsShowOwnSchedules(t *testing.T) {
	h := newHarness(t)
	h.targets.services = append(h.targets.services, parse.Service{Name: "zz_sched", ID: "zid", Mode: parse.ModeReplicated, Labels: map[string]string{
		parse.LabelCleanEnable: "true", parse.LabelCleanExec: "true", parse.LabelCleanCron: "0 4 * * *",
		parse.LabelBackupEnable: "true", parse.LabelBackupCron: "at noon",
		parse.LabelUpdateEnable: "true", parse.LabelUpdateAuto: "true", parse.LabelUpdateAutoCron: "*/10 * * * * *"}})
	h.targets.nodes[0].Labels = map[string]string{parse.LabelCleanCron: "61 * * * *"}

	svcs := h.do("GET", "/api/services", "", adminToken).json(t)["services"].([]any)
	var got map[string]any
	for _, s := range svcs {
		if s.(map[string]any)["name"] == "zz_sched" {
			got = s.(map[string]any)
		}
	}
	if got == nil {
		t.Fatalf("zz_sched not listed")
	}
	if got["update"].(map[string]any)["auto"] != true {
		t.Errorf("update view %v: auto", got["update"])
	}
	scheds := got["schedules"].([]any)
	if len(scheds) != 3 {
		t.Fatalf("schedules %v, want clean, backup and the update check", scheds)
	}
	byOp := map[string]map[string]any{}
	for _, s := range scheds {
		e := s.(map[string]any)
		byOp[e["operation"].(string)] = e
	}
	if e := byOp["clean-service"]; e["expr"] != "0 4 * * *" || e["next"] == nil || e["error"] != nil {
		t.Errorf("clean schedule %v", e)
	}
	if e := byOp["backup-service"]; e["next"] != nil || !strings.Contains(e["error"].(string), `label swarm-utils.backup.cron: "at noon" is not a cron expression`) {
		t.Errorf("backup schedule %v", e)
	}
	if e := byOp["update-check"]; e["label"] != parse.LabelUpdateAutoCron || e["next"] == nil {
		t.Errorf("update check %v", e)
	}

	nodes := h.do("GET", "/api/nodes", "", adminToken).json(t)["nodes"].([]any)
	var node map[string]any
	for _, n := range nodes {
		if n.(map[string]any)["id"] == h.targets.nodes[0].ID {
			node = n.(map[string]any)
		}
	}
	ns, _ := node["schedules"].([]any)
	if len(ns) != 1 || !strings.Contains(ns[0].(map[string]any)["error"].(string), `"61 * * * *" is not a cron expression`) {
		t.Errorf("node schedules %v", node["schedules"])
	}
}
