package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/operation"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

const (
	bkSecret    = "s3-secret-Kq8vZ2"
	bkAccessKey = "AKIA-bk-access"
)

// bkCluster is a scripted docker for backup-service: one target service whose running tasks
// follow its replica count, and helpers whose outcome the test chooses.
type bkCluster struct {
	t    *testing.T
	fake *bashexec.Fake

	mu       sync.Mutex
	mode     string // "replicated" | "global"
	replicas int
	labels   map[string]string
	mounts   []parse.Mount
	nodes    []taskNode // task i runs on nodes[i%len(nodes)]
	helpers  map[string]*bkHelper
	nHelpers int

	// upload decides an uploader helper's end: state ("complete", "failed", "running" = never
	// ends), exit code and logs. nil: success.
	upload func(node string) (state string, exit int, logs string)
	// missing lists volumes absent on a node (volume check).
	missing map[string][]string
	// execExit is the pre-exec command's exit code in every task.
	execExit int
	// onCreate runs after a helper was created (e.g. to cancel the context).
	onCreate func(h *bkHelper)
}

type taskNode struct{ ID, Name string }

type bkHelper struct {
	ID, Name, Node, Step string
	Args                 []string
	State                string
	Exit                 int
	Logs                 string
	Removed              bool
}

const bkService = "shop_db"

func newBkCluster(t *testing.T) *bkCluster {
	c := &bkCluster{
		t: t, mode: "replicated", replicas: 2, helpers: map[string]*bkHelper{},
		labels: map[string]string{
			parse.LabelBackupEnable:      "true",
			parse.LabelBackupStop:        "true",
			parse.LabelBackupVolumes:     "data,uploads",
			"com.docker.stack.namespace": "shop",
		},
		mounts: []parse.Mount{
			{Type: "volume", Source: "shop_data", Target: "/var/lib/db"},
			{Type: "volume", Source: "shop_uploads", Target: "/uploads"},
			{Type: "bind", Source: "/etc/hosts", Target: "/etc/hosts"},
		},
		nodes:   []taskNode{{ID: "n1", Name: "worker-1"}, {ID: "n2", Name: "worker-2"}},
		missing: map[string][]string{},
	}
	c.fake = &bashexec.Fake{Handler: c.handle}
	return c
}

