package commands

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/parse"
)

const opBackupService = "backup-service"

const (
	// labelRestoreReplicas is put on a service while backup-service holds it at 0 replicas: the
	// replica count to go back to, kept in the cluster so that a crash of swarm-utils between
	// stop and start is repaired by the next run (SPEC §5: the stop/start pair is airtight).
	labelRestoreReplicas = "swarm-utils.backup.restore-replicas"
	// labelStackNamespace names the stack of a service deployed with `docker stack deploy`;
	// its volumes are named "<stack>_<volume>".
	labelStackNamespace = "com.docker.stack.namespace"
	// volumeCheckTimeout bounds the helper that lists which volumes exist on a node.
	volumeCheckTimeout = 30 * time.Second
	// uploadedLine is what offen/docker-volume-backup logs after a successful upload; with no
	// storage configured it exits 0 without it (SPEC §5), so success is read, not assumed.
	uploadedLine = "Uploaded a copy of backup"
)

var (
	uploadedRe = regexp.MustCompile("Uploaded a copy of backup `([^`]*)` to bucket `([^`]*)`")
	prunedRe   = regexp.MustCompile(`Pruned (\d+) out of (\d+) backups`)
	// errorLineRe finds the message of an error line of slog's text handler (offen's format).
	errorLineRe = regexp.MustCompile(`level=ERROR msg=("(?:[^"\\]|\\.)*"|\S+)`)
)

// backupVolume is one configured volume: Entry as written in the label (the folder in the
// archive, backup/<Entry>/...), Source the docker volume the service mounts.
type backupVolume struct{ Entry, Source string }

// taskNode is a node that runs at least one task of the target service.
type taskNode struct{ ID, Name string }

// BackupService uploads the service's named volumes to S3 from every node that runs one of its
// tasks: optional pre-command in every task (a failure is reported and the backup goes on),
// optional stop (scale to 0, replicated services only), one uploader helper per node, then start
// again at the previous replica count — also when anything in between fails or is cancelled.
//
// A failed pre-command fails the operation (OK false) but the upload and the start still run.
func (d *Deps) BackupService(ctx context.Context, name string) Result {
	svc, err := d.inspectService(ctx, name)
	if err != nil {
		return failed(opBackupService, name, err)
	}
	settings, err := parse.BackupSettingsFromLabels(svc.Labels, d.Config)
	if err != nil {
		// Missing S3 values and volumes are reported here, naming the label and the variable.
		return failed(opBackupService, name, errorf(KindConfig, "service %s backup settings: %w", name, err))
	}
	if !settings.Enabled {
		return failed(opBackupService, name, errorf(KindNotFound, "service %s is not enabled for backup (label %s=true)", name, parse.LabelBackupEnable))
	}
	d.Secrets.Add(settings.S3.AccessKey, settings.S3.SecretKey)
	if err := settings.S3.Validate(); err != nil {
		return failed(opBackupService, name, errorf(KindConfig, "service %s S3 settings: %w", name, err))
	}
	if len(settings.Volumes) == 0 {
		return failed(opBackupService, name, errorf(KindConfig, "service %s: label %s lists no volumes", name, parse.LabelBackupVolumes))
	}
	if settings.Stop && svc.Mode != parse.ModeReplicated {
		return failed(opBackupService, name, errorf(KindImpossible,
			"service %s is %s: %s=true needs a replicated service (only those can be scaled to 0 and back); set it to false",
			name, svc.Mode, parse.LabelBackupStop))
	}
	vols, err := backupVolumes(svc, settings.Volumes)
	if err != nil {
		return failed(opBackupService, name, err)
	}

	lockKey := serviceLockKey(name)
	var (
		tasks     []runningTask
		nodes     []taskNode
		recovered *Step
	)
	prepare := func(ctx context.Context) error {
		// Read again under the lock: the replica count may have changed while we waited.
		fresh, err := d.inspectService(ctx, name)
		if err != nil {
			return err
		}
		if st, ok := d.recoverStopped(ctx, fresh, settings.StartTimeout); ok {
			recovered = &st
			if !st.OK {
				return errorf(KindDocker, "service %s was left stopped by an earlier backup and could not be started: %s", name, st.Error)
			}
			if fresh, err = d.inspectService(ctx, name); err != nil {
				return err
			}
		}
		svc = fresh
		if tasks, err = d.runningTasks(ctx, svc); err != nil {
			return err
		}
		nodes = nodesOf(tasks)
		return nil
	}
	budget := func() time.Duration {
		pending := d.Config.Timeouts.Pending
		n := time.Duration(max(len(nodes), 1))
		var b time.Duration
		if settings.Exec != "" {
			b += (settings.ExecTimeout+pending)*time.Duration(max(len(tasks), 1)) + helperSlack*n
		}
		b += (volumeCheckTimeout + pending + settings.UploadTimeout + pending) * n
		if settings.Stop {
			b += settings.StopTimeout + settings.StartTimeout
		}
		return b
	}
	return d.operation(ctx, opBackupService, name, lockKey, budget, func(ctx context.Context, r *Result) error {
		if recovered != nil {
			r.Steps = append(r.Steps, *recovered)
		}
		if len(tasks) == 0 {
			r.Skipped = "no running tasks: no node holds a task whose volumes could be uploaded"
			return nil
		}
		if settings.Exec != "" {
			// A failed pre-command is reported in its step; the backup goes on (README).
			r.Steps = append(r.Steps, d.execInTasks(ctx, opBackupService, lockKey, name, "pre-exec", tasks, settings.Shell, settings.Exec, settings.ExecTimeout)...)
		}
		if settings.Stop && svc.Replicas > 0 {
			prev := svc.Replicas
			// Registered before the scale-down is issued: from then on the start always runs,
			// on cancel, timeout, failure and panic alike.
			defer func() {
				r.Steps = append(r.Steps, d.restoreReplicas(ctx, name, prev, settings.StartTimeout))
			}()
			st := d.scaleDown(ctx, name, prev, settings.StopTimeout)
			r.Steps = append(r.Steps, st)
			if !st.OK {
				// Tasks may still be writing: an archive now would not be the consistent one
				// the stop was asked for.
				return ctxErr(ctx)
			}
		}
		r.Steps = append(r.Steps, d.uploadFromNodes(ctx, name, lockKey, settings, vols, nodes)...)
		return ctxErr(ctx)
	}, prepare)
}

