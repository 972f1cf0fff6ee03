package api

import (
	"context"
	"github.com/swarm-utils/swarm-utils/operation"
	"net"
	"testing"
	"time"
)

// TestRunRepairsBeforeServing: the start-up repair runs before the listener opens and the cron
// starts, and a failed repair is not fatal.
func TestRunRepairsBeforeServing(t *testing.T) {
	for _, ok := range []bool{true, false} {
		h := newHarness(t)
		cron := &fakeCron{}
		var repairedBeforeListen, cronBeforeRepair bool
		repaired := false
		ctx, cancel := context.WithCancel(context.Background())
		listening := make(chan net.Addr, 1)
		ended := make(chan error, 1)
		go func() {
			ended <- Run(ctx, RunOptions{Addr: "127.0.0.1:0", Server: h.server, Cron: cron, Grace: time.Second, Log: h.server.log,
				Repair: func(context.Context) operation.Report {
					cronBeforeRepair = cron.started.Load()
					repaired = true
					rep := operation.Report{Operation: "recover", OK: ok}
					if !ok {
						rep.Results = []operation.Result{{Operation: "recover", Target: "*", Error: "docker: Cannot connect"}}
					}
					return rep
				},
				OnListen: func(a net.Addr) { repairedBeforeListen = repaired; listening <- a }})
		}()
		select {
		case <-listening:
		case err := <-ended:
			t.Fatalf("repair ok=%v: Run ended: %v", ok, err)
		}
		if !repairedBeforeListen || cronBeforeRepair {
			t.Errorf("repair ok=%v: repaired before listen %v, cron started before repair %v", ok, repairedBeforeListen, cronBeforeRepair)
		}
		cancel()
		if err := <-ended; err != nil {
			t.Errorf("repair ok=%v: Run: %v", ok, err)
		}
		if !cron.started.Load() {
			t.Errorf("repair ok=%v: cron never started", ok)
		}
	}
}
