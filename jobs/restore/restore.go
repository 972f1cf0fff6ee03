package restore

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/helper"
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Op is the operation's name in results, logs and helper names.
const Op = "restore-service"

// Swarm is what restore-service does to the cluster besides its helpers.
type Swarm interface {
	backup.Swarm
	Nodes(ctx context.Context) ([]parse.Node, error)
	// Constrain is move-service's: the service's placement goes to the new node.
	Constrain(ctx context.Context, c swarm.Constraints) error
}

// Options are one restore request.
type Options struct {
	Service string
	// Backup is "latest" (or ""), an archive key of the service, or a time (Choose).
	Backup string
	// NoSafetyBackup skips the backup of the current content taken first.
	NoSafetyBackup bool
}

// Job runs restore-service.
type Job struct {
	Swarm        Swarm
	Helpers      *helper.Engine
	Ops          *operation.Runner
	Store        Store
	Config       config.Config
	Secrets      *bashexec.Secrets
	Log          *slog.Logger
	PollInterval time.Duration
}

// helperUser: the helper writes the archive's owners and modes into the volumes.
const helperUser = "0:0"

// Run is the job (SPEC §10):
//  1. read the service and its backup labels; refuse a global service (it cannot be scaled
//     to 0); pick the archive of each node from the catalogue; refuse one it could not
//     decrypt (gpg, or age without a passphrase or identity);
//  2. under the service's lock: the backup pre-command in its tasks, then the stop (record
//     the replica count on the service, scale it to 0), once for the whole restore;
//  3. the safety backup of the current content, uploaded while stopped (archives named
//     <service>_<node>_pre-restore_<time>.tar.gz), unless told not to; its failure stops the
//     restore before any volume is changed;
//  4. on each node of the chosen archives, a helper (swarm-utils' own image, no docker.sock)
//     downloads and decrypts that node's archive and replaces the listed volumes' content;
//  5. start again at the recorded count — also when anything in between fails or is
//     cancelled, and after a crash through the restore label (backup's repair).
func (j *Job) Run(ctx context.Context, o Options) operation.Result {
	name := o.Service
	svc, err := j.Swarm.Service(ctx, name)
	if err != nil {
		return operation.Failed(Op, name, err)
	}
	settings, err := Settings(svc, j.Config)
	if err != nil {
		return operation.Failed(Op, name, err)
	}
	ctx = bashexec.WithSecrets(ctx, settings.S3.AccessKey, settings.S3.SecretKey)
	if svc.Mode != parse.ModeReplicated {
		return operation.Failed(Op, name, operation.Errorf(operation.KindImpossible,
			"service %s is %s: a restore scales the service to 0 and back, which only a replicated service can", name, svc.Mode))
	}
	vols, err := backup.VolumesOf(svc, settings.Volumes)
	if err != nil {
		return operation.Failed(Op, name, err)
	}
	cat := &Catalogue{Swarm: j.Swarm, Store: j.Store, Config: j.Config}
	listing, err := cat.list(ctx, name, settings.S3)
	if err != nil {
		return operation.Failed(Op, name, err)
	}
	if listing.Cut != "" {
		j.Log.Warn("the catalogue was cut: the archive is chosen among those listed", "service", name, "cut", listing.Cut)
	}
	picked, err := Choose(listing.Archives, o.Backup)
	if err != nil {
		return operation.Failed(Op, name, fmt.Errorf("service %s: %w", name, err))
	}
	for _, a := range picked {
		if err := j.canDecrypt(a); err != nil {
			return operation.Failed(Op, name, err)
		}
	}
	if err := j.checkDecrypts(ctx, settings.S3, picked); err != nil {
		return operation.Failed(Op, name, err)
	}
	lockKey := operation.LockKeyService(name)
	return j.Ops.RunOp(ctx, operation.Op{Name: Op, Target: name, LockKey: lockKey,
		Prepare: func(ctx context.Context) (operation.Plan, error) {
			return j.prepare(ctx, name, lockKey, o, settings, vols, picked)
		},
		// Without the safety backup the preparation only reads the nodes (a safety backup's
		// may repair a stop an earlier backup left).
		PrepareOnlyReads: o.NoSafetyBackup,
	})
}

func (j *Job) backupJob() *backup.Job {
	return &backup.Job{Swarm: j.Swarm, Helpers: j.Helpers, Ops: j.Ops, Config: j.Config, Secrets: j.Secrets, Log: j.Log,
		PollInterval: j.PollInterval, Mark: SafetyMark}
}

type restoreNode struct {
	ID, Name string
	Archive  Archive
}

