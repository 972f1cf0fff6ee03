package api

import (
	"context"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/jobs/update"
	"github.com/swarm-utils/swarm-utils/operation"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Operation names, as operation.Result.Operation spells them.
const (
	OpCleanNode      = "clean-node"
	OpCleanService   = "clean-service"
	OpBackupService  = "backup-service"
	OpUpdateService  = "update-service"
	OpRestoreService = "restore-service"
	OpUpdateCheck    = "update-check"
)

var allOperations = []string{OpCleanNode, OpCleanService, OpBackupService, OpUpdateService, OpRestoreService, OpMoveService, OpUpdateCheck}

// Metrics are swarm-utils' Prometheus metrics on a registry of their own (plus the Go and
// process collectors), served at /metrics.
type Metrics struct {
	Registry   *prometheus.Registry
	operations *prometheus.CounterVec
	durations  *prometheus.HistogramVec
	helpers    *prometheus.CounterVec
	inFlight   *prometheus.GaugeVec
	// lastSuccess is labelled by target: only targets that a run succeeded on (so real ones)
	// become series; unknown names never do.
	lastSuccess *prometheus.GaugeVec
	lastMu      sync.Mutex
	last        map[string]float64 // lastSuccess's values: a seed never moves one back
}

// NewMetrics registers every metric. Known label values start at 0 so that dashboards and
// rate() see a series before the first operation.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "swarm_utils_operations_total",
			Help: "Operations that ended, by operation and outcome (ok, skipped, or the error kind: not_found, busy, invalid, impossible, config, timeout, docker, forbidden, canceled).",
		}, []string{"operation", "outcome"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "swarm_utils_operation_duration_seconds",
			Help:    "Duration of operations that ended, lock wait included.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"operation"}),
		helpers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "swarm_utils_helpers_created_total",
			Help: "Helper services created, by the action they ran for.",
		}, []string{"action"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "swarm_utils_operations_in_flight",
			Help: "Operations running now (waiting for their lock included).",
		}, []string{"operation"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "swarm_utils_last_success_timestamp_seconds",
			Help: "When the last successful (ok, not skipped) run of the operation on the target ended, Unix time; from the run history after a restart.",
		}, []string{"operation", "target"}),
	}
	m.Registry.MustRegister(m.operations, m.durations, m.helpers, m.inFlight, m.lastSuccess,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, op := range allOperations {
		m.operations.WithLabelValues(op, "ok")
		m.inFlight.WithLabelValues(op)
		m.helpers.WithLabelValues(op)
		m.durations.WithLabelValues(op)
	}
	return m
}

// WatchLeftStopped exports count (StoppedCounter.LeftStopped) as the gauge
// swarm_utils_services_left_stopped; -1 until serve's first retry pass.
func (m *Metrics) WatchLeftStopped(count func() int) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "swarm_utils_services_left_stopped",
		Help: "Services a backup left at 0 replicas (label swarm-utils.backup.restore-replicas), as of serve's last retry pass; -1 before it.",
	}, func() float64 { return float64(count()) }))
}

// HelperCreated is jobs.Deps.OnHelperCreated.
func (m *Metrics) HelperCreated(action string) { m.helpers.WithLabelValues(action).Inc() }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// observe counts one ended operation.
func (m *Metrics) observe(op string, r operation.Result) {
	outcome := "ok"
	switch {
	case !r.OK && r.ErrorKind != "":
		outcome = string(r.ErrorKind)
	case !r.OK:
		outcome = "failed"
	case r.Skipped != "":
		outcome = "skipped"
	}
	m.operations.WithLabelValues(op, outcome).Inc()
	if outcome == "ok" {
		m.succeeded(op, r.Target, r.StartedAt.Add(time.Duration(r.Duration)))
	}
	m.durations.WithLabelValues(op).Observe(time.Duration(r.Duration).Seconds())
}

func (m *Metrics) track(op string) func() {
	g := m.inFlight.WithLabelValues(op)
	g.Inc()
	return g.Dec
}

// AllOperations is every pipeline, as *jobs.Deps has them: what the API and the cron call.
type AllOperations interface {
	Operations
	CleanAllNodes(ctx context.Context) operation.Report
}

// Instrumented wraps operations with the metrics; the API and the cron share one, so both
// doors are counted alike.
type Instrumented struct {
	Ops     AllOperations
	Metrics *Metrics
}

func (i Instrumented) run(op string, fn func() operation.Result) operation.Result {
	defer i.Metrics.track(op)()
	r := fn()
	i.Metrics.observe(op, r)
	return r
}

func (i Instrumented) CleanNode(ctx context.Context, name string) operation.Result {
	return i.run(OpCleanNode, func() operation.Result { return i.Ops.CleanNode(ctx, name) })
}

func (i Instrumented) CleanService(ctx context.Context, name string) operation.Result {
	return i.run(OpCleanService, func() operation.Result { return i.Ops.CleanService(ctx, name) })
}

func (i Instrumented) BackupService(ctx context.Context, name string) operation.Result {
	return i.run(OpBackupService, func() operation.Result { return i.Ops.BackupService(ctx, name) })
}

func (i Instrumented) UpdateService(ctx context.Context, o update.Options) operation.Result {
	return i.run(OpUpdateService, func() operation.Result { return i.Ops.UpdateService(ctx, o) })
}

func (i Instrumented) RestoreService(ctx context.Context, o restore.Options) operation.Result {
	return i.run(OpRestoreService, func() operation.Result { return i.Ops.RestoreService(ctx, o) })
}

// CheckUpdate is one update check (updates by digest); the update it may run is part of it.
func (i Instrumented) CheckUpdate(ctx context.Context, name string) operation.Result {
	return i.run(OpUpdateCheck, func() operation.Result { return i.Ops.CheckUpdate(ctx, name) })
}

// CleanAllNodes counts each node's result as one clean-node operation; the whole sweep is one
// in-flight operation.
func (i Instrumented) CleanAllNodes(ctx context.Context) operation.Report {
	defer i.Metrics.track(OpCleanNode)()
	rep := i.Ops.CleanAllNodes(ctx)
	for _, r := range rep.Results {
		i.Metrics.observe(OpCleanNode, r)
	}
	return rep
}
