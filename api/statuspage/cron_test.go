package statuspage

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/schedule"
)

// Cron asks the scheduler's own schedules first (a service by name, a node by ID): an own
// schedule's time, its error, or its end win over the global cron; without one, the switches
// and the global times.
func TestCronOwnSchedulesFirst(t *testing.T) {
	global := now.Add(time.Hour)
	own := map[string]struct {
		next time.Time
		err  error
	}{
		"backup-service shop_db": {next: now.Add(5 * time.Minute)},
		"clean-service shop_db":  {err: errors.New(`label swarm-utils.clean.cron: "bad" is not a cron expression`)},
		"backup-service done_db": {}, // never runs again
		"clean-node nid-w1":      {next: now.Add(7 * time.Minute)},
	}
	var asked []string
	c := Cron{Switches: config.Cron{BackupService: true, CleanService: true, CleanNode: true},
		Times: func(from time.Time, n int) []time.Time { return []time.Time{global} },
		Own: func(op, target string, after time.Time) (time.Time, bool, error) {
			asked = append(asked, op+" "+target)
			o, ok := own[op+" "+target]
			return o.next, ok, o.err
		}}
	for _, tc := range []struct {
		op   string
		t    Target
		next time.Time
		ok   bool
		err  string
	}{
		{OpBackupService, Target{Kind: KindService, Name: "shop_db"}, now.Add(5 * time.Minute), true, ""},
		{OpCleanService, Target{Kind: KindService, Name: "shop_db"}, time.Time{}, false, "is not a cron expression"},
		{OpBackupService, Target{Kind: KindService, Name: "done_db"}, time.Time{}, false, ""},
		{OpBackupService, Target{Kind: KindService, Name: "other"}, global, true, ""},
		{OpCleanNode, Target{Kind: KindNode, Name: "worker-1", ID: "nid-w1"}, now.Add(7 * time.Minute), true, ""},
		{OpCleanNode, Target{Kind: KindNode, Name: "worker-2", ID: "nid-w2"}, global, true, ""},
		{OpUpdateService, Target{Kind: KindService, Name: "other"}, time.Time{}, false, ""},
	} {
		next, ok, err := c.Next(tc.op, tc.t, now)
		if !next.Equal(tc.next) || ok != tc.ok || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s %s: %v %v %v, want %v %v %q", tc.op, tc.t.Name, next, ok, err, tc.next, tc.ok, tc.err)
		}
	}
	if asked[4] != "clean-node nid-w1" {
		t.Errorf("the node was asked about as %q, want its ID", asked[4])
	}
}

// With the real scheduler behind Cron, the page shows the times and errors of the own
// schedules the cron holds, without parsing a label for them.
func TestPageShowsTheSchedulersOwnSchedules(t *testing.T) {
	cluster := &fakeTargets{services: []parse.Service{
		svc("shop_db", parse.LabelBackupEnable, "true", parse.LabelBackupCron, "30 12 * * *"),
		svc("shop_web", parse.LabelCleanEnable, "true", parse.LabelCleanExec, "true", parse.LabelCleanCron, "at noon"),
	}}
	cron := config.Cron{Expr: "0 0 3 * * *", BackupService: true, CleanService: true}
	sched, err := schedule.New(cron, nil, cluster, nil)
	if err != nil {
		t.Fatal(err)
	}
	sched.RefreshEvery = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sched.Start(ctx)
	defer sched.Stop()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, own, _ := sched.NextOwn(OpBackupService, "shop_db", now); own {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scheduler did not read the labels within 5 s")
		}
	}
	// A label changed since the cron read it: the page tells what the cron will do, which is
	// what it read (until its next refresh), not the label of this instant.
	cluster.services[0] = svc("shop_db", parse.LabelBackupEnable, "true", parse.LabelBackupCron, "45 12 * * *")
	f := newFixture(t, config.Config{}, cluster, nil, nil)
	f.page.o.Schedules = Cron{Switches: cron, Times: sched.Next, Own: sched.NextOwn}
	p := f.get(t, adminToken)
	for _, want := range []string{
		`<time datetime="2026-12-01T12:30:00Z">`, // shop_db's backup.cron, not the global 03:00
		`label swarm-utils.clean.cron: &#34;at noon&#34; is not a cron expression`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("page lacks %q:\n%s", want, p.body)
		}
	}
}