func (c *bkCluster) deps(cfg config.Config) *Deps {
	d := NewDeps(cfg, c.fake, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	d.PollInterval = time.Millisecond
	return d
}

func bkConfig() config.Config {
	return config.Config{
		DockerCLIImage: "docker:cli", BackupImage: "offen/docker-volume-backup:v2.48.2", BackupExecShell: "/bin/sh",
		S3: config.S3{URL: "s3.example:9000", HTTPS: true, Bucket: "backups", AccessKey: bkAccessKey, SecretKey: bkSecret, RetentionDays: 5},
		Timeouts: config.Timeouts{
			BackupExec: time.Second, BackupStop: time.Second, BackupUpload: time.Second, BackupStart: time.Second,
			Pending: time.Second, Lock: time.Second, Extra: time.Second,
		},
	}
}

func (c *bkCluster) handle(cmd bashexec.Command) (bashexec.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := cmd.Args[1:] // after "docker"
	out := func(s string) (bashexec.Result, error) { return bashexec.Result{Stdout: s}, nil }
	last := a[len(a)-1]
	switch {
	case len(a) >= 2 && a[0] == "service" && a[1] == "inspect":
		if last != bkService {
			return bashexec.Result{}, fmt.Errorf("Error: no such service: %s", last)
		}
		return out(c.inspectJSON())
	case len(a) >= 2 && a[0] == "service" && a[1] == "ls":
		return out("")
	case a[0] == "info": // the local node: none of the test's nodes, so every step uses a helper
		return out("managerid\n")
	case len(a) >= 2 && a[0] == "service" && a[1] == "ps":
		if h, ok := c.helpers[last]; ok {
			st := strings.ToUpper(h.State[:1]) + h.State[1:]
			return out(fmt.Sprintf(`{"ID":"t-%s","Name":"%s.1","Node":"%s","DesiredState":"Shutdown","CurrentState":"%s 1 second ago","Error":""}`+"\n", h.ID, h.Name, h.Node, st))
		}
		var b strings.Builder
		for i := 0; i < c.running(); i++ {
			n := c.nodes[i%len(c.nodes)]
			fmt.Fprintf(&b, `{"ID":"task%d","Name":"%s.%d","Node":"%s","DesiredState":"Running","CurrentState":"Running 1 minute ago","Error":""}`+"\n", i+1, bkService, i+1, n.Name)
		}
		return out(b.String())
	case len(a) >= 2 && a[0] == "inspect" && a[1] == "--type":
		var objs []string
		for _, id := range a[4:] {
			if hid, ok := strings.CutPrefix(id, "t-"); ok {
				h := c.helpers[hid]
				if h.Removed { // swarm reaps a removed job's task
					return bashexec.Result{}, fmt.Errorf("Error: No such object: %s", id)
				}
				objs = append(objs, fmt.Sprintf(`{"ID":%q,"ServiceID":%q,"NodeID":"x","Slot":1,"DesiredState":"shutdown","Status":{"State":%q,"Err":"","ContainerStatus":{"ContainerID":"c","ExitCode":%d}}}`, id, hid, h.State, h.Exit))
				continue
			}
			i, _ := strconv.Atoi(strings.TrimPrefix(id, "task"))
			n := c.nodes[(i-1)%len(c.nodes)]
			objs = append(objs, fmt.Sprintf(`{"ID":%q,"ServiceID":"svcid","NodeID":%q,"Slot":%d,"DesiredState":"running","Status":{"State":"running","ContainerStatus":{"ContainerID":"ctr%d"}}}`, id, n.ID, i, i))
		}
		return out("[" + strings.Join(objs, ",") + "]")
	case len(a) >= 2 && a[0] == "service" && a[1] == "create":
		return out(c.create(a))
	case len(a) >= 2 && a[0] == "service" && a[1] == "logs":
		return out(c.helpers[last].Logs)
	case len(a) >= 2 && a[0] == "service" && a[1] == "rm":
		if h, ok := c.helpers[last]; ok {
			h.Removed = true
		}
		return out("")
	case len(a) >= 2 && a[0] == "service" && a[1] == "update":
		for i := 2; i < len(a)-1; i++ {
			switch a[i] {
			case "--replicas":
				c.replicas, _ = strconv.Atoi(a[i+1])
			case "--label-add":
				k, v, _ := strings.Cut(a[i+1], "=")
				c.labels[k] = v
			case "--label-rm":
				delete(c.labels, a[i+1])
			}
		}
		return out(bkService + "\n")
	}
	c.t.Errorf("unexpected docker call: %q", cmd.Args)
	return bashexec.Result{}, fmt.Errorf("unexpected call")
}

func (c *bkCluster) running() int {
	if c.mode == "global" {
		return len(c.nodes)
	}
	return c.replicas
}

func (c *bkCluster) inspectJSON() string {
	mode := map[string]any{"Replicated": map[string]any{"Replicas": c.replicas}}
	if c.mode == "global" {
		mode = map[string]any{"Global": map[string]any{}}
	}
	svc := map[string]any{
		"ID": "svcid", "Version": map[string]any{"Index": 10},
		"Spec": map[string]any{
			"Name": bkService, "Labels": c.labels, "Mode": mode,
			"TaskTemplate": map[string]any{"ContainerSpec": map[string]any{"Image": "db:1", "Mounts": c.mounts}},
		},
	}
	b, err := json.Marshal([]any{svc})
	if err != nil {
		c.t.Fatal(err)
	}
	return string(b)
}

func (c *bkCluster) create(a []string) string {
	c.nHelpers++
	h := &bkHelper{ID: fmt.Sprintf("h%d", c.nHelpers), State: "complete"}
	for i := 0; i < len(a)-1; i++ {
		switch a[i] {
		case "--name":
			h.Name = a[i+1]
		case "--constraint":
			id := strings.TrimPrefix(a[i+1], "node.id==")
			for _, n := range c.nodes {
				if n.ID == id {
					h.Node = n.Name
				}
			}
		}
	}
	h.Args = a
	switch {
	case strings.Contains(h.Name, "-volume-check-"):
		h.Step = "volume-check"
		// args: ... IMAGE sh -c SCRIPT sh MARKER VOL...
		i := slices.Index(a, "-c") + 1
		marker := a[i+2]
		for _, v := range a[i+3:] {
			if !slices.Contains(c.missing[h.Node], v) {
				h.Logs += marker + " has " + v + "\n"
			}
		}
		h.Logs += marker + " done\n"
	case strings.Contains(h.Name, "-pre-exec-"):
		h.Step = "pre-exec"
		i := slices.Index(a, "-c") + 1
		marker := a[i+2]
		for _, ctr := range a[i+6:] {
			h.Logs += fmt.Sprintf("%s begin %s\npre-exec output\n%s end %s %d\n", marker, ctr, marker, ctr, c.execExit)
		}
		h.Logs += marker + " done\n"
	case strings.Contains(h.Name, "-upload-"):
		h.Step = "upload"
		if c.upload != nil {
			h.State, h.Exit, h.Logs = c.upload(h.Node)
		} else {
			h.Logs = bkUploaded(h.Node)
		}
	}
	c.helpers[h.ID] = h
	if c.onCreate != nil {
		c.onCreate(h)
	}
	return h.ID + "\n"
}

func bkUploaded(node string) string {
	file := "/tmp/" + bkService + "_" + node + "_2025-01-02T03-04-05.tar.gz"
	return `time=2025-01-02T03:04:05Z level=INFO msg="Created backup of ` + "`/backup`" + `"` + "\n" +
		`time=2025-01-02T03:04:06Z level=INFO msg="Uploaded a copy of backup ` + "`" + file + "`" + ` to bucket ` + "`backups`" + `." storage=S3` + "\n" +
		`time=2025-01-02T03:04:06Z level=INFO msg="Pruned 1 out of 3 backups as they were older than the given deadline of 2024-12-28T03:04:06Z." storage=S3` + "\n"
}

// helpersOf returns the created helpers of one step, by node.
func (c *bkCluster) helpersOf(step string) map[string]*bkHelper {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]*bkHelper{}
	for _, h := range c.helpers {
		if h.Step == step {
			out[h.Node] = h
		}
	}
	return out
}

