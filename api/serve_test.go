package api

import (
	"context"
	"github.com/swarm-utils/swarm-utils/operation"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type fakeCron struct {
	started, stopped atomic.Bool
	ctx              context.Context
}

func (c *fakeCron) Start(ctx context.Context)      { c.ctx = ctx; c.started.Store(true) }
func (c *fakeCron) Stop()                          { c.stopped.Store(true) }
func (c *fakeCron) Wait(ctx context.Context) error { return nil }

// serveHarness runs Run on a free loopback port with one blocking operation.
func serveHarness(t *testing.T, grace time.Duration, op func(ctx context.Context) operation.Result) (base string, stop func() error, cron *fakeCron) {
	t.Helper()
	h := newHarness(t)
	h.ops.result = func(ctx context.Context, _, _ string) operation.Result { return op(ctx) }
	cron = &fakeCron{}
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan net.Addr, 1)
	ended := make(chan error, 1)
	go func() {
		ended <- Run(ctx, RunOptions{Addr: "127.0.0.1:0", Server: h.server, Cron: cron, Grace: grace, Log: h.server.log,
			OnListen: func(a net.Addr) { listening <- a }})
	}()
	select {
	case a := <-listening:
		base = "http://" + a.String()
	case err := <-ended:
		t.Fatalf("Run: %v", err)
	}
	return base, func() error {
		cancel()
		select {
		case err := <-ended:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return")
			return nil
		}
	}, cron
}

func post(base, path, body string) (int, string, error) {
	res, err := http.Post(base+path, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), nil
}

// TestShutdownLetsRunningOperationsEnd: on the stop signal the server takes no new requests,
// but an operation that ends within the grace period ends normally and its caller gets 200.
func TestShutdownLetsRunningOperationsEnd(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	base, stop, cron := serveHarness(t, 5*time.Second, func(ctx context.Context) operation.Result {
		close(started)
		<-release
		return operation.Result{Operation: OpCleanService, Target: "shop_web", OK: true, Steps: []operation.Step{}}
	})
	if !cron.started.Load() || cron.ctx == nil {
		t.Error("cron not started with the operations' context")
	}
	type answer struct {
		status int
		body   string
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		s, b, err := post(base, "/api/clean/service", `{"token":"`+adminToken+`","serviceName":"shop_web"}`)
		answered <- answer{s, b, err}
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(200 * time.Millisecond) // the shutdown is under way
	if _, _, err := post(base, "/healthz", ""); err == nil {
		t.Error("a new connection was accepted during shutdown")
	}
	close(release)
	a := <-answered
	if a.err != nil || a.status != 200 {
		t.Errorf("running request: %d %v %s", a.status, a.err, a.body)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
	if !cron.stopped.Load() {
		t.Error("cron not stopped")
	}
}

// TestShutdownAbortsPastTheGrace: an operation still running after the grace period is
// canceled (it then restores and removes what it must, as commands do) and its caller gets 503.
func TestShutdownAbortsPastTheGrace(t *testing.T) {
	started := make(chan struct{})
	base, stop, cron := serveHarness(t, 300*time.Millisecond, func(ctx context.Context) operation.Result {
		close(started)
		<-ctx.Done()
		return operation.Result{Operation: OpCleanService, Target: "shop_web", OK: false, Error: "canceled: " + ctx.Err().Error(),
			ErrorKind: operation.KindCanceled, Steps: []operation.Step{}}
	})
	answered := make(chan int, 1)
	go func() {
		s, _, _ := post(base, "/api/clean/service", `{"token":"`+adminToken+`","serviceName":"shop_web"}`)
		answered <- s
	}()
	<-started
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if s := <-answered; s != http.StatusServiceUnavailable {
		t.Errorf("aborted request: %d, want 503", s)
	}
	if cron.ctx.Err() == nil {
		t.Error("the cron's operations context was not canceled")
	}
}
