package schedule

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	cron "github.com/netresearch/go-cron"

	// TZ (and CRON_TZ= in an expression) names a zone that must be known also in an image
	// without /usr/share/zoneinfo (scratch, distroless).
	_ "time/tzdata"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

// The operations a per-target schedule runs (the names of their results).
const (
	OpCleanNode     = "clean-node"
	OpCleanService  = "clean-service"
	OpBackupService = "backup-service"
	OpUpdateCheck   = "update-check"
)

// GlobalUpdateAutoCron names where an update check's expression comes from when the service
// has no swarm-utils.update.auto.cron.
const GlobalUpdateAutoCron = "SWARM_UTILS_UPDATE_AUTO_CRON"

// Entry is one job on its own schedule: a target's label (clean.cron, backup.cron,
// update.auto/update.auto.cron) names the expression it runs on instead of the global cron's.
// An expression that does not parse is an Entry with Error: it is listed, logged and fails the
// target in the global run; it is never silently dropped.
type Entry struct {
	Operation string     `json:"operation"`
	Target    string     `json:"target"`           // service name or node hostname
	NodeID    string     `json:"nodeId,omitempty"` // the node's ID: clean-node acts by ID
	Label     string     `json:"label"`            // where Expr comes from (a label, or GlobalUpdateAutoCron)
	Expr      string     `json:"expr"`
	Next      *time.Time `json:"next,omitempty"`
	Error     string     `json:"error,omitempty"`

	sched cron.Schedule
}

// key identifies an entry across refreshes.
func (e Entry) key() string { return e.Operation + " " + cmp.Or(e.NodeID, e.Target) }

// ParseExpr reads a cron expression: six fields (seconds first), five (seconds = 0), or a
// descriptor such as @daily or @every 1h; a CRON_TZ=Zone (or TZ=Zone) prefix sets its time
// zone, else the process's (TZ). The error names the accepted forms.
func ParseExpr(expr string) (cron.Schedule, error) {
	sched, err := parser.Parse(strings.TrimSpace(expr))
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron expression: %v (five fields \"0 3 * * *\", six with seconds first \"0 0 3 * * *\", or @daily; CRON_TZ=Europe/Berlin in front sets the zone)", expr, err)
	}
	return sched, nil
}

func newEntry(op, target, nodeID, label, expr string, now time.Time) Entry {
	e := Entry{Operation: op, Target: target, NodeID: nodeID, Label: label, Expr: expr}
	sched, err := ParseExpr(expr)
	if err != nil {
		e.Error = fmt.Sprintf("label %s: %v", label, err)
		if label == GlobalUpdateAutoCron {
			e.Error = fmt.Sprintf("%s: %v", label, err)
		}
		return e
	}
	e.sched = sched
	if next := sched.Next(now); !next.IsZero() {
		e.Next = &next
	}
	return e
}

// ForService is the service's own schedules: clean.cron when clean.enable=true, backup.cron
// when backup.enable=true, and an update check when update.auto=true (on update.auto.cron, else
// on cfg.UpdateAutoExpr).
func ForService(svc parse.Service, cfg config.Cron, now time.Time) []Entry {
	var out []Entry
	on := func(label string) bool { v, err := parse.BoolLabel(svc.Labels, label, false); return v && err == nil }
	for _, s := range []struct{ op, enable, cron string }{
		{OpCleanService, parse.LabelCleanEnable, parse.LabelCleanCron},
		{OpBackupService, parse.LabelBackupEnable, parse.LabelBackupCron},
	} {
		if expr, ok := svc.Labels[s.cron]; ok && on(s.enable) {
			out = append(out, newEntry(s.op, svc.Name, "", s.cron, expr, now))
		}
	}
	if on(parse.LabelUpdateAuto) {
		label, expr := GlobalUpdateAutoCron, cfg.UpdateAutoExpr
		if v, ok := svc.Labels[parse.LabelUpdateAutoCron]; ok {
			label, expr = parse.LabelUpdateAutoCron, v
		}
		out = append(out, newEntry(OpUpdateCheck, svc.Name, "", label, expr, now))
	}
	return out
}

// ForNode is the node's own clean-node schedule: clean.cron, unless clean.enable=false.
func ForNode(n parse.Node, now time.Time) []Entry {
	expr, ok := n.Labels[parse.LabelCleanCron]
	if !ok {
		return nil
	}
	if v, err := parse.BoolLabel(n.Labels, parse.LabelNodeCleanEnable, true); err == nil && !v {
		return nil
	}
	return []Entry{newEntry(OpCleanNode, n.Hostname, n.ID, parse.LabelCleanCron, expr, now)}
}

// Entries is every own schedule of these services and nodes, sorted by operation and target.
func Entries(svcs []parse.Service, nodes []parse.Node, cfg config.Cron, now time.Time) []Entry {
	var out []Entry
	for _, s := range svcs {
		out = append(out, ForService(s, cfg, now)...)
	}
	for _, n := range nodes {
		out = append(out, ForNode(n, now)...)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return strings.Compare(a.Operation+" "+a.Target+" "+a.NodeID, b.Operation+" "+b.Target+" "+b.NodeID)
	})
	return out
}

// own is what the global run leaves to the targets' own schedules, by operation and target
// (service name, node ID): a valid entry means "not here", an invalid one "fail it here".
type own map[string]Entry

func ownOf(entries []Entry) own {
	o := own{}
	for _, e := range entries {
		if e.Operation != OpUpdateCheck {
			o[e.key()] = e
		}
	}
	return o
}
