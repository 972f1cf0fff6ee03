package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

const (
	svcName   = "shop_db"
	accessKey = "AKIA-test-access"
	secretKey = "s3-secret-never-shown"
	image     = "offen/docker-volume-backup:v2.48.2"
)

func testConfig() config.Config {
	return config.Config{
		DockerCLIImage: "docker:cli", BackupImage: image, BackupExecShell: "/bin/sh",
		S3: config.S3{URL: "s3.example:9000", HTTPS: true, Bucket: "backups", AccessKey: accessKey, SecretKey: secretKey, RetentionDays: 5},
		Timeouts: config.Timeouts{
			BackupExec: time.Second, BackupStop: time.Second, BackupUpload: time.Second, BackupStart: time.Second,
			Pending: time.Second, Lock: time.Second, Extra: time.Second,
		},
	}
}

// cluster is a fake swarm with the shop_db service (2 replicas, one on each worker, two named
// volumes of its stack) and helpers that behave: the uploader's entrypoint finds every volume
// entry mounted but those in unmounted (and refuses then), the entries in empty empty; pre-exec
// exits execExit in every task; the uploader does what upload says.
type cluster struct {
	f        *swarmtest.Fake
	unmount  map[string][]string                // volume entries not mounted in the uploader, by node hostname
	empty    map[string][]string                // volume entries found empty, by node hostname
	execExit int                                // pre-exec exit code in every task
	upload   func(node string) swarmtest.JobRun // nil: a successful upload
	onCreate func(j swarm.Job)                  // after a helper's outcome is decided
	mode     string                             // parse.ModeReplicated (default) or ModeGlobal
	labels   map[string]string                  // the service's labels
	replicas uint64                             // at the start
	nodeByID map[string]string                  // node ID -> hostname
	keyFiles map[string]map[string]string       // node -> what the uploader reads from each X_FILE, by X
	mu       sync.Mutex                         // keyFiles: the nodes' uploaders run at once
	fail     map[string]error                   // the fake's Fail
}

func newCluster() *cluster {
	return &cluster{
		mode: parse.ModeReplicated, replicas: 2, unmount: map[string][]string{}, empty: map[string][]string{},
		labels: map[string]string{
			parse.LabelBackupEnable:      "true",
			parse.LabelBackupStop:        "true",
			parse.LabelBackupVolumes:     "data,uploads",
			"com.docker.stack.namespace": "shop",
		},
		nodeByID: map[string]string{"n1": "worker-1", "n2": "worker-2"},
		keyFiles: map[string]map[string]string{},
	}
}

func uploaded(node string) string {
	return "time=2025-01-02T03:04:05Z level=INFO msg=\"Uploaded a copy of backup `/tmp/" + svcName + "_" + node +
		"_2025-01-02T03-04-05.tar.gz` to bucket `backups`.\" storage=S3\n" +
		"time=2025-01-02T03:04:06Z level=INFO msg=\"Pruned 1 out of 3 backups as they were older than the given deadline of 2024-12-28T03:04:06Z.\"\n"
}

