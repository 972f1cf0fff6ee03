// Package api is swarm-utils' HTTP door: the four operations for CI pipelines (token-guarded
// by package authz, SPEC §4), background jobs (waitRes=false), read-only listings, probes and
// metrics.
package api

import (
	"context"
	"github.com/swarm-utils/swarm-utils/jobs/update"
	"github.com/swarm-utils/swarm-utils/operation"
	"log/slog"
	"sync"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Operations are the pipelines the API starts; *jobs.Deps (or Instrumented) in production.
type Operations interface {
	CleanNode(ctx context.Context, name string) operation.Result
	CleanService(ctx context.Context, name string) operation.Result
	BackupService(ctx context.Context, name string) operation.Result
	UpdateService(ctx context.Context, o update.Options) operation.Result
}

// Targets reads what authorisation and the listings need; *jobs.Deps in production.
type Targets interface {
	// Service returns the service named exactly name; an error of operation.KindNotFound when
	// there is none.
	Service(ctx context.Context, name string) (parse.Service, error)
	Services(ctx context.Context) ([]parse.Service, error)
	Nodes(ctx context.Context) ([]parse.Node, error)
	Ping(ctx context.Context) error
}

// Options configure a Server.
type Options struct {
	Ops     Operations
	Targets Targets
	Config  config.Config // admin tokens, OIDC, and the defaults behind the labels shown by the listings
	Log     *slog.Logger
	Metrics *Metrics // nil: /metrics answers 404
	MaxJobs int      // 0: DefaultMaxJobs
}

// Server holds the handlers' state: the job store and the lifetime of the operations it
// started, which is the server's, not any request's.
type Server struct {
	ops     Operations
	targets Targets
	auth    *authz.Authorizer
	cfg     config.Config
	log     *slog.Logger
	metrics *Metrics
	jobs    *jobStore

	ctx    context.Context // operations run under it; Abort cancels it
	cancel context.CancelFunc

	mu      sync.Mutex
	closing bool
	running sync.WaitGroup
}

// New builds a Server; its operations run until Abort.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{ops: o.Ops, targets: o.Targets, cfg: o.Config, log: o.Log, metrics: o.Metrics,
		auth: authz.New(authz.Options{Config: o.Config, Targets: o.Targets, Log: o.Log}),
		jobs: newJobStore(o.MaxJobs), ctx: ctx, cancel: cancel}
}

// Context is the operations' lifetime; the cron runs under it too, so one Abort stops both.
func (s *Server) Context() context.Context { return s.ctx }

// Abort cancels every running operation; each one ends safely (helpers removed, services
// scaled back) and reports KindCanceled.
func (s *Server) Abort() { s.cancel() }

// Drain refuses new operations (503) and waits until the running ones ended or ctx is done.
func (s *Server) Drain(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