// updates returns the argv (after "docker") of every `service update`, in order.
func (c *bkCluster) updates() [][]string {
	var out [][]string
	for _, call := range c.fake.Calls {
		if len(call.Args) > 2 && call.Args[1] == "service" && call.Args[2] == "update" {
			out = append(out, call.Args[1:])
		}
	}
	return out
}

func (c *bkCluster) mutatingCalls() []string {
	var out []string
	for _, call := range c.fake.Calls {
		if !call.ReadOnly {
			out = append(out, strings.Join(call.Args, " "))
		}
	}
	return out
}

var bkRestore = []string{"service", "update", "--detach", "--replicas", "2", "--label-rm", backup.LabelRestoreReplicas, "--", bkService}

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

func assertNoSecret(t *testing.T, r operation.Result) {
	t.Helper()
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{bkSecret, bkAccessKey} {
		if strings.Contains(string(js), s) {
			t.Errorf("result JSON contains secret %q: %s", s, js)
		}
	}
}

func TestBackupServiceUploadsFromEveryNodeAndRestores(t *testing.T) {
	c := newBkCluster(t)
	c.labels[parse.LabelBackupExec] = "pg_dump > /var/lib/db/dump.sql"
	c.upload = func(node string) (string, int, string) {
		// An uploader that echoes its environment must not leak it into the result.
		return "complete", 0, "AWS_SECRET_ACCESS_KEY=" + bkSecret + "\n" + bkUploaded(node)
	}
	r := c.deps(bkConfig()).BackupService(context.Background(), bkService)
	if !r.OK {
		t.Fatalf("not OK: %s (%s); steps %v", r.Error, r.ErrorKind, stepNames(r))
	}
	want := []string{"pre-exec@worker-1", "pre-exec@worker-2", "stop@", "volume-check@worker-1", "upload@worker-1",
		"volume-check@worker-2", "upload@worker-2", "start@"}
	if got := stepNames(r); !slices.Equal(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}

	ups := c.helpersOf("upload")
	if len(ups) != 2 {
		t.Fatalf("upload helpers on %d nodes, want 2", len(ups))
	}
	for _, n := range c.nodes {
		h := ups[n.Name]
		a := h.Args
		if a[len(a)-1] != "offen/docker-volume-backup:v2.48.2" {
			t.Errorf("%s: argv must end with the image (entrypoint `backup`, no command), got %q", n.Name, a[len(a)-1])
		}
		if !slices.Contains(a, "node.id=="+n.ID) {
			t.Errorf("%s: no node.id constraint in %q", n.Name, a)
		}
		if i := slices.Index(a, "--entrypoint"); i < 0 || a[i+1] != "backup" {
			t.Errorf("%s: the uploader must run offen's one-shot entrypoint `backup`, argv %q", n.Name, a)
		}
		var env, mounts []string
		for i := 0; i < len(a)-1; i++ {
			switch a[i] {
			case "--env":
				env = append(env, a[i+1])
			case "--mount":
				mounts = append(mounts, a[i+1])
			}
		}
		wantEnv := []string{
			"AWS_ENDPOINT=s3.example:9000", "AWS_ENDPOINT_PROTO=https", "AWS_S3_BUCKET_NAME=backups",
			"AWS_ACCESS_KEY_ID=" + bkAccessKey, "AWS_SECRET_ACCESS_KEY=" + bkSecret, "AWS_S3_PATH=" + bkService,
			"BACKUP_FILENAME=" + bkService + "_" + n.Name + "_%Y-%m-%dT%H-%M-%S.tar.gz", "BACKUP_COMPRESSION=gz",
			"BACKUP_RETENTION_DAYS=5", "BACKUP_PRUNING_PREFIX=" + bkService + "_",
		}
		if !slices.Equal(env, wantEnv) {
			t.Errorf("%s: env = %q\nwant %q", n.Name, env, wantEnv)
		}
		wantMounts := []string{
			"type=volume,src=shop_data,dst=/backup/data,readonly,volume-nocopy",
			"type=volume,src=shop_uploads,dst=/backup/uploads,readonly,volume-nocopy",
		}
		if !slices.Equal(mounts, wantMounts) {
			t.Errorf("%s: mounts = %q, want %q", n.Name, mounts, wantMounts)
		}
		if slices.Contains(a, "--mount") && slices.Contains(a, "type=bind,src="+"/var/run/docker.sock"+",dst="+"/var/run/docker.sock") {
			t.Errorf("%s: the uploader needs no docker socket", n.Name)
		}
		up := findStep(t, r, "upload", n.Name)
		wantArchive := bkService + "_" + n.Name + "_2025-01-02T03-04-05.tar.gz"
		if up.Details["archive"] != wantArchive || up.Details["key"] != bkService+"/"+wantArchive || up.Details["bucket"] != "backups" || up.Details["pruned"] != "1" {
			t.Errorf("%s: upload details = %v", n.Name, up.Details)
		}
	}

	ups2 := c.updates()
	wantStop := []string{"service", "update", "--detach", "--label-add", backup.LabelRestoreReplicas + "=2", "--replicas", "0", "--", bkService}
	if len(ups2) != 2 || !slices.Equal(ups2[0], wantStop) || !slices.Equal(ups2[1], bkRestore) {
		t.Errorf("service updates = %q, want stop %q then restore %q", ups2, wantStop, bkRestore)
	}
	if c.replicas != 2 {
		t.Errorf("service ends at %d replicas, want 2", c.replicas)
	}
	if _, ok := c.labels[backup.LabelRestoreReplicas]; ok {
		t.Error("restore label left on the service")
	}
	assertNoSecret(t, r)
}

