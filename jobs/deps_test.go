package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

// A service a failed restore left at 0 is started again by serve's retry loop, without a
// restart of serve; LeftStopped follows it.
func TestKeepRestoringStopped(t *testing.T) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f.AddService(parse.Service{Name: "shop_db", Image: "db:1", Replicas: 0,
		Labels: map[string]string{backup.LabelRestoreReplicas: "2", parse.LabelBackupEnable: "true"}}, "worker-1")
	var fail, panicked atomic.Bool
	fail.Store(true)
	f.OnScale = func(swarm.Scale) error {
		if !panicked.Swap(true) {
			panic("a bug in the first retry") // must not end the loop or the process
		}
		if fail.Load() {
			return errors.New("exit status 1: Cannot connect to the Docker daemon")
		}
		return nil
	}
	cfg := config.Config{Timeouts: config.Timeouts{BackupStart: 20 * time.Millisecond, Lock: time.Second, Extra: time.Second, Pending: time.Second}}
	d := jobs.NewDeps(cfg, &bashexec.Fake{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	d.Swarm, d.PollInterval = f, time.Millisecond
	if n := d.LeftStopped(); n != -1 {
		t.Errorf("before the first pass: LeftStopped %d, want -1", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.KeepRestoringStopped(ctx, 5*time.Millisecond)

	waitFor(t, "a pass that counts the service left stopped", func() bool { return d.LeftStopped() == 1 })
	fail.Store(false)
	waitFor(t, "a pass that restores it", func() bool { return d.LeftStopped() == 0 })
	if !panicked.Load() {
		t.Error("no retry reached the scale that panics")
	}
	if s, _ := f.Get("shop_db"); s.Replicas != 2 || s.Labels[backup.LabelRestoreReplicas] != "" {
		t.Errorf("after the retry: %d replicas, labels %v", s.Replicas, s.Labels)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a hang guard
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
