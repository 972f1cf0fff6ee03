package statuspage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/jobs/cleannode"
	"github.com/swarm-utils/swarm-utils/jobs/cleanservice"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/jobs/update"
	"github.com/swarm-utils/swarm-utils/parse"
)

// States of a target and of a job on the page, worst first.
const (
	StateFailed  = "failed"  // a job's last run failed
	StateWarning = "warning" // a stale or missing backup, unusable labels, an invalid schedule
	StateRunning = "running"
	StateOK      = "ok"
	StateIdle    = "idle" // nothing ran yet
)

var stateRank = map[string]int{StateFailed: 0, StateWarning: 1, StateRunning: 2, StateOK: 3, StateIdle: 4}

// worse returns the worse of two states.
func worse(a, b string) string {
	if stateRank[b] < stateRank[a] {
		return b
	}
	return a
}

// newestBackups is how many archives a service shows.
const newestBackups = 4

// pageBudget bounds the reads of one page (listings, history, S3 catalogues).
const pageBudget = 20 * time.Second

// backupReaders is how many S3 listings one page runs at once.
const backupReaders = 4

type pageView struct {
	Now              time.Time
	Admin            bool
	Failing, Warning int
	OK               int
	Services, Nodes  []*targetView
	Unlabelled       int      // services with no swarm-utils job, not shown
	Errors           []string // a listing failed
	CronOff          bool     // no schedule at all
}

type targetView struct {
	Kind, Name, Detail string
	DetailFull         string // the detail before it was shortened (a tooltip)
	State              string
	Jobs               []*jobView
	Notes              []string // label problems
	HasBackup          bool
	Backups            []archiveView
	BackupMore         int    // archives not shown
	BackupError        string // the catalogue could not be read
	BackupWarning      string // stale or missing

	svc   parse.Service
	mask  func(string) string
	runs  map[string]Run
	order string // for sorting: the name
}

type jobView struct {
	Operation string
	Enabled   bool
	Disabled  string // why the job does not run here
	Last      *runView
	Next      time.Time
	NextError string
	State     string
}

type runView struct {
	State     string
	StartedAt time.Time
	Duration  time.Duration
	Note      string // the error or why it was skipped, masked
}

type archiveView struct {
	Time   time.Time
	Node   string
	Size   int64
	Safety bool
}

// build reads what tok may see and lays it out, failing targets first.
func (p *Page) build(ctx context.Context, tok authz.Token, admin bool) *pageView {
	ctx, cancel := context.WithTimeout(ctx, pageBudget)
	defer cancel()
	now := p.o.Now()
	v := &pageView{Now: now.UTC(), Admin: admin, CronOff: p.o.Schedules == nil}

	// What tok may see first, so that the runs of all of it are read at once.
	var targets []Target
	var svcs []parse.Service
	all, err := p.o.Targets.Services(ctx)
	if err != nil {
		v.Errors = append(v.Errors, p.maskWith(nil, tok)("list services: "+err.Error()))
	}
	for _, svc := range all {
		if admin || tokenOfService(tok, svc.Labels) {
			svcs = append(svcs, svc)
			targets = append(targets, Target{Kind: KindService, Name: svc.Name, ID: svc.ID, Labels: svc.Labels})
		}
	}
	var nodes []parse.Node
	allNodes, err := p.o.Targets.Nodes(ctx)
	if err != nil {
		v.Errors = append(v.Errors, p.maskWith(nil, tok)("list nodes: "+err.Error()))
	}
	for _, n := range allNodes {
		if admin || tok.Matches(strings.TrimSpace(n.Labels[authz.LabelNodeCleanToken])) {
			nodes = append(nodes, n)
			targets = append(targets, Target{Kind: KindNode, Name: n.Hostname, ID: n.ID, Labels: n.Labels})
		}
	}
	runs, runsErr := p.lastRuns(ctx, targets)

	for i, svc := range svcs {
		t := p.serviceView(tok, svc, targets[i], runs[i], runsErr, now)
		if t == nil {
			v.Unlabelled++
			continue
		}
		v.Services = append(v.Services, t)
	}
	p.readBackups(ctx, v.Services, now)
	for i, n := range nodes {
		i += len(svcs)
		v.Nodes = append(v.Nodes, p.nodeView(tok, n, targets[i], runs[i], runsErr, now))
	}

	for _, list := range [][]*targetView{v.Services, v.Nodes} {
		for _, t := range list {
			for _, j := range t.Jobs {
				t.State = worse(t.State, j.State)
			}
			if len(t.Notes) > 0 || t.BackupWarning != "" || t.BackupError != "" {
				t.State = worse(t.State, StateWarning)
			}
			switch t.State {
			case StateFailed:
				v.Failing++
			case StateWarning:
				v.Warning++
			default:
				v.OK++
			}
		}
		sortTargets(list)
	}
	return v
}