// job builds the fake and the job; call after setting the cluster up.
func (c *cluster) job(cfg config.Config) (*Job, *swarmtest.Wiring) {
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"), swarmtest.Node("n2", "worker-2"), swarmtest.Node("nm", "manager"))
	f.Fail = c.fail
	f.Local = "nm" // swarm-utils runs on the manager, which holds no task: every step uses a helper
	f.AddService(parse.Service{Name: svcName, Image: "postgres:16", Mode: c.mode, Replicas: c.replicas, Labels: c.labels,
		Mounts: []parse.Mount{
			{Type: "volume", Source: "shop_data", Target: "/var/lib/db"},
			{Type: "volume", Source: "shop_uploads", Target: "/uploads"},
			{Type: "bind", Source: "/etc/hosts", Target: "/etc/hosts"},
		}}, "worker-1", "worker-2")
	f.OnJob = func(j swarm.Job) swarmtest.JobRun {
		defer func() {
			if c.onCreate != nil {
				c.onCreate(j)
			}
		}()
		node := c.nodeByID[j.NodeID]
		marker, rest, _ := swarmtest.Script(j.Args)
		switch swarmtest.Step(j) {
		case "pre-exec":
			var b strings.Builder
			for _, ctr := range rest[3:] {
				fmt.Fprintf(&b, "%s begin %s\npre-exec output\n%s end %s %d\n", marker, ctr, marker, ctr, c.execExit)
			}
			return swarmtest.JobRun{State: "complete", Logs: b.String() + marker + " done\n"}
		case "upload":
			c.mu.Lock()
			c.keyFiles[node] = c.f.KeyFiles(j)
			c.mu.Unlock()
			// The entrypoint script's check, as uploadScript does it.
			marker, entries, _ := swarmtest.Script(append([]string{j.Entrypoint}, j.Args...))
			var b strings.Builder
			for _, e := range entries {
				switch {
				case slices.Contains(c.unmount[node], e):
					fmt.Fprintf(&b, "%s unmounted %s\n", marker, e)
				case slices.Contains(c.empty[node], e):
					fmt.Fprintf(&b, "%s empty %s\n", marker, e)
				}
			}
			if len(c.unmount[node]) > 0 {
				return swarmtest.JobRun{State: "failed", Exit: 3, Logs: b.String() + marker + " refused\n"}
			}
			b.WriteString(marker + " checked\n")
			if c.upload != nil {
				run := c.upload(node)
				run.Logs = b.String() + run.Logs
				return run
			}
			return swarmtest.JobRun{State: "complete", Logs: b.String() + uploaded(node)}
		}
		return swarmtest.JobRun{State: "failed", Exit: 99, Err: "unexpected helper " + j.Name}
	}
	c.f = f
	w := swarmtest.Wire(f, cfg)
	return &Job{Swarm: f, Helpers: w.Helpers, Ops: w.Ops, Config: cfg, Secrets: w.Secrets, Log: w.Log, PollInterval: time.Millisecond}, w
}

// helpers returns the created helper jobs of a step, by node hostname.
func (c *cluster) helpers(step string) map[string]swarm.Job {
	out := map[string]swarm.Job{}
	for _, call := range c.f.Calls("create-job") {
		if swarmtest.Step(*call.Job) == step {
			out[c.nodeByID[call.Job.NodeID]] = *call.Job
		}
	}
	return out
}

// scales returns every scale of the service, in order.
func (c *cluster) scales() []swarm.Scale {
	var out []swarm.Scale
	for _, call := range c.f.Calls("scale") {
		out = append(out, *call.Scale)
	}
	return out
}

var (
	stopScale    = swarm.Scale{Service: svcName, Replicas: 0, LabelAdd: &swarm.Label{Key: LabelRestoreReplicas, Value: "2"}}
	restoreScale = swarm.Scale{Service: svcName, Replicas: 2, LabelRm: LabelRestoreReplicas}
)

func stepNames(r operation.Result) []string {
	var out []string
	for _, s := range r.Steps {
		out = append(out, s.Name+"@"+s.Node)
	}
	return out
}

func findStep(t *testing.T, r operation.Result, name, node string) operation.Step {
	t.Helper()
	for _, s := range r.Steps {
		if s.Name == name && s.Node == node {
			return s
		}
	}
	t.Fatalf("no step %s on %q in %v", name, node, stepNames(r))
	return operation.Step{}
}

func assertNoSecret(t *testing.T, r operation.Result, secrets ...string) {
	t.Helper()
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(secrets, secretKey, accessKey) {
		if strings.Contains(string(js), s) {
			t.Errorf("result JSON contains secret %q: %s", s, js)
		}
	}
}