func (j *Job) prepare(ctx context.Context, name, lockKey string, o Options, settings backup.Settings, vols []backup.Volume, picked []Archive) (operation.Plan, error) {
	bj := j.backupJob()
	var safety *backup.Locked
	if !o.NoSafetyBackup {
		var err error
		if safety, err = bj.PrepareLocked(ctx, name, lockKey); err != nil {
			return operation.Plan{}, fmt.Errorf("prepare the safety backup of %s: %w", name, err)
		}
		if len(safety.Nodes()) == 0 {
			return operation.Plan{}, operation.Errorf(operation.KindImpossible, "safety backup of %s not taken (no running tasks: no node holds a task whose volumes could be uploaded): nothing was restored; restore with the safety backup skipped if that is meant", name)
		}
	}
	targets, err := j.targetNodes(ctx, picked)
	if err != nil {
		return operation.Plan{}, err
	}
	pending := j.Config.Timeouts.Pending
	budget := settings.StopTimeout + settings.StartTimeout +
		(pending+settings.UploadTimeout)*time.Duration(max(len(targets), 1))
	if safety != nil {
		budget += safety.Budget
	}

	do := func(ctx context.Context, r *operation.Result) error {
		var prev uint64
		if safety != nil {
			if safety.Recovered != nil {
				r.Steps = append(r.Steps, *safety.Recovered)
			}
			// The pre-command runs while the tasks still do (a dump into a volume, say).
			r.Steps = append(r.Steps, safetySteps(safety.PreExec(ctx))...)
			prev = safety.Service.Replicas
		} else {
			svc, err := j.Swarm.Service(ctx, name)
			if err != nil {
				return fmt.Errorf("read service %s: %w", name, err)
			}
			prev = svc.Replicas
		}
		if prev > 0 {
			// Registered before the scale-down: from then on the start always runs. One
			// stop covers the safety backup and the restore.
			defer func() { r.Steps = append(r.Steps, bj.Start(ctx, name, prev, settings.StartTimeout)) }()
		}
		// The helpers' S3 key secrets do not depend on the stop: made while it runs; removed
		// here when no helper got to use them.
		keys := j.createKeys(ctx, lockKey, settings, targets)
		handed := false
		defer func() {
			if !handed {
				for _, k := range keys() {
					if k.err == nil {
						bj.RemoveS3Secrets(ctx, k.secrets)
					}
				}
			}
		}()
		if prev > 0 {
			st := bj.Stop(ctx, name, prev, settings.StopTimeout)
			r.Steps = append(r.Steps, st)
			if !st.OK {
				// Tasks may still be writing into the volumes.
				return operation.CtxErr(ctx)
			}
		}
		if safety != nil {
			up := safetySteps(safety.Upload(ctx))
			r.Steps = append(r.Steps, up...)
			for _, s := range up {
				if !s.OK {
					return operation.Errorf(operation.KindDocker, "safety backup of %s failed on %s (nothing was restored): %s", name, s.Node, s.Error)
				}
			}
			if err := operation.CtxErr(ctx); err != nil {
				return err
			}
		}
		handed = true
		r.Steps = append(r.Steps, j.restoreOnNodes(ctx, name, lockKey, settings, vols, targets, keys())...)
		return operation.CtxErr(ctx)
	}
	return operation.Plan{Budget: budget, Do: do}, nil
}

// safetySteps names the safety backup's steps as such.
func safetySteps(steps []operation.Step) []operation.Step {
	for i := range steps {
		steps[i].Name = "safety-backup-" + steps[i].Name
	}
	return steps
}

// targetNodes maps the picked archives to the nodes they belong to.
func (j *Job) targetNodes(ctx context.Context, picked []Archive) ([]restoreNode, error) {
	nodes, err := j.Swarm.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the nodes for the restore: %w", err)
	}
	var targets []restoreNode
	for _, a := range picked {
		i := slices.IndexFunc(nodes, func(n parse.Node) bool { return n.Hostname == a.Node })
		if i < 0 {
			return nil, operation.Errorf(operation.KindImpossible, "archive %s is of node %s, which is not in the swarm", a.Key, a.Node)
		}
		targets = append(targets, restoreNode{ID: nodes[i].ID, Name: a.Node, Archive: a})
	}
	return targets, nil
}

// nodeKeys are the S3 key secrets of one node's helper, or why they could not be made.
type nodeKeys struct {
	secrets backup.S3Secrets
	err     error
}

// createKeys starts making each target's key secrets; its answer waits for them.
func (j *Job) createKeys(ctx context.Context, lockKey string, settings backup.Settings, targets []restoreNode) func() []nodeKeys {
	bj := j.backupJob()
	out := make([]nodeKeys, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			out[i].secrets, out[i].err = bj.CreateS3Secrets(ctx, lockKey, settings.S3.AccessKey, settings.S3.SecretKey, j.ageSecretFiles(t.Archive)...)
		})
	}
	return sync.OnceValue(func() []nodeKeys {
		wg.Wait()
		return out
	})
}