// sortTargets puts failing targets first, then warnings, then the rest, each by name.
func sortTargets(list []*targetView) {
	slices.SortStableFunc(list, func(a, b *targetView) int {
		ra, rb := stateRank[a.State], stateRank[b.State]
		if ra > stateRank[StateRunning] {
			ra = stateRank[StateRunning] // running, ok and idle are alike: by name
		}
		if rb > stateRank[StateRunning] {
			rb = stateRank[StateRunning]
		}
		return cmp.Or(cmp.Compare(ra, rb), strings.Compare(a.order, b.order))
	})
}

// labelOn reads an enable label as the cron does: "true" in any case.
func labelOn(labels map[string]string, key string) bool {
	return strings.EqualFold(strings.TrimSpace(labels[key]), "true")
}

// tokenOfService tells whether tok is one of the service's action tokens.
func tokenOfService(tok authz.Token, labels map[string]string) bool {
	for _, l := range []string{authz.LabelCleanToken, authz.LabelBackupToken, authz.LabelUpdateToken, authz.LabelRestoreToken} {
		if tok.Matches(strings.TrimSpace(labels[l])) {
			return true
		}
	}
	return false
}

// maskWith hides the configured secrets, the target's secret label values and the presented
// token in free text.
func (p *Page) maskWith(labels map[string]string, tok authz.Token) func(string) string {
	secrets := bashexec.NewSecrets(p.o.Config.SecretValues()...)
	secrets.Add(tok.Raw)
	masked := parse.MaskedLabels(labels)
	for k, v := range labels {
		if masked[k] != v {
			secrets.Add(strings.TrimSpace(v), v)
		}
	}
	return secrets.Mask
}

// serviceView is the service's card; nil when no job is enabled on it and none ever ran.
func (p *Page) serviceView(tok authz.Token, svc parse.Service, target Target, runs map[string]Run, runsErr error, now time.Time) *targetView {
	// The image without its digest: 64 hex digits would fill a phone's card.
	image, _, _ := strings.Cut(svc.Image, "@")
	t := &targetView{Kind: KindService, Name: svc.Name, order: svc.Name, Detail: image, DetailFull: svc.Image, State: StateIdle,
		svc: svc, mask: p.maskWith(svc.Labels, tok), runs: runs}
	t.noteRunsError(runsErr)

	c, cerr := cleanservice.SettingsFromLabels(svc.Labels, p.o.Config)
	b, berr := backup.SettingsFromLabels(svc.Labels, p.o.Config)
	u, uerr := update.SettingsFromLabels(svc.Labels, p.o.Config)
	for _, e := range []error{cerr, berr, uerr} {
		if e != nil {
			t.Notes = append(t.Notes, t.mask("labels: "+e.Error()))
		}
	}
	// A job whose labels are unusable is still shown as enabled (with the note): its runs fail.
	t.HasBackup = b.Enabled
	for _, j := range []struct {
		op      string
		enabled bool
		cron    bool
	}{
		{OpCleanService, c.Enabled || labelOn(svc.Labels, parse.LabelCleanEnable), true},
		{OpBackupService, b.Enabled || labelOn(svc.Labels, parse.LabelBackupEnable), true},
		{OpUpdateService, u.Enabled || labelOn(svc.Labels, parse.LabelUpdateEnable), false},
		{OpRestoreService, false, false}, // on demand only: shown once it ran
	} {
		if jv := p.jobView(t, target, j.op, j.enabled, j.cron, now); jv != nil {
			t.Jobs = append(t.Jobs, jv)
		}
	}
	if len(t.Jobs) == 0 && len(t.Notes) == 0 {
		return nil
	}
	return t
}

func (p *Page) nodeView(tok authz.Token, n parse.Node, target Target, runs map[string]Run, runsErr error, now time.Time) *targetView {
	t := &targetView{Kind: KindNode, Name: n.Hostname, order: n.Hostname, Detail: strings.Join([]string{n.Role, n.State, n.Availability}, " · "),
		State: StateIdle, mask: p.maskWith(n.Labels, tok), runs: runs}
	t.noteRunsError(runsErr)
	s, err := cleannode.SettingsFromLabels(n.Labels, p.o.Config)
	if err != nil {
		t.Notes = append(t.Notes, t.mask("labels: "+err.Error()))
	}
	enabled := s.Enabled && (s.Container || s.Image || s.Builder)
	jv := p.jobView(t, target, OpCleanNode, enabled, true, now)
	if jv == nil {
		jv = &jobView{Operation: OpCleanNode, State: StateIdle, Disabled: "disabled by the node's labels"}
	}
	t.Jobs = append(t.Jobs, jv)
	return t
}