func TestBackupServiceGlobalWithStopIsImpossible(t *testing.T) {
	c := newBkCluster(t)
	c.mode = "global"
	r := c.deps(bkConfig()).BackupService(context.Background(), bkService)
	if r.OK || r.ErrorKind != operation.KindImpossible {
		t.Fatalf("got ok=%v kind=%q err=%q, want %q", r.OK, r.ErrorKind, r.Error, operation.KindImpossible)
	}
	if !strings.Contains(r.Error, parse.LabelBackupStop) {
		t.Errorf("error does not name the label: %s", r.Error)
	}
	if m := c.mutatingCalls(); len(m) > 0 {
		t.Errorf("mutating calls made: %q", m)
	}
}

func TestBackupServiceGlobalWithoutStopUploadsFromEveryNode(t *testing.T) {
	c := newBkCluster(t)
	c.mode = "global"
	c.labels[parse.LabelBackupStop] = "false"
	r := c.deps(bkConfig()).BackupService(context.Background(), bkService)
	if !r.OK {
		t.Fatalf("not OK: %s", r.Error)
	}
	if len(c.helpersOf("upload")) != 2 || len(c.updates()) != 0 {
		t.Errorf("uploads on %d nodes, %d service updates; want 2 and 0", len(c.helpersOf("upload")), len(c.updates()))
	}
}

