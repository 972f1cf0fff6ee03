package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/swarm-utils/swarm-utils/operation"
)

// Cron is the scheduler that serve runs next to the HTTP server (*schedule.Scheduler).
type Cron interface {
	Start(ctx context.Context)
	Stop()
	Wait(ctx context.Context) error
}

// RunOptions configure Run.
type RunOptions struct {
	Addr   string // host:port; ":3000" listens on every interface
	Server *Server
	Cron   Cron // nil: no cron
	// Grace is how long running operations may go on after the stop signal before they are
	// aborted (helpers removed, scaled-down services restored). Aborting itself then takes as
	// long as the restores take, so the container's stop grace period must exceed Grace plus
	// the backup START timeout.
	Grace    time.Duration
	Log      *slog.Logger
	OnListen func(net.Addr) // called once the listener is open (tests use port 0)
	// Repair (nil: none) runs once after the listener opens and before the cron starts: it
	// removes helpers left by an earlier, killed process and starts the services its backups
	// left stopped (jobs.Deps.Repair). Meanwhile /healthz answers, /readyz is 503
	// "repairing" and operations are 503. A failed repair is logged, not fatal: docker may be
	// briefly away.
	Repair func(context.Context) operation.Report
}

// Run serves the API and runs the cron until ctx ends, then shuts down gracefully: no new
// requests or cron runs, running operations get Grace to end, then are aborted safely, and Run
// returns once every one of them has ended.
func Run(ctx context.Context, o RunOptions) error {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	if o.Repair != nil {
		o.Server.setRepairing(true) // before the first request: /readyz and operations wait for it
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	srv := &http.Server{
		Handler:           o.Server.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// No WriteTimeout: a waitRes=true answer comes when the operation ends, within its budget.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("http server listening", "addr", ln.Addr().String())
	if o.OnListen != nil {
		o.OnListen(ln.Addr())
	}
	// The repair runs while the server answers: /healthz at once (the image's health check has
	// a 5 s start period, a repair may wait minutes for a restore), /readyz false until it is done.
	if o.Repair != nil {
		log.Info("start-up repair: removing what an earlier run left behind; /readyz is false until it is done")
		if rep := repairGuarded(ctx, log, o.Repair); !rep.OK {
			var failed []string
			for _, r := range rep.Results {
				if !r.OK {
					failed = append(failed, r.Target+": "+r.Error)
				}
			}
			log.Error("start-up repair incomplete; serving anyway (each operation still checks its target's helpers)", "failed", failed)
		}
		o.Server.setRepairing(false)
	}
	if ctx.Err() != nil {
		if o.Repair != nil {
			log.Info("shut down during the start-up repair")
		}
		o.Cron = nil // never started
	} else if o.Cron != nil {
		o.Cron.Start(o.Server.Context())
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: no new requests or cron runs; running operations may end", "grace", o.Grace.String())
	case serveErr = <-served:
		log.Error("http server failed; shutting down", "err", serveErr)
	}

	if o.Cron != nil {
		o.Cron.Stop()
	}
	// Requests in flight (waitRes=true) end when their operation ends; Shutdown waits for them
	// while the operations are drained below.
	shutdownCtx, cancelShutdown := context.WithCancel(context.Background())
	defer cancelShutdown()
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(shutdownCtx) }()

	graceCtx, cancelGrace := context.WithTimeout(context.Background(), o.Grace)
	drained := drain(graceCtx, o)
	cancelGrace()
	if !drained {
		log.Warn("shutting down: operations still running after the grace period; aborting them safely")
		o.Server.Abort()
		drain(context.Background(), o) // the aborted operations end once their restores are done
	}
	o.Server.Abort() // nothing runs any more; release the context

	// Every operation ended, so every waiting handler has its answer; give the writes a moment.
	select {
	case err := <-shutdown:
		if err != nil && serveErr == nil {
			serveErr = err
		}
	case <-time.After(5 * time.Second):
		cancelShutdown()
		_ = srv.Close()
	}
	log.Info("shut down")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// drain waits for the API's operations and a cron run in progress; false when ctx ended first.
func drain(ctx context.Context, o RunOptions) bool {
	if err := o.Server.Drain(ctx); err != nil {
		return false
	}
	if o.Cron != nil {
		if err := o.Cron.Wait(ctx); err != nil {
			return false
		}
	}
	return true
}

// repairGuarded runs the start-up repair; a panic in it is an incomplete repair, logged, not
// the end of serve (every operation still checks its target's helpers before it starts).
func repairGuarded(ctx context.Context, log *slog.Logger, repair func(context.Context) operation.Report) (rep operation.Report) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("the start-up repair panicked", "panic", fmt.Sprint(p))
			rep = operation.Report{Operation: "recover", Results: []operation.Result{
				operation.Failed("recover", "*", fmt.Errorf("internal error: the repair panicked"))}}
		}
	}()
	return repair(ctx)
}
