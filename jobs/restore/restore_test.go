package restore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

const selfImage = "registry:5000/swarm-utils:1.2.3"

const agePass = "age-pass-never-shown-3b9d"

func jobConfig() config.Config {
	c := testConfig()
	c.DockerCLIImage, c.BackupImage, c.SelfImage, c.BackupExecShell = "docker:cli", "offen/docker-volume-backup:v2", selfImage, "/bin/sh"
	c.Timeouts = config.Timeouts{BackupExec: time.Second, BackupStop: time.Second, BackupUpload: time.Second, BackupStart: time.Second,
		Pending: time.Second, Lock: time.Second, Extra: time.Second}
	return c
}

// rcluster is shop_db (2 replicas, one per worker, volumes data and uploads of stack shop)
// with archives of both workers in S3; helpers do what the fields say.
type rcluster struct {
	f        *swarmtest.Fake
	mode     string
	replicas uint64
	labels   map[string]string
	objects  []Object
	upload   func(node string) swarmtest.JobRun // safety backup's uploader; nil: success
	restore  func(node string, j swarm.Job) swarmtest.JobRun
	nodeByID map[string]string
	// constraints of the service; noMounts: it mounts no volume
	constraints []string
	noMounts    bool
	unplaceable string // a new task placed on no node stays pending with this error
	age         config.Age
	keysMu      sync.Mutex                   // the nodes' helpers run at once
	keys        map[string]map[string]string // node -> what the restore helper reads from its key files
}

func newRCluster() *rcluster {
	return &rcluster{
		mode: parse.ModeReplicated, replicas: 2,
		labels: map[string]string{parse.LabelBackupEnable: "true", parse.LabelBackupStop: "true",
			parse.LabelBackupVolumes: "data,uploads", "com.docker.stack.namespace": "shop"},
		objects: []Object{
			obj("shop_db/shop_db_worker-1_2026-11-30T02-00-00.tar.gz", 10),
			obj("shop_db/shop_db_worker-2_2026-11-30T02-00-01.tar.gz", 11),
			obj("shop_db/shop_db_worker-1_2026-12-01T02-00-00.tar.gz", 12),
			obj("shop_db/shop_db_worker-2_2026-12-01T02-00-02.tar.gz", 13),
		},
		nodeByID: map[string]string{"n1": "worker-1", "n2": "worker-2"},
		keys:     map[string]map[string]string{},
	}
}

func resultLine(marker string) string {
	js, _ := json.Marshal([]VolumeResult{{Volume: "data", Files: 3, Bytes: 42}, {Volume: "uploads", Files: 1, Bytes: 7}})
	return "some log\n" + marker + " " + resultVerb + " " + string(js) + "\n"
}

func argValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

func (c *rcluster) job() *Job {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"), swarmtest.Node("n2", "worker-2"), swarmtest.Node("nm", "manager"))
	f.Local = "nm"
	mounts := []parse.Mount{{Type: "volume", Source: "shop_data", Target: "/var/lib/db"}, {Type: "volume", Source: "shop_uploads", Target: "/uploads"}}
	if c.noMounts {
		mounts = []parse.Mount{{Type: "bind", Source: "/srv", Target: "/srv"}}
	}
	f.AddService(parse.Service{Name: svcName, Image: "postgres:16", Mode: c.mode, Replicas: c.replicas, Labels: c.labels,
		Mounts: mounts, Constraints: slices.Clone(c.constraints)}, "worker-1", "worker-2")
	f.OnJob = func(j swarm.Job) swarmtest.JobRun {
		node := c.nodeByID[j.NodeID]
		switch swarmtest.Step(j) {
		case "upload":
			if c.upload != nil {
				return c.upload(node)
			}
			return swarmtest.JobRun{State: "complete", Logs: "level=INFO msg=\"Uploaded a copy of backup `/tmp/x.tar.gz` to bucket `backups`.\"\n"}
		case "restore":
			keys := f.KeyFiles(j)
			c.keysMu.Lock()
			c.keys[node] = keys
			c.keysMu.Unlock()
			if c.restore != nil {
				return c.restore(node, j)
			}
			return swarmtest.JobRun{State: "complete", Logs: resultLine(argValue(j.Args, "--marker"))}
		}
		return swarmtest.JobRun{State: "failed", Exit: 99, Err: "unexpected helper " + j.Name}
	}
	c.f = f
	cfg := jobConfig()
	cfg.Age = c.age
	w := swarmtest.Wire(f, cfg)
	return &Job{Swarm: f, Helpers: w.Helpers, Ops: w.Ops, Store: &fakeStore{objects: map[string][]Object{"s3.example:9000/backups": c.objects}},
		Config: cfg, Secrets: w.Secrets, Log: w.Log, PollInterval: time.Millisecond}
}