func TestBackupServiceRestoresAfterUploadFailure(t *testing.T) {
	c := newBkCluster(t)
	c.upload = func(node string) (string, int, string) {
		if node == "worker-2" {
			return "failed", 1, `time=x level=ERROR msg="Fatal error running command: error uploading backup to remote storage: s3 PutObject backups/k: HTTP 403 SignatureDoesNotMatch"` + "\n"
		}
		return "complete", 0, bkUploaded(node)
	}
	r := c.deps(bkConfig()).BackupService(context.Background(), bkService)
	if r.OK {
		t.Fatal("OK despite a failed upload")
	}
	up := findStep(t, r, "upload", "worker-2")
	if up.OK || !strings.Contains(up.Error, "SignatureDoesNotMatch") {
		t.Errorf("upload step on worker-2: ok=%v error=%q, want the uploader's error", up.OK, up.Error)
	}
	if !findStep(t, r, "upload", "worker-1").OK {
		t.Error("worker-1's upload should have succeeded")
	}
	if st := findStep(t, r, "start", ""); !st.OK {
		t.Errorf("start step failed: %s", st.Error)
	}
	u := c.updates()
	if len(u) == 0 || !slices.Equal(u[len(u)-1], bkRestore) || c.replicas != 2 {
		t.Errorf("last update = %q, replicas %d; want the restore to 2", u, c.replicas)
	}
	assertNoSecret(t, r)
}

func TestBackupServiceRestoresAfterCancel(t *testing.T) {
	c := newBkCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.upload = func(string) (string, int, string) { return "running", 0, "" }
	c.onCreate = func(h *bkHelper) {
		if h.Step == "upload" {
			cancel() // e.g. swarm-utils is shutting down mid-upload
		}
	}
	r := c.deps(bkConfig()).BackupService(ctx, bkService)
	if r.OK || r.ErrorKind != operation.KindCanceled {
		t.Fatalf("got ok=%v kind=%q err=%q, want canceled", r.OK, r.ErrorKind, r.Error)
	}
	u := c.updates()
	if len(u) != 2 || !slices.Equal(u[1], bkRestore) {
		t.Fatalf("service updates = %q, want the restore to 2 replicas last", u)
	}
	if st := findStep(t, r, "start", ""); !st.OK || c.replicas != 2 {
		t.Errorf("start ok=%v (%s), replicas %d", st.OK, st.Error, c.replicas)
	}
	// Every helper was removed although the context was cancelled.
	removed := 0
	for _, call := range c.fake.Calls {
		if len(call.Args) > 2 && call.Args[2] == "rm" {
			removed++
		}
	}
	if removed < len(c.helpers) {
		t.Errorf("%d helpers removed, %d created", removed, len(c.helpers))
	}
}

func TestBackupServiceRestoresWhenStopTimesOut(t *testing.T) {
	c := newBkCluster(t)
	cfg := bkConfig()
	cfg.Timeouts.BackupStop = 20 * time.Millisecond
	// The tasks never stop: the fake ignores --replicas 0 for `service ps` until restored.
	c.fake.Handler = func(cmd bashexec.Command) (bashexec.Result, error) {
		res, err := c.handle(cmd)
		if len(cmd.Args) > 3 && cmd.Args[2] == "update" && slices.Contains(cmd.Args, "0") {
			c.mu.Lock()
			c.replicas = 2
			c.mu.Unlock()
		}
		return res, err
	}
	r := c.deps(cfg).BackupService(context.Background(), bkService)
	if r.OK {
		t.Fatal("OK although the service did not stop")
	}
	if st := findStep(t, r, "stop", ""); st.OK || !strings.Contains(st.Error, "still running") {
		t.Errorf("stop step ok=%v error=%q", st.OK, st.Error)
	}
	if h := c.helpersOf("upload"); len(h) != 0 {
		t.Error("uploaded although the stop failed")
	}
	u := c.updates()
	if len(u) != 2 || !slices.Equal(u[1], bkRestore) {
		t.Errorf("service updates = %q, want the restore last", u)
	}
}