func (j *Job) restoreOnNodes(ctx context.Context, name, lockKey string, settings backup.Settings, vols []backup.Volume, targets []restoreNode, keys []nodeKeys) []operation.Step {
	steps := make([]operation.Step, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			defer func() {
				// A panic here would kill the process before the deferred start could run.
				if p := recover(); p != nil {
					j.Log.Error("restore on node panicked", "service", name, "node", t.Name, "panic", p)
					steps[i] = operation.Step{Name: "restore", Node: t.Name, Error: fmt.Sprintf("internal error: %v", p)}
				}
			}()
			steps[i] = j.onNode(ctx, name, lockKey, settings, vols, t, keys[i])
		})
	}
	wg.Wait()
	return steps
}

func (j *Job) onNode(ctx context.Context, name, lockKey string, settings backup.Settings, vols []backup.Volume, t restoreNode, nk nodeKeys) operation.Step {
	started := time.Now()
	st := operation.Step{Name: "restore", Node: t.Name, OK: true}
	bj := j.backupJob()
	keys := nk.secrets
	if nk.err != nil {
		st.OK, st.Error = false, j.Secrets.For(ctx).Mask(fmt.Sprintf("restore on %s: %v", t.Name, nk.err))
		st.Duration = operation.Since(started)
		return st
	}
	// Run has removed the helper when it returns: only then does docker let the secrets go,
	// beside the start and the end of the operation (nothing waits for them).
	defer func() {
		if !operation.Tidy(ctx, func() { bj.RemoveS3Secrets(ctx, keys) }) {
			bj.RemoveS3Secrets(ctx, keys)
		}
	}()
	marker := helper.NewMarker()
	args := HelperArgs{S3: config.S3{URL: settings.S3.URL, HTTPS: settings.S3.HTTPS, Bucket: settings.S3.Bucket}, Key: t.Archive.Key, Marker: marker}
	var mounts, entries []string
	for _, v := range vols {
		// volume-nocopy: docker must never copy image content into the user's volume.
		mounts = append(mounts, "type=volume,src="+v.Source+",dst="+path.Join(HelperMountDir, v.Entry)+",volume-nocopy")
		args.Volumes = append(args.Volumes, v.Entry)
		entries = append(entries, v.Entry)
	}
	h := j.Helpers.Run(ctx, helper.Spec{
		Action: Op, LockKey: lockKey, Target: name, Step: "restore", NodeID: t.ID, NodeName: t.Name,
		Image: j.Config.SelfImage, Entrypoint: "swarm-utils", User: helperUser, Args: args.Argv(),
		Env: keys.Env(), Mounts: mounts, Secrets: keys.Refs(), Timeout: settings.UploadTimeout,
		DoneLine: DoneLine(marker),
	})
	st = h.Step("restore", t.Name, started)
	st.Details = map[string]string{"archive": t.Archive.Key, "volumes": strings.Join(entries, ",")}
	switch {
	case h.Err != nil:
		if why := lastLine(h.Logs); why != "" {
			st.Error += ": " + why
		}
	case h.Task.State == "dry-run":
		st.Details["dryRun"] = "true"
	default:
		lines := helper.MarkedLines(h.Logs, marker, resultVerb)
		var res []VolumeResult
		if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &res) != nil {
			st.OK, st.Error = false, fmt.Sprintf("restore helper on %s exited 0 but reported no result", t.Name)
			break
		}
		for _, v := range res {
			if v.Skipped != "" {
				st.Details["volume "+v.Volume] = "skipped: " + v.Skipped
				continue
			}
			st.Details["volume "+v.Volume] = strconv.Itoa(v.Files) + " files, " + strconv.FormatInt(v.Bytes, 10) + " bytes"
		}
	}
	st.Error = j.Secrets.For(ctx).Mask(st.Error)
	return st
}

// canDecrypt refuses, before anything changes, an archive the restore could not decrypt.
func (j *Job) canDecrypt(a Archive) error {
	switch {
	case strings.HasSuffix(a.Key, gpgExt):
		return operation.Errorf(operation.KindImpossible, "archive %s is encrypted with gpg: restore decrypts age archives only (offen's AGE_* settings)", a.Key)
	case strings.HasSuffix(a.Key, ageExt) && !j.Config.Age.CanDecrypt():
		return operation.Errorf(operation.KindConfig, "archive %s is encrypted with age: set SWARM_UTILS_BACKUP_AGE_PASSPHRASE or SWARM_UTILS_BACKUP_AGE_IDENTITY to restore it (nothing was changed)", a.Key)
	}
	return nil
}

// lastLine is the last non-empty line of the helper's logs (its error, as main logs it).
func lastLine(logs string) string {
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