// ctxErr is the context's error once it ended (budget or shutdown), so that the operation
// reports a timeout or cancel as such rather than as the step it interrupted.
func ctxErr(ctx context.Context) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// backupVolumes maps the configured names to the service's volume mounts: an entry v matches a
// mount of type volume whose source is v, or <stack>_v for a stack-deployed service.
func backupVolumes(svc parse.Service, entries []string) ([]backupVolume, error) {
	stack := svc.Labels[labelStackNamespace]
	var mounted []string
	for _, m := range svc.Mounts {
		if m.Type == "volume" && m.Source != "" {
			mounted = append(mounted, m.Source)
		}
	}
	var vols []backupVolume
	var unknown []string
	for _, e := range entries {
		src := ""
		for _, m := range mounted {
			if m == e || (stack != "" && m == stack+"_"+e) {
				src = m
				break
			}
		}
		switch {
		case src == "":
			unknown = append(unknown, e)
		case !slices.ContainsFunc(vols, func(v backupVolume) bool { return v.Source == src }):
			vols = append(vols, backupVolume{Entry: e, Source: src})
		}
	}
	if len(unknown) > 0 {
		have := "none"
		if len(mounted) > 0 {
			have = strings.Join(mounted, ", ")
		}
		return nil, errorf(KindConfig, "service %s: label %s names %s, which the service does not mount as a named volume (its volume mounts: %s)",
			svc.Name, parse.LabelBackupVolumes, strings.Join(unknown, ", "), have)
	}
	return vols, nil
}