func TestBackupServiceMissingS3IsConfigError(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{"no url", func(c *config.Config) { c.S3.URL = "" }, "SWARM_UTILS_S3_URL"},
		{"no secret", func(c *config.Config) { c.S3.SecretKey = "" }, "SWARM_UTILS_S3_SECRET_KEY"},
		{"no bucket", func(c *config.Config) { c.S3.Bucket = "" }, "SWARM_UTILS_S3_BUCKET"},
		{"no retention", func(c *config.Config) { c.S3.RetentionDays = 0 }, "SWARM_UTILS_S3_RETENTION_DAYS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newBkCluster(t)
			cfg := bkConfig()
			tc.edit(&cfg)
			r := c.deps(cfg).BackupService(context.Background(), bkService)
			if r.OK || r.ErrorKind != operation.KindConfig || !strings.Contains(r.Error, tc.want) {
				t.Fatalf("got ok=%v kind=%q err=%q, want config error naming %s", r.OK, r.ErrorKind, r.Error, tc.want)
			}
			if m := c.mutatingCalls(); len(m) > 0 {
				t.Errorf("mutating calls made: %q", m)
			}
		})
	}
}

func TestBackupServiceS3FromLabels(t *testing.T) {
	c := newBkCluster(t)
	c.labels[parse.LabelBackupS3URL] = "minio.internal:9000"
	c.labels[parse.LabelBackupS3HTTPS] = "false"
	c.labels[parse.LabelBackupS3Bucket] = "shop-backups"
	c.labels[parse.LabelBackupS3SecretKey] = "label-secret-9f3a"
	c.labels[parse.LabelBackupS3Retention] = "8"
	c.upload = func(node string) (string, int, string) {
		return "complete", 0, "key label-secret-9f3a\n" + bkUploaded(node)
	}
	r := c.deps(bkConfig()).BackupService(context.Background(), bkService)
	if !r.OK {
		t.Fatalf("not OK: %s", r.Error)
	}
	h := c.helpersOf("upload")["worker-1"]
	for _, e := range []string{"AWS_ENDPOINT=minio.internal:9000", "AWS_ENDPOINT_PROTO=http", "AWS_S3_BUCKET_NAME=shop-backups",
		"AWS_SECRET_ACCESS_KEY=label-secret-9f3a", "AWS_ACCESS_KEY_ID=" + bkAccessKey, "BACKUP_RETENTION_DAYS=8"} {
		if !slices.Contains(h.Args, e) {
			t.Errorf("uploader env lacks %s: %q", e, h.Args)
		}
	}
	js, _ := json.Marshal(r)
	if strings.Contains(string(js), "label-secret-9f3a") {
		t.Errorf("label secret in the result: %s", js)
	}
}

func TestBackupServiceVolumeMapping(t *testing.T) {
	t.Run("unknown volume", func(t *testing.T) {
		c := newBkCluster(t)
		c.labels[parse.LabelBackupVolumes] = "data,cache"
		r := c.deps(bkConfig()).BackupService(context.Background(), bkService)
		if r.ErrorKind != operation.KindConfig || !strings.Contains(r.Error, "cache") || !strings.Contains(r.Error, "shop_data, shop_uploads") {
			t.Fatalf("got kind=%q err=%q, want a config error naming cache and listing the mounts", r.ErrorKind, r.Error)
		}
		if m := c.mutatingCalls(); len(m) > 0 {
			t.Errorf("mutating calls made: %q", m)
		}
	})
	t.Run("full names and duplicates", func(t *testing.T) {
		c := newBkCluster(t)
		c.labels[parse.LabelBackupVolumes] = "shop_data,data"
		c.labels[parse.LabelBackupStop] = "false"
		r := c.deps(bkConfig()).BackupService(context.Background(), bkService)
		if !r.OK {
			t.Fatalf("not OK: %s", r.Error)
		}
		h := c.helpersOf("upload")["worker-1"]
		var mounts []string
		for i, a := range h.Args {
			if a == "--mount" {
				mounts = append(mounts, h.Args[i+1])
			}
		}
		if want := []string{"type=volume,src=shop_data,dst=/backup/shop_data,readonly,volume-nocopy"}; !slices.Equal(mounts, want) {
			t.Errorf("mounts = %q, want %q", mounts, want)
		}
	})
	t.Run("volume missing on a node", func(t *testing.T) {
		c := newBkCluster(t)
		c.missing["worker-2"] = []string{"shop_uploads"}
		c.missing["worker-1"] = []string{"shop_uploads", "shop_data"}
		r := c.deps(bkConfig()).BackupService(context.Background(), bkService)
		if !r.OK {
			t.Fatalf("not OK: %s", r.Error)
		}
		if _, ok := c.helpersOf("upload")["worker-1"]; ok {
			t.Error("uploader started on worker-1 where no volume exists")
		}
		if up := findStep(t, r, "upload", "worker-1"); up.Details["skipped"] == "" {
			t.Errorf("worker-1 upload step has no skip note: %v", up.Details)
		}
		h := c.helpersOf("upload")["worker-2"]
		if h == nil || slices.Contains(h.Args, "type=volume,src=shop_uploads,dst=/backup/uploads,readonly,volume-nocopy") {
			t.Errorf("worker-2 uploader mounts a volume missing there: %v", h)
		}
		if chk := findStep(t, r, "volume-check", "worker-2"); !strings.Contains(chk.Details["missing"], "shop_uploads") {
			t.Errorf("volume-check details = %v", chk.Details)
		}
	})
}