// changes are the cluster changes in order, as "verb step@node" (helpers) or "scale N".
func changes(c *rcluster) []string {
	var out []string
	for _, call := range c.f.Changes() {
		switch call.Verb {
		case "create-job":
			out = append(out, "job "+swarmtest.Step(*call.Job)+"@"+c.nodeByID[call.Job.NodeID])
		case "scale":
			out = append(out, fmt.Sprintf("scale %d", call.Scale.Replicas))
		case "constrain":
			out = append(out, fmt.Sprintf("constrain -%q +%q", call.Constrain.Remove, call.Constrain.Add))
		}
	}
	return out
}

func TestRestoreService(t *testing.T) {
	safety := []string{"job upload@worker-1", "job upload@worker-2"}
	latest := map[string]string{"worker-1": "shop_db/shop_db_worker-1_2026-12-01T02-00-00.tar.gz", "worker-2": "shop_db/shop_db_worker-2_2026-12-01T02-00-02.tar.gz"}
	for _, tc := range []struct {
		name    string
		setup   func(c *rcluster)
		opts    Options
		kind    operation.Kind
		errText string
		// want: the scales in order and the helpers (any order) of the run
		scales  []string
		helpers []string
		archive map[string]string // node -> restored key
	}{
		// One stop covers the safety backup and the restore.
		{name: "latest, with safety backup", opts: Options{Service: svcName},
			scales:  []string{"scale 0", "scale 2"},
			helpers: append(slices.Clone(safety), "job restore@worker-1", "job restore@worker-2"),
			archive: latest},
		{name: "a time, no safety backup", opts: Options{Service: svcName, Backup: "2026-11-30T12:00:00Z", NoSafetyBackup: true},
			scales:  []string{"scale 0", "scale 2"},
			helpers: []string{"job restore@worker-1", "job restore@worker-2"},
			archive: map[string]string{"worker-1": "shop_db/shop_db_worker-1_2026-11-30T02-00-00.tar.gz", "worker-2": "shop_db/shop_db_worker-2_2026-11-30T02-00-01.tar.gz"}},
		{name: "one key restores that node only", opts: Options{Service: svcName, Backup: "shop_db/shop_db_worker-2_2026-11-30T02-00-01.tar.gz", NoSafetyBackup: true},
			scales: []string{"scale 0", "scale 2"}, helpers: []string{"job restore@worker-2"},
			archive: map[string]string{"worker-2": "shop_db/shop_db_worker-2_2026-11-30T02-00-01.tar.gz"}},
		{name: "a failed safety backup restores nothing", opts: Options{Service: svcName},
			setup: func(c *rcluster) {
				c.upload = func(node string) swarmtest.JobRun {
					return swarmtest.JobRun{State: "failed", Exit: 1, Logs: "level=ERROR msg=\"upload refused\"\n"}
				}
			},
			kind: operation.KindDocker, errText: "nothing was restored",
			scales: []string{"scale 0", "scale 2"}, helpers: safety},
		{name: "a failed restore helper still starts the service", opts: Options{Service: svcName, NoSafetyBackup: true},
			setup: func(c *rcluster) {
				c.restore = func(node string, j swarm.Job) swarmtest.JobRun {
					if node == "worker-2" {
						return swarmtest.JobRun{State: "failed", Exit: 1, Logs: "download s3://backups/x: [Message]: 'Access Denied.'\n"}
					}
					return swarmtest.JobRun{State: "complete", Logs: resultLine(argValue(j.Args, "--marker"))}
				}
			},
			kind: operation.KindDocker, errText: "step restore on worker-2 failed", archive: latest,
			scales: []string{"scale 0", "scale 2"}, helpers: []string{"job restore@worker-1", "job restore@worker-2"}},
		{name: "a helper that reports nothing fails", opts: Options{Service: svcName, NoSafetyBackup: true},
			setup: func(c *rcluster) {
				c.restore = func(string, swarm.Job) swarmtest.JobRun {
					return swarmtest.JobRun{State: "complete", Logs: "no result\n"}
				}
			},
			kind: operation.KindDocker, errText: "reported no result", archive: latest,
			scales: []string{"scale 0", "scale 2"}, helpers: []string{"job restore@worker-1", "job restore@worker-2"}},
		{name: "no running task: no safety backup, nothing restored", opts: Options{Service: svcName},
			setup: func(c *rcluster) { c.replicas = 0 },
			kind:  operation.KindImpossible, errText: "safety backup of shop_db not taken"},
		{name: "at 0 replicas without safety backup: restored, left at 0", opts: Options{Service: svcName, NoSafetyBackup: true},
			setup:   func(c *rcluster) { c.replicas = 0 },
			helpers: []string{"job restore@worker-1", "job restore@worker-2"}, archive: latest},
		{name: "global is refused", opts: Options{Service: svcName}, setup: func(c *rcluster) { c.mode = parse.ModeGlobal },
			kind: operation.KindImpossible, errText: "only a replicated service"},
		{name: "age without a passphrase or identity is refused", opts: Options{Service: svcName, NoSafetyBackup: true},
			setup: func(c *rcluster) {
				c.objects = append(c.objects, obj("shop_db/shop_db_worker-1_2026-12-02T02-00-00.tar.gz.age", 5))
			},
			kind: operation.KindConfig, errText: "SWARM_UTILS_BACKUP_AGE_PASSPHRASE"},
		{name: "gpg is refused", opts: Options{Service: svcName, NoSafetyBackup: true, Backup: "shop_db/shop_db_worker-1_2026-12-02T02-00-00.tar.gz.gpg"},
			setup: func(c *rcluster) {
				c.age = config.Age{Passphrase: agePass}
				c.objects = append(c.objects, obj("shop_db/shop_db_worker-1_2026-12-02T02-00-00.tar.gz.gpg", 5))
			},
			kind: operation.KindImpossible, errText: "gpg"},
		{name: "age with the passphrase: it reaches the helper as a secret file", opts: Options{Service: svcName, NoSafetyBackup: true},
			setup: func(c *rcluster) {
				c.age = config.Age{Passphrase: agePass}
				c.objects = append(c.objects, obj("shop_db/shop_db_worker-1_2026-12-02T02-00-00.tar.gz.age", 5),
					obj("shop_db/shop_db_worker-2_2026-12-02T02-00-01.tar.gz.age", 5))
			},
			scales:  []string{"scale 0", "scale 2"},
			helpers: []string{"job restore@worker-1", "job restore@worker-2"},
			archive: map[string]string{"worker-1": "shop_db/shop_db_worker-1_2026-12-02T02-00-00.tar.gz.age", "worker-2": "shop_db/shop_db_worker-2_2026-12-02T02-00-01.tar.gz.age"}},
		{name: "only safety backups: nothing to restore", opts: Options{Service: svcName},
			setup: func(c *rcluster) {
				c.objects = []Object{obj("shop_db/shop_db_worker-1_pre-restore_2026-12-02T02-00-00.tar.gz", 5)}
			},
			kind: operation.KindNotFound, errText: "none but safety backups"},
		{name: "archive of a node not in the swarm", opts: Options{Service: svcName, NoSafetyBackup: true},
			setup: func(c *rcluster) { c.objects = []Object{obj("shop_db/shop_db_gone_2026-12-02T02-00-00.tar.gz", 5)} },
			kind:  operation.KindImpossible, errText: "not in the swarm"},
		{name: "not enabled", opts: Options{Service: svcName}, setup: func(c *rcluster) { c.labels = map[string]string{} },
			kind: operation.KindNotFound, errText: "not enabled for backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newRCluster()
			if tc.setup != nil {
				tc.setup(c)
			}
			j := c.job()
			r := j.Run(context.Background(), tc.opts)
			js, _ := json.MarshalIndent(r, "", "  ")
			if tc.kind == "" && !r.OK {
				t.Fatalf("restore failed: %s", js)
			}
			if tc.kind != "" && (r.OK || r.ErrorKind != tc.kind || !strings.Contains(r.Error, tc.errText)) {
				t.Fatalf("want %s failure with %q, got %s", tc.kind, tc.errText, js)
			}
			if strings.Contains(string(js), secretKey) || strings.Contains(string(js), accessKey) || strings.Contains(string(js), agePass) {
				t.Errorf("an S3 key is in the result")
			}
			var scales, helpers []string
			for _, ch := range changes(c) {
				if strings.HasPrefix(ch, "scale") {
					scales = append(scales, ch)
				} else {
					helpers = append(helpers, ch)
				}
			}
			if !slices.Equal(scales, tc.scales) {
				t.Errorf("scales %q, want %q", scales, tc.scales)
			}
			// Every helper touching the volumes runs between the stop and the start.
			if all := changes(c); len(tc.scales) == 2 {
				stop, start := slices.Index(all, "scale 0"), slices.Index(all, "scale 2")
				for i, ch := range all {
					if strings.HasPrefix(ch, "job ") && (i < stop || i > start) {
						t.Errorf("%s ran outside the stop (changes %q)", ch, all)
					}
				}
			}
			if slices.Sort(helpers); !slices.Equal(helpers, slices.Sorted(slices.Values(tc.helpers))) {
				t.Errorf("helpers %q, want %q", helpers, tc.helpers)
			}
			if n := c.f.Running(svcName); tc.scales != nil && n != 2 || c.replicas == 0 && n != 0 {
				t.Errorf("%d tasks run after the restore, want 2", n)
			}
			if s, _ := c.f.Get(svcName); s.Labels[backup.LabelRestoreReplicas] != "" {
				t.Errorf("restore label left on the service")
			}
			if left := c.f.Secrets(); len(left) != 0 {
				t.Errorf("secrets left: %v", left)
			}
			if left := c.f.Helpers(); len(left) != 0 {
				t.Errorf("helpers left: %d", len(left))
			}
			for _, call := range c.f.Calls("create-job") {
				jb := call.Job
				if swarmtest.Step(*jb) != "restore" {
					continue
				}
				node := c.nodeByID[jb.NodeID]
				if jb.Image != selfImage || jb.Entrypoint != "swarm-utils" || jb.User != "0:0" || jb.Args[0] != HelperCommand {
					t.Errorf("restore helper on %s: image %s entrypoint %s user %s args %q", node, jb.Image, jb.Entrypoint, jb.User, jb.Args)
				}
				if got := argValue(jb.Args, "--key"); got != tc.archive[node] {
					t.Errorf("restore on %s of %s, want %s", node, got, tc.archive[node])
				}
				want := []string{"type=volume,src=shop_data,dst=/restore/data,volume-nocopy", "type=volume,src=shop_uploads,dst=/restore/uploads,volume-nocopy"}
				if !slices.Equal(jb.Mounts, want) {
					t.Errorf("mounts %q, want %q (and no docker.sock)", jb.Mounts, want)
				}
				spec := strings.Join(append(append(slices.Clone(jb.Args), jb.Env...), jb.Mounts...), " ")
				if strings.Contains(spec, secretKey) || strings.Contains(spec, accessKey) {
					t.Errorf("an S3 key is in the restore helper's spec: %s", spec)
				}
				if k := c.keys[node]; k["AWS_ACCESS_KEY_ID"] != accessKey || k["AWS_SECRET_ACCESS_KEY"] != secretKey {
					t.Errorf("restore helper on %s reads keys %v", node, k)
				}
				wantPass := ""
				if strings.HasSuffix(tc.archive[node], ".age") {
					wantPass = agePass
				}
				if k := c.keys[node]; k["AGE_PASSPHRASE"] != wantPass {
					t.Errorf("restore helper on %s reads the age passphrase %q, want %q", node, k["AGE_PASSPHRASE"], wantPass)
				}
				if strings.Contains(spec, agePass) {
					t.Errorf("the age passphrase is in the restore helper's spec: %s", spec)
				}
			}
			for _, call := range c.f.Calls("create-job") {
				if swarmtest.Step(*call.Job) == "upload" && !slices.ContainsFunc(call.Job.Env, func(e string) bool {
					return strings.HasPrefix(e, "BACKUP_FILENAME=shop_db_") && strings.Contains(e, "_"+SafetyMark+"_%Y")
				}) {
					t.Errorf("safety backup's archive not named %s: %q", SafetyMark, call.Job.Env)
				}
			}
			if tc.kind == "" {
				for _, st := range r.Steps {
					if st.Name == "restore" && (st.Details["volume data"] != "3 files, 42 bytes" || st.Details["archive"] != tc.archive[st.Node]) {
						t.Errorf("restore step on %s reports %v", st.Node, st.Details)
					}
				}
			}
		})
	}
}
