// Package api is swarm-utils' HTTP door: the four operations for CI pipelines (token-guarded
// by package authz, SPEC §4), background jobs (waitRes=false), read-only listings, probes and
// metrics.
package api

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/api/statuspage"
	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/jobs/update"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Operations are the pipelines the API starts; *jobs.Deps (or Instrumented) in production.
type Operations interface {
	CleanNode(ctx context.Context, name string) operation.Result
	CleanService(ctx context.Context, name string) operation.Result
	BackupService(ctx context.Context, name string) operation.Result
	UpdateService(ctx context.Context, o update.Options) operation.Result
	RestoreService(ctx context.Context, o restore.Options) operation.Result
	CheckUpdate(ctx context.Context, name string) operation.Result
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

// Catalogue lists a service's backup archives; *jobs.Deps in production.
type Catalogue interface {
	BackupsOf(ctx context.Context, svc parse.Service) (restore.Listing, error)
}

// Options configure a Server.
type Options struct {
	Ops     Operations
	Targets Targets
	Backups Catalogue     // nil: GET /api/backups answers 404
	Volumes VolumeLister  // nil: GET /api/volumes answers 404
	Config  config.Config // admin tokens, OIDC, and the defaults behind the labels shown by the listings
	Log     *slog.Logger
	Metrics *Metrics // nil: /metrics answers 404
	MaxJobs int      // 0: DefaultMaxJobs
	// JobsPerToken bounds the queued or running jobs of one non-admin token (0:
	// DefaultJobsPerToken).
	JobsPerToken int
	// MaxInFlight bounds the API requests being read and authorised at once (0:
	// DefaultMaxInFlight); probes are not counted. One past it waits up to AdmitWait (0:
	// DefaultAdmitWait; negative: not at all) for a slot, then is 503.
	MaxInFlight int
	AdmitWait   time.Duration
	// Secrets is the process's masker (*bashexec.Secrets of the operations): plain label tokens
	// are registered in it when read, and every access-log field passes through it. nil: one of
	// the server's own, holding the configured secrets.
	Secrets *bashexec.Secrets
	Now     func() time.Time // clock of the caches and token lifetimes; nil: time.Now
	// Runs is the status page's run history (nil: History's, with the job store's running
	// jobs; without History the job store's runs alone); Schedules its cron
	// times (nil: no cron shown). See package statuspage.
	Runs      statuspage.Runs
	Schedules statuspage.Schedules
	// History is the run history (nil: off or unavailable; GET /api/runs says which);
	// HistoryDown is why its store could not be opened ("" when it is off or fine).
	History     RunHistory
	HistoryDown string
}

// Server holds the handlers' state: the job store and the lifetime of the operations it
// started, which is the server's, not any request's.
type Server struct {
	ops       Operations
	targets   Targets
	backups   Catalogue
	volumes   VolumeLister
	auth      *authz.Authorizer
	cfg       config.Config
	log       *slog.Logger
	metrics   *Metrics
	jobs      *jobStore
	secrets   *bashexec.Secrets
	now       func() time.Time
	inFlight  chan struct{} // a slot per request in flight
	admitWait time.Duration
	ready     readiness
	runs      statuspage.Runs
	schedules statuspage.Schedules
	history   RunHistory
	// historyDown is why the run history's store could not be opened: /readyz shows it.
	historyDown string
	// cfgSecrets are cfg.SecretValues(), read once: the listings' maskers start from them.
	cfgSecrets []string

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
	if o.Secrets == nil {
		o.Secrets = bashexec.NewSecrets()
	}
	cfgSecrets := o.Config.SecretValues()
	o.Secrets.Add(cfgSecrets...)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	switch {
	case o.AdmitWait == 0:
		o.AdmitWait = DefaultAdmitWait
	case o.AdmitWait < 0:
		o.AdmitWait = 0
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{inFlight: make(chan struct{}, o.MaxInFlight), admitWait: o.AdmitWait, ops: o.Ops, targets: o.Targets, backups: o.Backups, volumes: o.Volumes, cfg: o.Config, log: o.Log, metrics: o.Metrics, secrets: o.Secrets, now: o.Now,
		auth: authz.New(authz.Options{Config: o.Config, Targets: o.Targets, Log: o.Log, Now: o.Now, Secrets: o.Secrets}),
		jobs: newJobStore(o.MaxJobs, o.JobsPerToken), runs: o.Runs, schedules: o.Schedules, ctx: ctx, cancel: cancel,
		history: o.History, historyDown: o.HistoryDown, cfgSecrets: cfgSecrets}
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