func assertScales(t *testing.T, c *cluster, want ...swarm.Scale) {
	t.Helper()
	got := c.scales()
	if len(got) != len(want) {
		t.Fatalf("scales = %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i].Service != want[i].Service || got[i].Replicas != want[i].Replicas || got[i].LabelRm != want[i].LabelRm ||
			(got[i].LabelAdd == nil) != (want[i].LabelAdd == nil) || (got[i].LabelAdd != nil && *got[i].LabelAdd != *want[i].LabelAdd) {
			t.Errorf("scale %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// assertNoSwarmSecrets: every secret made for an uploader is gone, and none was removed while
// its helper still existed (the fake refuses that, as docker does).
func assertNoSwarmSecrets(t *testing.T, c *cluster) {
	t.Helper()
	if s := c.f.Secrets(); len(s) > 0 {
		t.Errorf("swarm secrets left behind: %v", s)
	}
}

// assertKeysInNoArgv: no job spec carries a key (env, args, labels, mounts, secret refs).
func assertKeysInNoArgv(t *testing.T, c *cluster, keys ...string) {
	t.Helper()
	for _, call := range c.f.Calls("create-job") {
		js, _ := json.Marshal(call.Job)
		for _, k := range keys {
			if strings.Contains(string(js), k) {
				t.Errorf("helper %s's spec holds a key: %s", call.Job.Name, js)
			}
		}
	}
}

func assertNoHelpers(t *testing.T, c *cluster) {
	t.Helper()
	if h := c.f.Helpers(); len(h) > 0 {
		t.Errorf("helpers left behind: %+v", h)
	}
}

func TestBackupUploadsFromEveryNodeAndRestores(t *testing.T) {
	c := newCluster()
	c.labels[parse.LabelBackupExec] = "pg_dump > /var/lib/db/dump.sql"
	c.upload = func(node string) swarmtest.JobRun {
		// An uploader that echoes its environment must not leak it into the result.
		return swarmtest.JobRun{State: "complete", Logs: "AWS_SECRET_ACCESS_KEY=" + secretKey + "\n" + uploaded(node)}
	}
	j, _ := c.job(testConfig())
	r := j.Run(context.Background(), svcName)
	if !r.OK {
		t.Fatalf("not OK: %s (%s); steps %v", r.Error, r.ErrorKind, stepNames(r))
	}
	want := []string{"pre-exec@worker-1", "pre-exec@worker-2", "stop@", "upload@worker-1", "upload@worker-2", "start@"}
	if got := stepNames(r); !slices.Equal(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
	ups := c.helpers("upload")
	if len(ups) != 2 {
		t.Fatalf("upload helpers on %d nodes, want 2", len(ups))
	}
	for id, node := range c.nodeByID {
		h := ups[node]
		// One helper per node: its entrypoint checks the volumes, then runs offen's one-shot
		// `backup` (script_test.go); the entries are arguments of the constant script, never
		// part of it.
		if h.Image != image || h.Entrypoint != "sh" || len(h.Args) != 6 || h.Args[0] != "-c" || h.Args[1] != uploadScript ||
			!slices.Equal(h.Args[4:], []string{"data", "uploads"}) {
			t.Errorf("%s: the uploader must run uploadScript with the volume entries, then offen's `backup`: %+v", node, h)
		}
		if h.NodeID != id {
			t.Errorf("%s: pinned to %q", node, h.NodeID)
		}
		wantEnv := []string{
			"AWS_ENDPOINT=s3.example:9000", "AWS_ENDPOINT_PROTO=https", "AWS_S3_BUCKET_NAME=backups",
			"AWS_S3_PATH=" + svcName,
			"BACKUP_FILENAME=" + svcName + "_" + node + "_%Y-%m-%dT%H-%M-%S.tar.gz", "BACKUP_COMPRESSION=gz",
			"BACKUP_RETENTION_DAYS=5", "BACKUP_PRUNING_PREFIX=" + svcName + "_",
			"AWS_ACCESS_KEY_ID_FILE=/run/secrets/swarm-utils-s3-access-key-id",
			"AWS_SECRET_ACCESS_KEY_FILE=/run/secrets/swarm-utils-s3-secret-access-key",
		}
		if !slices.Equal(h.Env, wantEnv) {
			t.Errorf("%s: env = %q\nwant %q", node, h.Env, wantEnv)
		}
		// The keys reach the uploader only as files of swarm secrets, exactly (no newline).
		wantKeys := map[string]string{"AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey}
		if got := c.keyFiles[node]; !maps.Equal(got, wantKeys) {
			t.Errorf("%s: the uploader reads the keys %q from its secret files, want %q", node, got, wantKeys)
		}
		// volume-nocopy: docker must never copy image content into the user's volume; no socket.
		wantMounts := []string{
			"type=volume,src=shop_data,dst=/backup/data,readonly,volume-nocopy",
			"type=volume,src=shop_uploads,dst=/backup/uploads,readonly,volume-nocopy",
		}
		if !slices.Equal(h.Mounts, wantMounts) {
			t.Errorf("%s: mounts = %q, want %q", node, h.Mounts, wantMounts)
		}
		up := findStep(t, r, "upload", node)
		archive := svcName + "_" + node + "_2025-01-02T03-04-05.tar.gz"
		if up.Details["archive"] != archive || up.Details["key"] != svcName+"/"+archive || up.Details["bucket"] != "backups" || up.Details["pruned"] != "1" {
			t.Errorf("%s: upload details = %v", node, up.Details)
		}
	}
	assertScales(t, c, stopScale, restoreScale)
	if s, _ := c.f.Get(svcName); s.Replicas != 2 || s.Labels[LabelRestoreReplicas] != "" || c.f.Running(svcName) != 2 {
		t.Errorf("service ends at %d replicas (%d running), labels %v", s.Replicas, c.f.Running(svcName), s.Labels)
	}
	assertNoHelpers(t, c)
	assertNoSecret(t, r)
	assertNoSwarmSecrets(t, c)
	if n := len(c.f.Calls("create-secret")); n != 2 {
		t.Errorf("%d secrets created for 2 uploaders, want 2 shared by both", n)
	}
	assertKeysInNoArgv(t, c, accessKey, secretKey)
}

func TestBackupRefusesBeforeTouchingAnything(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   string
		labels map[string]string
		cfg    func(*config.Config)
		kind   operation.Kind
		want   string
	}{
		{"global with stop", parse.ModeGlobal, nil, nil, operation.KindImpossible, parse.LabelBackupStop},
		{"no S3 url", "", nil, func(c *config.Config) { c.S3.URL = "" }, operation.KindConfig, "SWARM_UTILS_S3_URL"},
		{"no secret key", "", nil, func(c *config.Config) { c.S3.SecretKey = "" }, operation.KindConfig, parse.LabelBackupS3SecretKey},
		{"unmounted volume", "", map[string]string{parse.LabelBackupVolumes: "data,cache"}, nil, operation.KindConfig,
			"names cache, which the service does not mount as a named volume (its volume mounts: shop_data, shop_uploads)"},
		{"not enabled", "", map[string]string{parse.LabelBackupEnable: "false"}, nil, operation.KindNotFound, "not enabled for backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster()
			if tc.mode != "" {
				c.mode = tc.mode
			}
			for k, v := range tc.labels {
				c.labels[k] = v
			}
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			j, _ := c.job(cfg)
			r := j.Run(context.Background(), svcName)
			if r.OK || r.ErrorKind != tc.kind || !strings.Contains(r.Error, tc.want) {
				t.Fatalf("ok=%v kind=%q err=%q, want %s naming %q", r.OK, r.ErrorKind, r.Error, tc.kind, tc.want)
			}
			if ch := c.f.Changes(); len(ch) > 0 {
				t.Errorf("changes made: %+v", ch)
			}
		})
	}
	j, _ := newCluster().job(testConfig())
	if r := j.Run(context.Background(), "nope"); r.ErrorKind != operation.KindNotFound {
		t.Errorf("unknown service: %s %s", r.ErrorKind, r.Error)
	}
}

func TestBackupGlobalWithoutStopUploadsFromEveryNode(t *testing.T) {
	c := newCluster()
	c.mode = parse.ModeGlobal
	c.labels[parse.LabelBackupStop] = "false"
	j, _ := c.job(testConfig())
	r := j.Run(context.Background(), svcName)
	if !r.OK {
		t.Fatalf("not OK: %s", r.Error)
	}
	if len(c.helpers("upload")) != 2 || len(c.scales()) != 0 {
		t.Errorf("uploads on %d nodes, %d scales; want 2 and 0", len(c.helpers("upload")), len(c.scales()))
	}
}

// The start always runs once the stop was issued: after a failed upload, a cancel, a stop
// that times out.
func TestBackupAlwaysStartsAgain(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(c *cluster, cancel context.CancelFunc)
		kind     operation.Kind
		check    func(t *testing.T, c *cluster, r operation.Result)
		uploadOn int // upload helpers created
	}{
		{"upload fails on one node", func(c *cluster, _ context.CancelFunc) {
			c.upload = func(node string) swarmtest.JobRun {
				if node == "worker-2" {
					return swarmtest.JobRun{State: "failed", Exit: 1, Logs: `time=x level=ERROR msg="Fatal error running command: error uploading backup to remote storage: s3 PutObject backups/k: HTTP 403 SignatureDoesNotMatch"` + "\n"}
				}
				return swarmtest.JobRun{State: "complete", Logs: uploaded(node)}
			}
		}, operation.KindDocker, func(t *testing.T, c *cluster, r operation.Result) {
			if up := findStep(t, r, "upload", "worker-2"); up.OK || !strings.Contains(up.Error, "SignatureDoesNotMatch") {
				t.Errorf("upload step on worker-2: ok=%v error=%q, want the uploader's error", up.OK, up.Error)
			}
			if !findStep(t, r, "upload", "worker-1").OK {
				t.Error("worker-1's upload should have succeeded")
			}
		}, 2},
		{"cancelled during the upload", func(c *cluster, cancel context.CancelFunc) {
			c.upload = func(string) swarmtest.JobRun { return swarmtest.JobRun{State: "running"} }
			c.onCreate = func(j swarm.Job) {
				if swarmtest.Step(j) == "upload" {
					cancel()
				}
			}
		}, operation.KindCanceled, nil, 2},
		{"upload times out", func(c *cluster, _ context.CancelFunc) {
			c.upload = func(string) swarmtest.JobRun { return swarmtest.JobRun{State: "running"} }
		}, operation.KindTimeout, nil, 2}, // the operation takes its failed step's kind
		{"the key secret cannot be created", func(c *cluster, _ context.CancelFunc) {
			c.fail = map[string]error{"create-secret": errors.New("exit status 1: Error response from daemon: secret quota")}
		}, operation.KindDocker, func(t *testing.T, c *cluster, r operation.Result) {
			if up := findStep(t, r, "upload", "worker-1"); up.OK || !strings.Contains(up.Error, "create secret") {
				t.Errorf("upload step: ok=%v error=%q, want the failed secret create", up.OK, up.Error)
			}
		}, 0},
		{"stop times out", func(c *cluster, _ context.CancelFunc) {
			c.onCreate = nil
		}, operation.KindDocker, func(t *testing.T, c *cluster, r operation.Result) {
			if st := findStep(t, r, "stop", ""); st.OK || !strings.Contains(st.Error, "task(s) still running") {
				t.Errorf("stop step ok=%v error=%q", st.OK, st.Error)
			}
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tc.setup(c, cancel)
			j, _ := c.job(testConfig())
			if tc.name == "stop times out" {
				c.f.KeepRunning(svcName)
			}
			r := j.Run(ctx, svcName)
			if r.OK || r.ErrorKind != tc.kind {
				t.Fatalf("ok=%v kind=%q err=%q, want %s", r.OK, r.ErrorKind, r.Error, tc.kind)
			}
			if tc.check != nil {
				tc.check(t, c, r)
			}
			if n := len(c.helpers("upload")); n != tc.uploadOn {
				t.Errorf("%d upload helpers, want %d", n, tc.uploadOn)
			}
			if st := findStep(t, r, "start", ""); !st.OK && tc.name != "stop times out" {
				t.Errorf("start step failed: %s", st.Error)
			}
			assertScales(t, c, stopScale, restoreScale)
			if s, _ := c.f.Get(svcName); s.Replicas != 2 || s.Labels[LabelRestoreReplicas] != "" {
				t.Errorf("service ends at %d replicas, labels %v", s.Replicas, s.Labels)
			}
			assertNoHelpers(t, c)
			assertNoSwarmSecrets(t, c)
		})
	}
}

func TestBackupS3FromLabels(t *testing.T) {
	c := newCluster()
	c.labels[parse.LabelBackupS3URL] = "minio.internal:9000"
	c.labels[parse.LabelBackupS3HTTPS] = "false"
	c.labels[parse.LabelBackupS3Bucket] = "shop-backups"
	c.labels[parse.LabelBackupS3SecretKey] = "label-secret-9f3a"
	c.labels[parse.LabelBackupS3Retention] = "8"
	c.upload = func(node string) swarmtest.JobRun {
		return swarmtest.JobRun{State: "complete", Logs: "using label-secret-9f3a\n" + strings.ReplaceAll(uploaded(node), "`backups`", "`shop-backups`")}
	}
	j, _ := c.job(testConfig())
	r := j.Run(context.Background(), svcName)
	if !r.OK {
		t.Fatalf("not OK: %s", r.Error)
	}
	for node, h := range c.helpers("upload") {
		for _, e := range []string{"AWS_ENDPOINT=minio.internal:9000", "AWS_ENDPOINT_PROTO=http", "AWS_S3_BUCKET_NAME=shop-backups",
			"BACKUP_RETENTION_DAYS=8"} {
			if !slices.Contains(h.Env, e) {
				t.Errorf("%s: uploader env lacks %s: %q", node, e, h.Env)
			}
		}
		want := map[string]string{"AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": "label-secret-9f3a"}
		if got := c.keyFiles[node]; !maps.Equal(got, want) {
			t.Errorf("%s: the uploader reads the keys %q, want %q", node, got, want)
		}
	}
	assertKeysInNoArgv(t, c, accessKey, "label-secret-9f3a")
	assertNoSwarmSecrets(t, c)
	assertNoSecret(t, r, "label-secret-9f3a")
}

func TestBackupVolumesOnNodes(t *testing.T) {
	t.Run("an entry may name the volume itself; one source is mounted once", func(t *testing.T) {
		c := newCluster()
		c.labels[parse.LabelBackupVolumes] = "shop_data,data"
		c.labels[parse.LabelBackupStop] = "false"
		j, _ := c.job(testConfig())
		if r := j.Run(context.Background(), svcName); !r.OK {
			t.Fatalf("not OK: %s", r.Error)
		}
		want := []string{"type=volume,src=shop_data,dst=/backup/shop_data,readonly,volume-nocopy"}
		if got := c.helpers("upload")["worker-1"].Mounts; !slices.Equal(got, want) {
			t.Errorf("mounts = %q, want %q", got, want)
		}
	})
	t.Run("a volume not mounted in the uploader fails its node before any upload; empty ones are named", func(t *testing.T) {
		c := newCluster()
		c.labels[parse.LabelBackupStop] = "false"
		c.unmount = map[string][]string{"worker-1": {"uploads"}}
		c.empty = map[string][]string{"worker-2": {"uploads"}}
		j, _ := c.job(testConfig())
		r := j.Run(context.Background(), svcName)
		if r.OK {
			t.Fatal("OK although a volume was not mounted on worker-1")
		}
		if up := findStep(t, r, "upload", "worker-1"); up.OK || !strings.Contains(up.Error, "uploads not mounted") || !strings.Contains(up.Error, "nothing was uploaded") {
			t.Errorf("worker-1 upload: ok=%v error=%q", up.OK, up.Error)
		}
		if up := findStep(t, r, "upload", "worker-2"); !up.OK || up.Details["empty"] != "uploads" || up.Details["archive"] == "" {
			t.Errorf("worker-2 upload: ok=%v details=%v error=%q", up.OK, up.Details, up.Error)
		}
		if n := len(c.f.Calls("create-secret")); n != 2 {
			t.Errorf("%d secrets created, want 2", n)
		}
		assertNoHelpers(t, c)
		assertNoSwarmSecrets(t, c)
	})
}

func TestVolumesOf(t *testing.T) {
	svc := parse.Service{Name: "s", Labels: map[string]string{"com.docker.stack.namespace": "st"}, Mounts: []parse.Mount{
		{Type: "volume", Source: "st_a"}, {Type: "volume", Source: "b"}, {Type: "bind", Source: "/x"}, {Type: "volume"}}}
	for _, tc := range []struct {
		entries []string
		want    []volume
		err     string
	}{
		{[]string{"a", "b"}, []volume{{"a", "st_a"}, {"b", "b"}}, ""},
		{[]string{"st_a", "a"}, []volume{{"st_a", "st_a"}}, ""},
		{[]string{"x", "a"}, nil, "names x, which the service does not mount"},
		{[]string{"/x"}, nil, "names /x"},
	} {
		got, err := volumesOf(svc, tc.entries)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || operation.KindOf(err) != operation.KindConfig {
				t.Errorf("volumesOf(%q) err = %v, want config error %q", tc.entries, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("volumesOf(%q) = %v, %v; want %v", tc.entries, got, err, tc.want)
		}
	}
}

func TestBackupNoUploadReportedFails(t *testing.T) {
	c := newCluster()
	c.labels[parse.LabelBackupStop] = "false"
	c.upload = func(string) swarmtest.JobRun {
		return swarmtest.JobRun{State: "complete", Logs: "level=WARN msg=\"no storage configured\"\n"}
	}
	j, _ := c.job(testConfig())
	r := j.Run(context.Background(), svcName)
	if r.OK {
		t.Fatal("OK although the uploader reported no upload")
	}
	if up := findStep(t, r, "upload", "worker-1"); up.OK || !strings.Contains(up.Error, "reported no upload") {
		t.Errorf("upload error = %q", up.Error)
	}
}

func TestBackupPreExecFailureContinues(t *testing.T) {
	c := newCluster()
	c.labels[parse.LabelBackupExec] = "false"
	c.execExit = 1
	j, _ := c.job(testConfig())
	r := j.Run(context.Background(), svcName)
	if r.OK || !strings.Contains(r.Error, "pre-exec") {
		t.Fatalf("ok=%v err=%q, want the failed pre-exec reported", r.OK, r.Error)
	}
	for _, n := range []string{"worker-1", "worker-2"} {
		if !findStep(t, r, "upload", n).OK {
			t.Errorf("upload on %s did not run after the failed pre-exec", n)
		}
		pre := c.helpers("pre-exec")[n]
		if _, rest, _ := swarmtest.Script(pre.Args); len(rest) != 4 || rest[1] != "/bin/sh" || rest[2] != "false" {
			t.Errorf("pre-exec on %s: args %q, want SECS SHELL CMD and one container", n, rest)
		}
	}
	assertScales(t, c, stopScale, restoreScale)
}

func TestBackupRecoversServiceLeftStopped(t *testing.T) {
	c := newCluster()
	c.replicas = 0
	c.labels[LabelRestoreReplicas] = "2" // an earlier run crashed between stop and start
	j, _ := c.job(testConfig())
	r := j.Run(context.Background(), svcName)
	if !r.OK {
		t.Fatalf("not OK: %s (steps %v)", r.Error, stepNames(r))
	}
	if names := stepNames(r); names[0] != "recover-start@" || len(c.helpers("upload")) != 2 {
		t.Errorf("steps %v, %d uploads; want recover-start first and uploads from both nodes", names, len(c.helpers("upload")))
	}
	assertScales(t, c, restoreScale, stopScale, restoreScale)
}

func TestRecoverStopped(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas uint64
		restore  string
		only     string
		want     []swarm.Scale
		results  int
	}{
		{"left stopped", 0, "2", "", []swarm.Scale{restoreScale}, 1},
		{"scaled by someone since: their count stays", 3, "2", "", []swarm.Scale{{Service: svcName, Replicas: 3, LabelRm: LabelRestoreReplicas}}, 1},
		{"another service only", 0, "2", "other", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster()
			c.replicas = tc.replicas
			c.labels[LabelRestoreReplicas] = tc.restore
			j, _ := c.job(testConfig())
			rep := j.RecoverStopped(context.Background(), tc.only)
			if !rep.OK || len(rep.Results) != tc.results || rep.Operation != OpRecover {
				t.Fatalf("report %+v", rep)
			}
			assertScales(t, c, tc.want...)
			if tc.results > 0 && rep.Results[0].Steps[0].Name != "recover-start" {
				t.Errorf("steps %+v", rep.Results[0].Steps)
			}
		})
	}
	c := newCluster()
	j, _ := c.job(testConfig())
	c.f.Fail = map[string]error{"list-services": fmt.Errorf("Cannot connect to the Docker daemon")}
	if rep := j.RecoverStopped(context.Background(), ""); rep.OK || !strings.Contains(rep.Results[0].Error, "list services left stopped") {
		t.Errorf("docker away: %+v", rep)
	}
}

func TestStartRetriesUntilTheServiceAnswers(t *testing.T) {
	c := newCluster()
	c.replicas = 0
	c.labels[LabelRestoreReplicas] = "2"
	j, w := c.job(testConfig())
	fails := 2
	c.f.OnScale = func(swarm.Scale) error {
		if fails > 0 {
			fails--
			return fmt.Errorf("rpc error: update out of sequence")
		}
		return nil
	}
	rep := j.RecoverStopped(context.Background(), "")
	if !rep.OK || len(c.scales()) != 3 || c.f.Running(svcName) != 2 {
		t.Fatalf("report %+v after %d scales", rep, len(c.scales()))
	}
	if !strings.Contains(w.Logs(), "scale back failed, retrying") {
		t.Errorf("log:\n%s", w.Logs())
	}
}

// A task the scheduler cannot place (its node went down during the backup) is reported at
// once, not waited for until the start timeout; the replica count is restored all the same.
func TestStartReportsUnschedulableTasksAtOnce(t *testing.T) {
	c := newCluster()
	cfg := testConfig()
	cfg.Timeouts.BackupStart = time.Hour // a wait for the timeout would hang the test
	j, _ := c.job(cfg)
	const why = "no suitable node (max replicas per node limit exceed; scheduling constraints not satisfied on 3 nodes)"
	c.f.OnScale = func(sc swarm.Scale) error {
		if sc.Replicas == 0 {
			c.f.Unplaceable = map[string]string{"worker-2": why} // worker-2 is lost while stopped
		}
		return nil
	}
	done := make(chan operation.Result, 1)
	go func() { done <- j.Run(context.Background(), svcName) }()
	var r operation.Result
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the start waits for a task no node can take")
	}
	st := findStep(t, r, "start", "")
	if r.OK || st.OK || !strings.Contains(st.Error, "2 desired, 1 running, 1 pending: "+why) {
		t.Errorf("ok=%v; start step ok=%v error=%q, want it to say 2 desired, 1 running, 1 pending and why", r.OK, st.OK, st.Error)
	}
	assertScales(t, c, stopScale, restoreScale)
	if s, _ := c.f.Get(svcName); s.Replicas != 2 || s.Labels[LabelRestoreReplicas] != "" {
		t.Errorf("service ends at %d replicas, labels %v", s.Replicas, s.Labels)
	}
	assertNoHelpers(t, c)
}

func TestStartedOrStuck(t *testing.T) {
	row := func(state, err string) parse.TaskRow {
		return parse.TaskRow{CurrentState: state + " 2 seconds ago", Error: err}
	}
	const why = "no suitable node (1 node not available for new tasks)"
	for _, tc := range []struct {
		name    string
		rows    []parse.TaskRow
		done    bool
		stuckOn string
	}{
		{"all running", []parse.TaskRow{row("Running", ""), row("Running", "")}, true, ""},
		{"one starting", []parse.TaskRow{row("Running", ""), row("Starting", "")}, false, ""},
		{"pending, not tried yet", []parse.TaskRow{row("Running", ""), row("Pending", "")}, false, ""},
		{"pending, no node", []parse.TaskRow{row("Running", ""), row("Pending", why)}, false, "2 desired, 1 running, 1 pending: " + why},
		{"one no node, one on its way", []parse.TaskRow{row("Preparing", ""), row("Pending", why)}, false, ""},
		{"not all tasks made yet", []parse.TaskRow{row("Pending", why)}, false, ""},
	} {
		done, err := startedOrStuck(tc.rows, 2)
		if done != tc.done || (err == nil) != (tc.stuckOn == "") || (err != nil && err.Error() != tc.stuckOn) {
			t.Errorf("%s: done=%v err=%v, want %v %q", tc.name, done, err, tc.done, tc.stuckOn)
		}
	}
}

// serve's retry: a service a failed restore left at 0 is started on a later pass, once two
// passes in a row saw it so at the same spec version; one whose backup of this process is
// between its stop and its start is left to that backup.
func TestRetryStopped(t *testing.T) {
	c := newCluster()
	c.replicas = 0
	c.labels[LabelRestoreReplicas] = "2"
	j, w := c.job(testConfig())
	seen := map[string]uint64{}
	if left := j.RetryStopped(context.Background(), seen); left != 1 || len(c.scales()) != 0 {
		t.Errorf("first sighting: %d left, %d scales; want it counted, not yet touched", left, len(c.scales()))
	}
	docker := errors.New("exit status 1: Error response from daemon: rpc error: code = Unavailable")
	c.f.OnScale = func(swarm.Scale) error { return docker }
	if left := j.RetryStopped(context.Background(), seen); left != 1 || len(c.scales()) == 0 {
		t.Errorf("second sighting with every scale failing: %d left after %d scales, want 1 left after trying", left, len(c.scales()))
	}
	if s, _ := c.f.Get(svcName); s.Replicas != 0 || s.Labels[LabelRestoreReplicas] != "2" {
		t.Fatalf("after the failed pass: %d replicas, labels %v", s.Replicas, s.Labels)
	}

	c.f.OnScale = nil
	release, err := w.Ops.Locks.Acquire(context.Background(), operation.LockKeyService(svcName), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	before := len(c.scales())
	if left := j.RetryStopped(context.Background(), seen); left != 0 || len(c.scales()) != before {
		t.Errorf("while an operation holds the service: %d left, %d scales; want it untouched and not counted", left, len(c.scales())-before)
	}
	release()

	// Stopped again by someone else meanwhile (a new version): seen anew first.
	if err := c.f.Scale(context.Background(), swarm.Scale{Service: svcName, Replicas: 0}); err != nil {
		t.Fatal(err)
	}
	before = len(c.scales())
	if left := j.RetryStopped(context.Background(), seen); left != 1 || len(c.scales()) != before {
		t.Errorf("first sighting of a new version: %d left, %d scales", left, len(c.scales())-before)
	}
	if left := j.RetryStopped(context.Background(), seen); left != 0 {
		t.Errorf("docker back: %d left, want 0", left)
	}
	if s, _ := c.f.Get(svcName); s.Replicas != 2 || s.Labels[LabelRestoreReplicas] != "" || c.f.Running(svcName) != 2 {
		t.Errorf("after the retry: %d replicas (%d running), labels %v", s.Replicas, c.f.Running(svcName), s.Labels)
	}
	if left := j.RetryStopped(context.Background(), seen); left != 0 {
		t.Errorf("nothing to do: %d left", left)
	}
}