func TestBackupServiceNoUploadReportedFails(t *testing.T) {
	c := newBkCluster(t)
	c.labels[parse.LabelBackupStop] = "false"
	c.upload = func(string) (string, int, string) {
		return "complete", 0, `level=WARN msg="No storage backend is configured"` + "\n"
	}
	r := c.deps(bkConfig()).BackupService(context.Background(), bkService)
	if r.OK {
		t.Fatal("OK although the uploader reported no upload")
	}
	if up := findStep(t, r, "upload", "worker-1"); !strings.Contains(up.Error, "reported no upload") {
		t.Errorf("upload error = %q", up.Error)
	}
}

func TestBackupServicePreExecFailureContinues(t *testing.T) {
	c := newBkCluster(t)
	c.labels[parse.LabelBackupExec] = "false"
	c.execExit = 1
	r := c.deps(bkConfig()).BackupService(context.Background(), bkService)
	if r.OK || !strings.Contains(r.Error, "pre-exec") {
		t.Fatalf("got ok=%v err=%q, want the failed pre-exec reported", r.OK, r.Error)
	}
	for _, n := range []string{"worker-1", "worker-2"} {
		if !findStep(t, r, "upload", n).OK {
			t.Errorf("upload on %s did not run after the failed pre-exec", n)
		}
	}
	if !findStep(t, r, "start", "").OK || c.replicas != 2 {
		t.Error("service not started again")
	}
}

func TestBackupServiceRecoversServiceLeftStopped(t *testing.T) {
	c := newBkCluster(t)
	c.replicas = 0
	c.labels[backup.LabelRestoreReplicas] = "2" // an earlier run crashed between stop and start
	r := c.deps(bkConfig()).BackupService(context.Background(), bkService)
	if !r.OK {
		t.Fatalf("not OK: %s (steps %v)", r.Error, stepNames(r))
	}
	if r.Steps[0].Name != "recover-start" || len(c.helpersOf("upload")) != 2 {
		t.Errorf("steps %v, %d uploads; want recover-start first and uploads from both nodes", stepNames(r), len(c.helpersOf("upload")))
	}
	u := c.updates()
	if len(u) != 3 || !slices.Equal(u[0], bkRestore) || !slices.Equal(u[2], bkRestore) {
		t.Errorf("service updates = %q", u)
	}
}

func TestRecoverStoppedServices(t *testing.T) {
	c := newBkCluster(t)
	c.replicas = 0
	c.labels[backup.LabelRestoreReplicas] = "2"
	c.fake.Handler = func(cmd bashexec.Command) (bashexec.Result, error) {
		if slices.Contains(cmd.Args, "label="+backup.LabelRestoreReplicas) {
			return bashexec.Result{Stdout: `{"ID":"svcid","Name":"` + bkService + `","Mode":"replicated","Replicas":"0/0"}` + "\n"}, nil
		}
		return c.handle(cmd)
	}
	rep := c.deps(bkConfig()).RecoverStoppedServices(context.Background())
	if !rep.OK || len(rep.Results) != 1 || c.replicas != 2 {
		t.Fatalf("report %+v, replicas %d", rep, c.replicas)
	}
	if _, ok := c.labels[backup.LabelRestoreReplicas]; ok {
		t.Error("restore label left")
	}
}
