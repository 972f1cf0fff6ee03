package schedule

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

func TestParseExprForms(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 3, 0, time.UTC)
	for _, tc := range []struct {
		expr string
		next time.Time // zero: invalid
	}{
		{"0 0 3 * * *", time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)},
		{"0 3 * * *", time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)}, // five fields: seconds = 0
		{"*/10 * * * * *", from.Add(7 * time.Second)},
		{"*/5 * * * *", time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC)},
		{"@hourly", time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)},
		// 03:00 in Tokyo (UTC+9) is 18:00 UTC the day before; 09:00 Tokyo has passed on Jan 1.
		{"CRON_TZ=Asia/Tokyo 0 3 * * *", time.Date(2026, 1, 1, 18, 0, 0, 0, time.UTC)},
		{"TZ=Europe/Berlin 0 0 3 * * *", time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)},
		{"CRON_TZ=Mars/Olympus 0 3 * * *", time.Time{}},
		{"0 3 * *", time.Time{}},
		{"61 * * * *", time.Time{}},
		{"", time.Time{}},
	} {
		sched, err := ParseExpr(tc.expr)
		if tc.next.IsZero() {
			if err == nil || !strings.Contains(err.Error(), "five fields") {
				t.Errorf("%q: %v, want an error naming the accepted forms", tc.expr, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		if got := sched.Next(from).UTC(); !got.Equal(tc.next) {
			t.Errorf("%q: next %v, want %v", tc.expr, got, tc.next)
		}
	}
}

func TestEntriesFromLabels(t *testing.T) {
	cfg := config.Cron{UpdateAutoExpr: "0 */5 * * * *"}
	svcs := []parse.Service{
		{Name: "a", Labels: map[string]string{parse.LabelCleanEnable: "true", parse.LabelCleanCron: "0 4 * * *"}},
		{Name: "b", Labels: map[string]string{parse.LabelBackupEnable: "true", parse.LabelBackupCron: "every night"}},
		// A schedule of a job the service does not enable is no job.
		{Name: "c", Labels: map[string]string{parse.LabelCleanEnable: "false", parse.LabelCleanCron: "0 4 * * *", parse.LabelBackupCron: "0 4 * * *"}},
		{Name: "d", Labels: map[string]string{parse.LabelUpdateAuto: "true"}},
		{Name: "e", Labels: map[string]string{parse.LabelUpdateAuto: "TRUE", parse.LabelUpdateAutoCron: "* * * * * *"}},
		{Name: "f", Labels: map[string]string{parse.LabelUpdateAuto: "false", parse.LabelUpdateAutoCron: "* * * * * *"}},
	}
	nodes := []parse.Node{
		{ID: "n1", Hostname: "manager", Labels: map[string]string{parse.LabelCleanCron: "@daily"}},
		{ID: "n2", Hostname: "worker-1", Labels: map[string]string{parse.LabelCleanCron: "@daily", parse.LabelNodeCleanEnable: "false"}},
		{ID: "n3", Hostname: "worker-2", Labels: map[string]string{}},
	}
	type row struct{ op, target, label, expr string }
	var got []row
	var errs []string
	for _, e := range Entries(svcs, nodes, cfg, time.Now()) {
		got = append(got, row{e.Operation, e.Target, e.Label, e.Expr})
		if e.Error != "" {
			errs = append(errs, e.Target+": "+e.Error)
			if e.Next != nil {
				t.Errorf("%s has an error and a next time", e.Target)
			}
		} else if e.Next == nil {
			t.Errorf("%s %s: no next time", e.Operation, e.Target)
		}
	}
	want := []row{
		{OpBackupService, "b", parse.LabelBackupCron, "every night"},
		{OpCleanNode, "manager", parse.LabelCleanCron, "@daily"},
		{OpCleanService, "a", parse.LabelCleanCron, "0 4 * * *"},
		{OpUpdateCheck, "d", GlobalUpdateAutoCron, "0 */5 * * * *"},
		{OpUpdateCheck, "e", parse.LabelUpdateAutoCron, "* * * * * *"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("entries\n %v\nwant\n %v", got, want)
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "b: label swarm-utils.backup.cron: \"every night\" is not a cron expression") {
		t.Errorf("errors %q", errs)
	}
}

// The global run leaves a target with a valid own schedule to it, fails one whose own
// expression is invalid (reported, not skipped), and cleans the other nodes one by one when a
// node has its own clean.cron.
func TestRunLeavesOwnSchedules(t *testing.T) {
	r := &recorder{
		svcs: []parse.Service{
			{Name: "svc-a", Labels: map[string]string{parse.LabelCleanEnable: "true", parse.LabelCleanCron: "0 4 * * *"}},
			{Name: "svc-b", Labels: map[string]string{parse.LabelCleanEnable: "true", parse.LabelBackupEnable: "true", parse.LabelBackupCron: "bad"}},
			{Name: "svc-c", Labels: map[string]string{parse.LabelBackupEnable: "true", parse.LabelUpdateAuto: "true"}},
		},
		nodes: []parse.Node{{ID: "n1", Hostname: "manager"}, {ID: "n2", Hostname: "worker-1", Labels: map[string]string{parse.LabelCleanCron: "*/5 * * * *"}},
			{ID: "n3", Hostname: "worker-2"}},
	}
	s, _ := newTestScheduler(t, allOn("0 0 3 * * *"), r)
	sum, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := r.calls()
	slices.Sort(got[:2]) // the nodes are cleaned in parallel
	want := []string{"clean-node n1", "clean-node n3", "clean-service svc-b", "backup-service svc-c"}
	if !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	node, clean, backup := sum.Phases[0], sum.Phases[1], sum.Phases[2]
	if !slices.Equal(node.OwnSchedule, []string{"worker-1"}) || !slices.Equal(clean.OwnSchedule, []string{"svc-a"}) || len(backup.OwnSchedule) != 0 {
		t.Errorf("own schedules: %q %q %q", node.OwnSchedule, clean.OwnSchedule, backup.OwnSchedule)
	}
	if backup.Failures != 1 || sum.OK {
		t.Fatalf("backup phase %+v: the invalid backup.cron must fail svc-b", backup)
	}
	var bad operation.Result
	for _, res := range backup.Results {
		if res.Target == "svc-b" {
			bad = res
		}
	}
	if bad.ErrorKind != operation.KindInvalid || !strings.Contains(bad.Error, parse.LabelBackupCron) || !strings.Contains(bad.Error, `"bad"`) {
		t.Errorf("svc-b: %+v", bad)
	}
}

// A target's own schedule runs on the real go-cron (every second), follows its label's changes
// at the next refresh, and an invalid label is logged once, not on every refresh.
func TestOwnSchedulesFollowTheLabels(t *testing.T) {
	r := &recorder{nodes: []parse.Node{}, svcs: []parse.Service{
		{Name: "svc-a", Labels: map[string]string{parse.LabelCleanEnable: "true", parse.LabelCleanCron: "* * * * * *"}},
		{Name: "svc-u", Labels: map[string]string{parse.LabelUpdateAuto: "true", parse.LabelUpdateAutoCron: "* * * * * *"}},
		{Name: "svc-x", Labels: map[string]string{parse.LabelBackupEnable: "true", parse.LabelBackupCron: "sometimes"}},
	}}
	// The global cron is off: the own schedules run anyway.
	s, log := newTestScheduler(t, config.Cron{Expr: "0 0 3 * * *", UpdateAutoExpr: "0 0 0 1 1 *"}, r)
	s.RefreshEvery = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	defer s.Stop()
	waitUntil(t, 3*time.Second, "svc-a cleaned and svc-u checked on their own schedules", func() bool {
		return r.count("clean-service svc-a") >= 1 && r.count("update-check svc-u") >= 1
	})

	// svc-a drops its schedule, svc-u moves to a far one: neither runs after the next refresh.
	r.setServices([]parse.Service{
		{Name: "svc-a", Labels: map[string]string{parse.LabelCleanEnable: "true"}},
		{Name: "svc-u", Labels: map[string]string{parse.LabelUpdateAuto: "true", parse.LabelUpdateAutoCron: "0 0 1 1 *"}},
		{Name: "svc-x", Labels: map[string]string{parse.LabelBackupEnable: "true", parse.LabelBackupCron: "sometimes"}},
	})
	time.Sleep(300 * time.Millisecond) // a refresh, and a run that had started ends (no delay)
	a, u := r.count("clean-service svc-a"), r.count("update-check svc-u")
	time.Sleep(2200 * time.Millisecond)
	if a2, u2 := r.count("clean-service svc-a"), r.count("update-check svc-u"); a2 != a || u2 != u {
		t.Errorf("after the labels changed: svc-a cleaned %d more, svc-u checked %d more times", a2-a, u2-u)
	}
	if n := r.count("backup-service svc-x"); n != 0 {
		t.Errorf("svc-x with an invalid backup.cron was backed up %d times", n)
	}
	if n := strings.Count(log.String(), "own schedule invalid"); n != 1 {
		t.Errorf("the invalid label was logged %d times over ~25 refreshes, want once:\n%s", n, log.String())
	}
	entries, err := s.Entries(context.Background())
	if err != nil || len(entries) != 2 || entries[0].Error == "" || entries[1].Next == nil {
		t.Errorf("entries %+v %v", entries, err)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// NextOwn answers from the schedules the cron holds (what Refresh last read from the labels),
// by the service's name and the node's ID: the label's next time, its error, or no own
// schedule (the global cron applies); a label change shows after the next refresh.
func TestNextOwnIsWhatTheCronHolds(t *testing.T) {
	r := &recorder{
		svcs: []parse.Service{
			{Name: "svc-a", Labels: map[string]string{parse.LabelCleanEnable: "true", parse.LabelCleanCron: "0 4 * * *"}},
			{Name: "svc-b", Labels: map[string]string{parse.LabelBackupEnable: "true", parse.LabelBackupCron: "bad"}},
			{Name: "svc-c", Labels: map[string]string{parse.LabelBackupEnable: "false", parse.LabelBackupCron: "0 4 * * *"}},
		},
		nodes: []parse.Node{{ID: "n2", Hostname: "worker-1", Labels: map[string]string{parse.LabelCleanCron: "*/5 * * * *"}}},
	}
	s, _ := newTestScheduler(t, config.Cron{Expr: "0 0 3 * * *"}, r)
	s.RefreshEvery = time.Hour // the start's refresh, then the test's
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Start(ctx)
	defer s.Stop()
	waitUntil(t, 3*time.Second, "the start's refresh", func() bool { _, own, _ := s.NextOwn(OpCleanService, "svc-a", time.Now()); return own })

	after := time.Date(2026, 12, 1, 12, 1, 0, 0, time.Local)
	for _, tc := range []struct {
		op, target string
		own        bool
		next       time.Time // zero: none
		err        string
	}{
		{OpCleanService, "svc-a", true, time.Date(2026, 12, 2, 4, 0, 0, 0, time.Local), ""},
		{OpBackupService, "svc-a", false, time.Time{}, ""},
		{OpBackupService, "svc-b", true, time.Time{}, `label swarm-utils.backup.cron: "bad" is not a cron expression`},
		{OpBackupService, "svc-c", false, time.Time{}, ""}, // not enabled: no job
		{OpCleanNode, "n2", true, time.Date(2026, 12, 1, 12, 5, 0, 0, time.Local), ""},
		{OpCleanNode, "worker-1", false, time.Time{}, ""}, // nodes are known by ID
		{OpCleanService, "nowhere", false, time.Time{}, ""},
	} {
		next, own, err := s.NextOwn(tc.op, tc.target, after)
		if own != tc.own || !next.Equal(tc.next) || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s %s: %v %v %v, want %v %v %q", tc.op, tc.target, next, own, err, tc.next, tc.own, tc.err)
		}
	}

	r.setServices([]parse.Service{{Name: "svc-a", Labels: map[string]string{parse.LabelCleanEnable: "true", parse.LabelCleanCron: "0 5 * * *"}}})
	s.Refresh(ctx)
	if next, own, err := s.NextOwn(OpCleanService, "svc-a", after); !own || err != nil || next.Hour() != 5 {
		t.Errorf("svc-a after its label moved to 05:00: %v %v %v", next, own, err)
	}
	if _, own, err := s.NextOwn(OpBackupService, "svc-b", after); own || err != nil {
		t.Errorf("svc-b, gone: own %v, %v", own, err)
	}
}