// lastRuns reads the runs of every target at once: out[i] is the newest run of each operation
// on targets[i]. A failed read leaves every target without runs (and with the error).
func (p *Page) lastRuns(ctx context.Context, targets []Target) ([]map[string]Run, error) {
	out := make([]map[string]Run, len(targets))
	for i := range out {
		out[i] = map[string]Run{}
	}
	if p.o.Runs == nil || len(targets) == 0 {
		return out, nil
	}
	runs, err := p.o.Runs.LastRuns(ctx, targets)
	if err != nil {
		return out, err
	}
	for i := range min(len(runs), len(targets)) {
		for _, r := range runs[i] {
			if old, ok := out[i][r.Operation]; !ok || r.StartedAt.After(old.StartedAt) {
				out[i][r.Operation] = r
			}
		}
	}
	return out, nil
}

// noteRunsError tells on the card that the run history could not be read.
func (t *targetView) noteRunsError(err error) {
	if err != nil {
		t.Notes = append(t.Notes, t.mask("run history: "+err.Error()))
	}
}

// jobView is one job's row; nil when it is not enabled and never ran.
func (p *Page) jobView(t *targetView, target Target, op string, enabled, cron bool, now time.Time) *jobView {
	last, ran := t.runs[op]
	if !enabled && !ran {
		return nil
	}
	j := &jobView{Operation: op, Enabled: enabled, State: StateIdle}
	if !enabled {
		j.Disabled = "not enabled by the labels"
	}
	if ran {
		r := &runView{StartedAt: last.StartedAt, Duration: last.Duration}
		switch {
		case last.Running:
			r.State = StateRunning
		case !last.OK:
			r.State, r.Note = StateFailed, t.mask(strings.TrimSpace(string(last.ErrorKind)+": "+last.Error))
			if last.ErrorKind == "" {
				r.Note = t.mask(last.Error)
			}
		case last.Skipped != "":
			r.State, r.Note = StateOK, t.mask("skipped: "+last.Skipped)
		default:
			r.State = StateOK
		}
		j.Last, j.State = r, r.State
	}
	if enabled && cron && p.o.Schedules != nil {
		next, ok, err := p.o.Schedules.Next(op, target, now)
		switch {
		case err != nil:
			j.NextError = t.mask(err.Error())
			j.State = worse(j.State, StateWarning)
		case ok:
			j.Next = next
		}
	}
	return j
}

// readBackups lists the archives of the services with backups enabled, a few at a time, and
// judges whether the newest is stale.
func (p *Page) readBackups(ctx context.Context, list []*targetView, now time.Time) {
	if p.o.Backups == nil {
		return
	}
	sem := make(chan struct{}, backupReaders)
	var wg sync.WaitGroup
	for _, t := range list {
		if !t.HasBackup {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			listing, err := p.o.Backups.BackupsOf(ctx, t.svc)
			if err != nil {
				t.BackupError = t.mask(err.Error())
				return
			}
			archives := listing.Archives
			for i, a := range archives {
				if i == newestBackups {
					t.BackupMore = len(archives) - i
					break
				}
				t.Backups = append(t.Backups, archiveView{Time: a.Time, Node: a.Node, Size: a.Size, Safety: a.Safety})
			}
			t.BackupWarning = p.staleness(t, archives, now)
		}()
	}
	wg.Wait()
}

// staleness is the warning for a service whose newest archive is older than its schedule
// allows: StaleAfter scheduled runs have passed since it (or no archive exists while the cron
// backs the service up). No schedule: no judgement.
func (p *Page) staleness(t *targetView, archives []restore.Archive, now time.Time) string {
	if p.o.Schedules == nil {
		return ""
	}
	target := Target{Kind: KindService, Name: t.svc.Name, ID: t.svc.ID, Labels: t.svc.Labels}
	if len(archives) == 0 {
		if _, ok, err := p.o.Schedules.Next(OpBackupService, target, now); ok && err == nil {
			return "no backup yet: the cron backs this service up, but its S3 location holds no archive of it"
		}
		return ""
	}
	newest := archives[0].Time
	at := newest
	for i := 0; i < p.o.StaleAfter; i++ {
		next, ok, err := p.o.Schedules.Next(OpBackupService, target, at)
		// A run due this very instant is not missed yet: it is starting.
		if !ok || err != nil || !next.Before(now) {
			return ""
		}
		at = next
	}
	return fmt.Sprintf("stale: the newest backup is from %s, and %d scheduled backups have been due since (the last at %s)",
		newest.UTC().Format(timeLayout), p.o.StaleAfter, at.UTC().Format(timeLayout))
}