// nodesOf returns the distinct nodes of tasks, by hostname.
func nodesOf(tasks []runningTask) []taskNode {
	seen := map[string]bool{}
	var nodes []taskNode
	for _, t := range tasks {
		if !seen[t.NodeID] {
			seen[t.NodeID] = true
			nodes = append(nodes, taskNode{ID: t.NodeID, Name: t.Node})
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	return nodes
}

// scaleDown records the replica count on the service and scales it to 0 in one update, then
// waits until none of its tasks runs any more.
func (d *Deps) scaleDown(ctx context.Context, name string, replicas uint64, timeout time.Duration) (st Step) {
	started := time.Now()
	n := strconv.FormatUint(replicas, 10)
	st = Step{Name: "stop", OK: true, Details: map[string]string{"replicas": n}}
	defer func() { st.Duration = Duration(time.Since(started)) }()
	if _, err := d.docker(ctx, false, readTimeout, "service", "update", "--detach",
		"--label-add", labelRestoreReplicas+"="+n, "--replicas", "0", "--", name); err != nil {
		st.OK, st.Error = false, fmt.Sprintf("scale %s to 0: %v", name, err)
		return st
	}
	if d.Config.DryRun {
		return st
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := d.pollTasks(wctx, name, false, func(rows []parse.TaskRow) (bool, string) {
		active := 0
		for _, r := range rows {
			if !terminalState(taskState(r)) {
				active++
			}
		}
		return active == 0, fmt.Sprintf("%d task(s) still running", active)
	})
	if err != nil {
		st.OK, st.Error = false, fmt.Sprintf("stop %s within %s: %v", name, timeout, err)
	}
	return st
}

// restoreReplicas scales the service back to replicas, drops the restore label and waits until
// that many tasks run. It runs on a context of its own (StartTimeout): the operation's may be
// over already. A failing update is retried until the timeout: the service must not stay at 0.
func (d *Deps) restoreReplicas(ctx context.Context, name string, replicas uint64, timeout time.Duration) (st Step) {
	started := time.Now()
	n := strconv.FormatUint(replicas, 10)
	st = Step{Name: "start", OK: true, Details: map[string]string{"replicas": n}}
	defer func() { st.Duration = Duration(time.Since(started)) }()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	for {
		_, err := d.docker(rctx, false, readTimeout, "service", "update", "--detach",
			"--replicas", n, "--label-rm", labelRestoreReplicas, "--", name)
		if err == nil {
			break
		}
		if isNoSuch(err) || rctx.Err() != nil {
			st.OK, st.Error = false, fmt.Sprintf("scale %s back to %s: %v", name, n, err)
			d.Log.Error("service left scaled down; restore it by hand", "service", name, "cmd",
				fmt.Sprintf("docker service update --replicas %s --label-rm %s %s", n, labelRestoreReplicas, name), "err", err)
			return st
		}
		d.Log.Warn("scale back failed, retrying", "service", name, "replicas", n, "err", err)
		select {
		case <-rctx.Done():
		case <-time.After(10 * d.PollInterval):
		}
	}
	if d.Config.DryRun {
		return st
	}
	err := d.pollTasks(rctx, name, true, func(rows []parse.TaskRow) (bool, string) {
		running := 0
		for _, r := range rows {
			if taskState(r) == "running" {
				running++
			}
		}
		return uint64(running) >= replicas, fmt.Sprintf("%d of %s task(s) running", running, n)
	})
	if err != nil {
		st.OK, st.Error = false, fmt.Sprintf("start %s at %s replicas within %s: %v", name, n, timeout, err)
	}
	return st
}

// pollTasks reads the service's tasks (only those desired running when desiredRunning) every
// PollInterval until done says so or ctx ends; the error then carries done's last account.
func (d *Deps) pollTasks(ctx context.Context, name string, desiredRunning bool, done func([]parse.TaskRow) (bool, string)) error {
	args := []string{"service", "ps", "--no-trunc", "--format", "json"}
	if desiredRunning {
		args = append(args, "--filter", "desired-state=running")
	}
	args = append(args, "--", name)
	tick := time.NewTicker(d.PollInterval)
	defer tick.Stop()
	last := "no answer yet"
	for {
		out, err := d.docker(ctx, true, readTimeout, args...)
		if err == nil {
			var rows []parse.TaskRow
			if rows, err = parse.ServicePs(out); err == nil {
				ok, account := done(rows)
				if ok {
					return nil
				}
				last = account
			}
		}
		if err != nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%s)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// recoverStopped repairs a service left at 0 replicas by a backup that never reached its start
// (swarm-utils crashed or was killed): it carries labelRestoreReplicas. ok is false when there
// was nothing to repair.
func (d *Deps) recoverStopped(ctx context.Context, svc parse.Service, timeout time.Duration) (Step, bool) {
	v, has := svc.Labels[labelRestoreReplicas]
	if !has || svc.Mode != parse.ModeReplicated {
		return Step{}, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil || svc.Replicas > 0 {
		// Someone scaled it since (or the label is not ours to read): keep their count, drop
		// the stale label.
		n = svc.Replicas
	}
	d.Log.Warn("service was left stopped by an earlier backup: starting it again", "service", svc.Name, "replicas", n)
	st := d.restoreReplicas(ctx, svc.Name, n, timeout)
	st.Name = "recover-start"
	return st, true
}

// RecoverStoppedServices starts again every service that a backup left at 0 replicas (it
// carries labelRestoreReplicas), each under its lock. Call it when swarm-utils starts.
func (d *Deps) RecoverStoppedServices(ctx context.Context) Report {
	return d.recoverStoppedServices(ctx, "")
}

// recoverStoppedServices is RecoverStoppedServices, for the service named only when set.
func (d *Deps) recoverStoppedServices(ctx context.Context, only string) Report {
	started := time.Now()
	rep := Report{Operation: "backup-recover", OK: true, Results: []Result{}}
	defer func() { rep.Duration = Duration(time.Since(started)) }()
	out, err := d.docker(ctx, true, readTimeout, "service", "ls", "--filter", "label="+labelRestoreReplicas, "--format", "json")
	var rows []parse.ServiceRow
	if err == nil {
		rows, err = parse.ServiceLs(out)
	}
	if err != nil {
		rep.OK = false
		rep.Results = append(rep.Results, failed(rep.Operation, "*", fmt.Errorf("list services left stopped: %w", err)))
		return rep
	}
	for _, row := range rows {
		if only != "" && row.Name != only {
			continue
		}
		timeout := d.Config.Timeouts.BackupStart
		var svc parse.Service
		res := d.operation(ctx, rep.Operation, row.Name, serviceLockKey(row.Name), func() time.Duration { return timeout }, func(ctx context.Context, r *Result) error {
			if st, ok := d.recoverStopped(ctx, svc, timeout); ok {
				r.Steps = append(r.Steps, st)
			} else {
				r.Skipped = "not stopped by a backup any more"
			}
			return nil
		}, func(ctx context.Context) error {
			var err error
			svc, err = d.inspectService(ctx, row.Name)
			if err == nil {
				if s, perr := parse.BackupSettingsFromLabels(svc.Labels, d.Config); perr == nil && s.StartTimeout > 0 {
					timeout = s.StartTimeout
				}
			}
			return err
		})
		rep.OK = rep.OK && res.OK
		rep.Results = append(rep.Results, res)
	}
	return rep
}

// uploadFromNodes runs, on every node in parallel, the volume check and then the uploader.
func (d *Deps) uploadFromNodes(ctx context.Context, service, lockKey string, settings parse.BackupSettings, vols []backupVolume, nodes []taskNode) []Step {
	perNode := make([][]Step, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			defer func() {
				// A panic here would kill the process before the deferred start could run.
				if p := recover(); p != nil {
					d.Log.Error("backup on node panicked", "service", service, "node", n.Name, "panic", p)
					perNode[i] = append(perNode[i], Step{Name: "upload", Node: n.Name, Error: fmt.Sprintf("internal error: %v", p)})
				}
			}()
			perNode[i] = d.backupOnNode(ctx, service, lockKey, settings, vols, n)
		})
	}
	wg.Wait()
	var steps []Step
	for _, s := range perNode {
		steps = append(steps, s...)
	}
	return steps
}

// backupOnNode checks which volumes exist on the node (mounting a missing one would create it
// empty) and uploads those in one archive named after service, node and time.
func (d *Deps) backupOnNode(ctx context.Context, service, lockKey string, settings parse.BackupSettings, vols []backupVolume, node taskNode) []Step {
	check, present := d.checkVolumes(ctx, service, lockKey, vols, node)
	if !check.OK {
		return []Step{check}
	}
	up := Step{Name: "upload", Node: node.Name, OK: true}
	if len(present) == 0 {
		up.Details = map[string]string{"skipped": "none of the volumes exists on this node"}
		return []Step{check, up}
	}
	s3 := settings.S3
	proto := "http"
	if s3.HTTPS {
		proto = "https"
	}
	env := []string{
		"AWS_ENDPOINT=" + s3.URL,
		"AWS_ENDPOINT_PROTO=" + proto,
		"AWS_S3_BUCKET_NAME=" + s3.Bucket,
		"AWS_ACCESS_KEY_ID=" + s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s3.SecretKey,
		"AWS_S3_PATH=" + service,
		"BACKUP_FILENAME=" + service + "_" + node.Name + "_%Y-%m-%dT%H-%M-%S.tar.gz",
		"BACKUP_COMPRESSION=gz",
		"BACKUP_RETENTION_DAYS=" + strconv.Itoa(s3.RetentionDays),
		// Scoped to this service's own archives; AWS_S3_PATH already keeps other services'
		// folders out of the listing.
		"BACKUP_PRUNING_PREFIX=" + service + "_",
	}
	var mounts, entries []string
	for _, v := range present {
		// volume-nocopy: docker must never copy image content into the user's volume.
		mounts = append(mounts, "type=volume,src="+v.Source+",dst=/backup/"+v.Entry+",readonly,volume-nocopy")
		entries = append(entries, v.Entry)
	}
	started := time.Now()
	h := d.runHelper(ctx, helperSpec{
		Action: opBackupService, LockKey: lockKey, Target: service, Step: "upload", NodeID: node.ID, NodeName: node.Name,
		// offen's image entrypoint is its scheduler (-foreground); `backup` runs one backup and
		// exits, its documented one-shot mode.
		Image: d.Config.BackupImage, Entrypoint: "backup", Env: env, Mounts: mounts, Timeout: settings.UploadTimeout,
	})
	up = stepFrom("upload", node.Name, started, h)
	up.Details = map[string]string{"volumes": strings.Join(entries, ",")}
	switch {
	case h.Err != nil:
		if why := lastErrorLine(h.Logs); why != "" {
			up.Error += ": " + d.Secrets.Mask(why)
		}
	case h.Task.State == "dry-run":
		up.Details["dryRun"] = "true"
	case !strings.Contains(h.Logs, uploadedLine):
		up.OK = false
		up.Error = fmt.Sprintf("uploader on %s exited 0 but reported no upload (is storage configured?)", node.Name)
	default:
		if m := uploadedRe.FindStringSubmatch(h.Logs); m != nil {
			archive := path.Base(m[1])
			up.Details["archive"] = archive
			up.Details["bucket"] = d.Secrets.Mask(m[2])
			up.Details["key"] = service + "/" + archive
		}
		if m := prunedRe.FindStringSubmatch(h.Logs); m != nil {
			up.Details["pruned"] = m[1]
		}
	}
	up.Error = d.Secrets.Mask(up.Error)
	return []Step{check, up}
}

// checkVolumes runs volumeCheckScript on the node and returns the volumes that exist there;
// the missing ones are named in the step's details.
func (d *Deps) checkVolumes(ctx context.Context, service, lockKey string, vols []backupVolume, node taskNode) (Step, []backupVolume) {
	marker := newMarker()
	args := []string{"sh", "-c", volumeCheckScript, "sh", marker}
	for _, v := range vols {
		args = append(args, v.Source)
	}
	started := time.Now()
	h := d.runHelper(ctx, helperSpec{
		Action: opBackupService, LockKey: lockKey, Target: service, Step: "volume-check", NodeID: node.ID, NodeName: node.Name,
		Image: d.Config.DockerCLIImage, Args: args, Socket: true, Direct: true, Timeout: volumeCheckTimeout,
	})
	st := stepFrom("volume-check", node.Name, started, h)
	if h.Err != nil {
		return st, nil
	}
	if h.Task.State == "dry-run" {
		return st, vols
	}
	if _, done := parseMarked(h.Logs, marker); !done {
		st.OK, st.Error = false, fmt.Sprintf("volume check on %s did not finish", node.Name)
		return st, nil
	}
	has := map[string]bool{}
	for _, v := range markedLines(h.Logs, marker, "has") {
		has[v] = true
	}
	var present []backupVolume
	var found, missing []string
	for _, v := range vols {
		if has[v.Source] {
			present = append(present, v)
			found = append(found, v.Source)
		} else {
			missing = append(missing, v.Source)
		}
	}
	st.Details = map[string]string{"present": strings.Join(found, ",")}
	if len(missing) > 0 {
		st.Details["missing"] = strings.Join(missing, ",") + " (not on this node: not mounted, it would be created empty)"
	}
	return st, present
}

// lastErrorLine is the message of the uploader's last error line, if any.
func lastErrorLine(logs string) string {
	m := errorLineRe.FindAllStringSubmatch(logs, -1)
	if len(m) == 0 {
		return ""
	}
	msg := m[len(m)-1][1]
	if u, err := strconv.Unquote(msg); err == nil {
		msg = u
	}
	return msg
}
