package api

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/swarm-utils/swarm-utils/history"
)

// SetBuildInfo exports swarm_utils_build_info{version,goversion} 1.
func (m *Metrics) SetBuildInfo(version string) {
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "swarm_utils_build_info",
		Help: "Always 1; the labels tell the running swarm-utils' version and the Go version it was built with.",
	}, []string{"version", "goversion"})
	m.Registry.MustRegister(info)
	info.WithLabelValues(version, runtime.Version()).Set(1)
}

// SeedLastSuccess sets swarm_utils_last_success_timestamp_seconds from the run history's last
// successes, so that a restart does not look like "never succeeded" to an alert.
func (m *Metrics) SeedLastSuccess(runs []history.Record) {
	for _, r := range runs {
		if r.OK && r.Skipped == "" {
			m.succeeded(r.Operation, r.Target, r.EndedAt())
		}
	}
}

// succeeded records a success that ended at; only known operations (the history holds what
// other versions wrote) and only newer times.
func (m *Metrics) succeeded(op, target string, at time.Time) {
	known := false
	for _, o := range allOperations {
		known = known || o == op
	}
	if !known || target == "" {
		return
	}
	v := float64(at.UnixNano()) / 1e9
	m.lastMu.Lock()
	defer m.lastMu.Unlock()
	key := op + "\x00" + target
	if v <= m.last[key] {
		return
	}
	if m.last == nil {
		m.last = map[string]float64{}
	}
	m.last[key] = v
	m.lastSuccess.WithLabelValues(op, target).Set(v)
}
