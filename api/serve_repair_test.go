package api

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/operation"
)

// TestRunListensBeforeRepairing: the listener opens before the start-up repair, so /healthz
// answers at once (the image's health check has a 5 s start period); while the repair runs
// /readyz is 503 "repairing", operations are 503 and the cron waits; after it (failed or not)
// everything serves — also after a repair that panicked.
func TestRunListensBeforeRepairing(t *testing.T) {
	for _, outcome := range []string{"ok", "failed", "panic"} {
		ok := outcome == "ok"
		h := newHarness(t)
		cron := &fakeCron{}
		release := make(chan struct{})
		repairing := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		listening := make(chan net.Addr, 1)
		ended := make(chan error, 1)
		go func() {
			ended <- Run(ctx, RunOptions{Addr: "127.0.0.1:0", Server: h.server, Cron: cron, Grace: time.Second, Log: h.server.log,
				Repair: func(context.Context) operation.Report {
					close(repairing)
					<-release
					if outcome == "panic" {
						panic("a bug in the repair")
					}
					rep := operation.Report{Operation: "recover", OK: ok}
					if !ok {
						rep.Results = []operation.Result{{Operation: "recover", Target: "*", Error: "docker: Cannot connect"}}
					}
					return rep
				},
				OnListen: func(a net.Addr) { listening <- a }})
		}()
		var base string
		select {
		case a := <-listening:
			base = "http://" + a.String()
		case err := <-ended:
			t.Fatalf("repair %s: Run ended: %v", outcome, err)
		}
		<-repairing
		client := &http.Client{}
		if s, _ := send(t, client, base, "GET", "/healthz", "", ""); s != 200 {
			t.Errorf("repair %s: /healthz during the repair: %d", outcome, s)
		}
		if s, body := send(t, client, base, "GET", "/readyz", "", ""); s != 503 || !strings.Contains(body, "repairing") {
			t.Errorf("repair %s: /readyz during the repair: %d %s", outcome, s, body)
		}
		if s, body := send(t, client, base, "POST", "/api/clean/service", `{"token":"`+adminToken+`","serviceName":"shop_web"}`, ""); s != 503 || !strings.Contains(body, "repairing") {
			t.Errorf("repair %s: an operation during the repair: %d %s", outcome, s, body)
		}
		if cron.started.Load() {
			t.Errorf("repair %s: the cron started during the repair", outcome)
		}
		close(release)
		waitFor(t, "the cron starts after the repair", cron.started.Load)
		if s, body := send(t, client, base, "GET", "/readyz", "", ""); s != 200 {
			t.Errorf("repair %s: /readyz after the repair: %d %s", outcome, s, body)
		}
		if s, body := send(t, client, base, "POST", "/api/clean/service", `{"token":"`+adminToken+`","serviceName":"shop_web"}`, ""); s != 200 {
			t.Errorf("repair %s: an operation after the repair: %d %s", outcome, s, body)
		}
		cancel()
		if err := <-ended; err != nil {
			t.Errorf("repair %s: Run: %v", outcome, err)
		}
		if calls := h.ops.Calls(); len(calls) != 1 {
			t.Errorf("repair %s: operations %v, want the one after the repair", outcome, calls)
		}
	}
}

// TestRunStoppedDuringTheRepair: a stop signal during the repair ends Run without starting the
// cron.
func TestRunStoppedDuringTheRepair(t *testing.T) {
	h := newHarness(t)
	cron := &fakeCron{}
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() {
		ended <- Run(ctx, RunOptions{Addr: "127.0.0.1:0", Server: h.server, Cron: cron, Grace: time.Second, Log: h.server.log,
			Repair: func(rctx context.Context) operation.Report {
				cancel()
				<-rctx.Done()
				return operation.Report{Operation: "recover", OK: false}
			}})
	}()
	if err := <-ended; err != nil {
		t.Errorf("Run: %v", err)
	}
	if cron.started.Load() {
		t.Error("the cron started after a stop during the repair")
	}
}
