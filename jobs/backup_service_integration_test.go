//go:build integration

package jobs_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/s3client"
	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/jobs"
	"github.com/swarm-utils/swarm-utils/operation"
)

const bkRestoreLabel = "swarm-utils.backup.restore-replicas"

func bkRand(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// bkLog logs into the test log and keeps every line, for "the secret was never logged".
type bkLog struct {
	t   *testing.T
	mu  sync.Mutex
	buf strings.Builder
}

func (l *bkLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (l *bkLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// bkDeps is tb.Deps with a logger whose output the test can search.
func bkDeps(t *testing.T, cfg config.Config) (*jobs.Deps, *bkLog) {
	rec := &bkLog{t: t}
	log := slog.New(slog.NewTextHandler(rec, &slog.HandlerOptions{Level: slog.LevelDebug}))
	secrets := bashexec.NewSecrets(cfg.SecretValues()...)
	runner := bashexec.New(bashexec.Options{Logger: log, Secrets: secrets})
	return jobs.NewDeps(cfg, runner, secrets, log), rec
}

// bkService is a replicated service with two named volumes, one task on each worker, whose
// volumes hold files naming their node.
type bkService struct {
	Name, VolA, VolB string
	Files            map[string]map[string]string // node -> archive path -> content
}

func newBkService(t *testing.T, tb testbed.Bed, extraLabels ...string) bkService {
	t.Helper()
	s := bkService{Name: "it-bk-" + bkRand(t), Files: map[string]map[string]string{}}
	s.VolA, s.VolB = s.Name+"-a", s.Name+"-b"
	bkVolumeCleanup(t, tb, s.VolA, s.VolB)
	args := []string{"--replicas", "2", "--replicas-max-per-node", "1", "--constraint", "node.role==worker",
		"--mount", "type=volume,src=" + s.VolA + ",dst=/data/a", "--mount", "type=volume,src=" + s.VolB + ",dst=/data/b",
		"--label", "swarm-utils.backup.enable=true", "--label", "swarm-utils.backup.stop=true",
		"--label", "swarm-utils.backup.volume-list-upload=" + s.VolA + "," + s.VolB,
		"--label", "swarm-utils.backup.exec=echo pre > /data/a/pre.txt"}
	for _, l := range extraLabels {
		args = append(args, "--label", l)
	}
	tb.Service(t, s.Name, append(args, tb.WorkloadImage)...)

	out := tb.Docker(t, "service", "ps", "--filter", "desired-state=running", "--format", "{{.ID}} {{.Node}}", s.Name)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		id, node, _ := strings.Cut(line, " ")
		ctr := strings.TrimSpace(tb.Docker(t, "inspect", "--type", "task", "--format", "{{.Status.ContainerStatus.ContainerID}}", id))
		tb.DockerOn(t, node, "exec", ctr, "sh", "-c", `echo "a on $1" > /data/a/a.txt && mkdir -p /data/b/sub && echo "b on $1" > /data/b/sub/b.txt`, "sh", node)
		s.Files[node] = map[string]string{
			"backup/" + s.VolA + "/a.txt":     "a on " + node + "\n",
			"backup/" + s.VolA + "/pre.txt":   "pre\n",
			"backup/" + s.VolB + "/sub/b.txt": "b on " + node + "\n",
		}
	}
	if len(s.Files) != 2 {
		t.Fatalf("want one task on each worker, got %v", out)
	}
	return s
}

// bkSweep is the one sweep of earlier runs' volumes.
var bkSweep sync.Once

// bkVolumeCleanup removes the test's volumes after its service (register it before the
// service: cleanups run last-in first-out). Swarm removes the containers of a removed helper
// lazily (about two minutes on the test bed), and the uploader's container holds the volumes
// until then; so the first call sweeps the it-bk-* volumes earlier runs had to leave, and each
// test waits only briefly for its own. Once per process, before any caller made a volume: the
// tests run in parallel, and a sweep during another test's stop would remove that test's
// volumes while no container holds them (a failed move found its volume empty).
func bkVolumeCleanup(t *testing.T, tb testbed.Bed, vols ...string) {
	t.Helper()
	bkSweep.Do(func() {
		for _, node := range []string{"worker-1", "worker-2"} {
			out, _ := tb.TryDockerOn(node, "volume", "ls", "-q", "--filter", "name=it-bk-")
			for _, v := range strings.Fields(out) {
				if strings.HasPrefix(v, "it-bk-") {
					_, _ = tb.TryDockerOn(node, "volume", "rm", v) // fails while in use: left for later
				}
			}
		}
	})
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for _, node := range []string{"worker-1", "worker-2"} {
			for {
				_, err := tb.TryDockerOn(node, append([]string{"volume", "rm", "-f"}, vols...)...)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Logf("volumes on %s left for the next run's sweep: %v", node, err)
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	})
}

// bkAssertNoHelpers is tb.AssertNoHelpers scoped to the target: other tests run their own
// helpers on the same swarm at the same time, so the global check would fail for them.
func bkAssertNoHelpers(t *testing.T, tb testbed.Bed, service string) {
	t.Helper()
	out := tb.Docker(t, "service", "ls", "--filter", "label=swarm-utils.helper.lock=service:"+service, "--format", "{{.Name}}")
	if s := strings.TrimSpace(out); s != "" {
		t.Errorf("helper services left behind: %s", s)
	}
}

// bkAssertRestored checks the service runs its 2 replicas again and carries no restore label.
func bkAssertRestored(t *testing.T, tb testbed.Bed, name string) {
	t.Helper()
	if n := tb.RunningReplicas(t, name); n != 2 {
		t.Errorf("service %s runs %d replicas after the backup, want 2", name, n)
	}
	out := tb.Docker(t, "service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}} {{json .Spec.Labels}}", name)
	if !strings.HasPrefix(out, "2 ") || strings.Contains(out, bkRestoreLabel) {
		t.Errorf("service spec after the backup: %s (want 2 replicas and no %s label)", out, bkRestoreLabel)
	}
}

func bkAssertNoSecret(t *testing.T, secret string, r operation.Result, logs string) {
	t.Helper()
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), secret) {
		t.Errorf("the S3 secret key is in the result JSON")
	}
	if strings.Contains(logs, secret) {
		t.Errorf("the S3 secret key is in the logs")
	}
}

func bkUntar(t *testing.T, data []byte) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	tr := tar.NewReader(zr)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("untar: %v", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = string(b)
	}
}

func TestIntegrationBackupServiceStopUploadStart(t *testing.T) {
	jobs.ParallelSafe(t)
	tb := testbed.Get(t)
	ctx := context.Background()
	s := newBkService(t, tb)
	s3 := tb.S3(t)
	// Another service whose name starts with this one's, and an unrelated one.
	other1, other2 := s.Name+"2", "it-bk-other-"+bkRand(t)
	t.Cleanup(func() {
		for _, p := range []string{s.Name + "/", other1 + "/", other2 + "/"} {
			objs, _ := s3client.List(context.Background(), s3, tb.S3Bucket, p)
			_ = s3client.Remove(context.Background(), s3, tb.S3Bucket, objs)
		}
	})
	oldOwn := s.Name + "/" + s.Name + "_worker-1_2020-01-01T00-00-00.tar.gz"
	keep := []string{
		other1 + "/" + other1 + "_worker-1_2020-01-01T00-00-00.tar.gz",
		other2 + "/" + other2 + "_worker-1_2020-01-01T00-00-00.tar.gz",
	}
	tenDaysAgo := time.Now().Add(-10 * 24 * time.Hour)
	for _, key := range append([]string{oldOwn}, keep...) {
		if _, err := s3.PutObject(ctx, tb.S3Bucket, key, strings.NewReader("old"), 3, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("seed %s: %v", key, err)
		}
		if err := os.Chtimes(filepath.Join(tb.S3Dir, tb.S3Bucket, filepath.FromSlash(key)), tenDaysAgo, tenDaysAgo); err != nil {
			t.Fatalf("back-date %s: %v", key, err)
		}
	}

	d, logs := bkDeps(t, tb.Config())
	r := d.BackupService(ctx, s.Name)
	js, _ := json.MarshalIndent(r, "", "  ")
	if !r.OK {
		t.Fatalf("backup failed: %s", js)
	}
	t.Logf("result: %s", js)

	objs, err := s3client.List(ctx, s3, tb.S3Bucket, s.Name+"/")
	if err != nil {
		t.Fatal(err)
	}
	nameRe := regexp.MustCompile(`^` + regexp.QuoteMeta(s.Name) + `_(worker-[12])_\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.tar\.gz$`)
	seen := map[string]bool{}
	for _, o := range objs {
		if o.Key == oldOwn {
			t.Errorf("old archive %s was not pruned", o.Key)
			continue
		}
		base := strings.TrimPrefix(o.Key, s.Name+"/")
		m := nameRe.FindStringSubmatch(base)
		if m == nil {
			t.Errorf("unexpected object %s (want <service>_<node>_<time>.tar.gz)", o.Key)
			continue
		}
		node := m[1]
		if seen[node] {
			t.Errorf("more than one archive from %s", node)
		}
		seen[node] = true
		data, err := s3client.Get(ctx, s3, tb.S3Bucket, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		got := bkUntar(t, data)
		if want := s.Files[node]; !maps.Equal(got, want) {
			t.Errorf("archive %s holds %v, want %v", o.Key, got, want)
		}
	}
	if len(seen) != 2 {
		t.Errorf("archives from %v, want one from each worker", slices.Sorted(maps.Keys(seen)))
	}
	for _, key := range keep {
		if _, err := s3client.Get(ctx, s3, tb.S3Bucket, key); err != nil {
			t.Errorf("another service's archive %s was touched: %v", key, err)
		}
	}
	bkAssertRestored(t, tb, s.Name)
	bkAssertNoSecret(t, tb.S3SecretKey, r, logs.String())
	bkAssertNoHelpers(t, tb, s.Name)
	bkAssertNoKeySecrets(t, tb, s.Name)
}

// bkKeySecrets lists the swarm secrets swarm-utils made for the service's uploaders.
func bkKeySecrets(t *testing.T, tb testbed.Bed, service string) []string {
	t.Helper()
	out := tb.Docker(t, "secret", "ls", "--filter", "label=swarm-utils.secret=true",
		"--filter", "label=swarm-utils.helper.lock=service:"+service, "--format", "{{.Name}}")
	return strings.Fields(out)
}

func bkAssertNoKeySecrets(t *testing.T, tb testbed.Bed, service string) {
	t.Helper()
	if left := bkKeySecrets(t, tb, service); len(left) > 0 {
		t.Errorf("S3 key secrets left behind: %v", left)
	}
}

// TestIntegrationBackupUploaderSpecHoldsNoKey holds both uploads in flight (an S3 that accepts
// and never answers): `docker service inspect` of each uploader shows neither key, only the
// _FILE variables and the secrets they name. The backup is then cancelled: the helpers and
// their secrets are gone and the service runs again.
func TestIntegrationBackupUploaderSpecHoldsNoKey(t *testing.T) {
	jobs.ParallelSafe(t)
	tb := testbed.Get(t)
	s3, conns := stallingS3(t, tb)
	s := newBkService(t, tb, "swarm-utils.backup.volume-list-upload.s3.url="+s3)
	d, logs := bkDeps(t, tb.Config())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan operation.Result, 1)
	go func() { done <- d.BackupService(ctx, s.Name) }()

	var uploaders []string
	testbed.WaitFor(t, 2*time.Minute, "both uploads in flight", func() bool {
		uploaders = recRunningHelpers(t, tb, s.Name, "upload")
		return len(uploaders) == 2 && conns.Load() >= 2
	})
	if n := len(bkKeySecrets(t, tb, s.Name)); n != 2 {
		t.Errorf("%d key secrets during the uploads, want 2 shared by both uploaders", n)
	}
	for _, h := range uploaders {
		spec := tb.Docker(t, "service", "inspect", h)
		for what, key := range map[string]string{"access key": tb.S3AccessKey, "secret key": tb.S3SecretKey} {
			if strings.Contains(spec, key) {
				t.Errorf("docker service inspect %s shows the S3 %s", h, what)
			}
		}
		for _, want := range []string{"AWS_ACCESS_KEY_ID_FILE=/run/secrets/", "AWS_SECRET_ACCESS_KEY_FILE=/run/secrets/", `"SecretName"`} {
			if !strings.Contains(spec, want) {
				t.Errorf("uploader %s's spec lacks %s", h, want)
			}
		}
	}
	cancel()
	var r operation.Result
	select {
	case r = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("the cancelled backup did not answer within 3 minutes")
	}
	if r.OK {
		t.Errorf("a cancelled backup reported OK")
	}
	bkAssertRestored(t, tb, s.Name)
	bkAssertNoHelpers(t, tb, s.Name)
	bkAssertNoKeySecrets(t, tb, s.Name)
	bkAssertNoSecret(t, tb.S3SecretKey, r, logs.String())
}

func TestIntegrationBackupServiceWrongSecretStillRestarts(t *testing.T) {
	jobs.ParallelSafe(t)
	tb := testbed.Get(t)
	ctx := context.Background()
	wrong := "wrong-secret-" + bkRand(t)
	s := newBkService(t, tb, "swarm-utils.backup.volume-list-upload.s3.secret-key="+wrong)
	s3 := tb.S3(t)
	t.Cleanup(func() {
		objs, _ := s3client.List(context.Background(), s3, tb.S3Bucket, s.Name+"/")
		_ = s3client.Remove(context.Background(), s3, tb.S3Bucket, objs)
	})

	d, logs := bkDeps(t, tb.Config())
	r := d.BackupService(ctx, s.Name)
	js, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("result: %s", js)
	if r.OK {
		t.Fatal("backup with a wrong secret key reported OK")
	}
	failedUploads := 0
	for _, st := range r.Steps {
		if st.Name == "upload" && !st.OK && strings.Contains(st.Error, "error uploading backup") {
			failedUploads++
		}
	}
	if failedUploads != 2 {
		t.Errorf("%d failed upload steps, want 2 (one per node)", failedUploads)
	}
	if objs, _ := s3client.List(ctx, s3, tb.S3Bucket, s.Name+"/"); len(objs) != 0 {
		t.Errorf("objects uploaded with a wrong secret: %v", objs)
	}
	bkAssertRestored(t, tb, s.Name)
	bkAssertNoSecret(t, wrong, r, logs.String())
	bkAssertNoSecret(t, tb.S3SecretKey, r, logs.String())
	bkAssertNoHelpers(t, tb, s.Name)
	bkAssertNoKeySecrets(t, tb, s.Name)
}

func TestIntegrationBackupServiceGlobalStopIsImpossible(t *testing.T) {
	jobs.ParallelSafe(t)
	tb := testbed.Get(t)
	name := "it-bk-" + bkRand(t)
	vol := name + "-a"
	bkVolumeCleanup(t, tb, vol)
	tb.Service(t, name, "--mode", "global", "--constraint", "node.role==worker",
		"--mount", "type=volume,src="+vol+",dst=/data/a",
		"--label", "swarm-utils.backup.enable=true", "--label", "swarm-utils.backup.stop=true",
		"--label", "swarm-utils.backup.volume-list-upload="+vol, tb.WorkloadImage)
	before := tb.Docker(t, "service", "inspect", "--format", "{{.Version.Index}}", name)

	d, _ := bkDeps(t, tb.Config())
	r := d.BackupService(context.Background(), name)
	if r.OK || r.ErrorKind != operation.KindImpossible {
		t.Fatalf("got ok=%v kind=%q err=%q, want %q", r.OK, r.ErrorKind, r.Error, operation.KindImpossible)
	}
	if after := tb.Docker(t, "service", "inspect", "--format", "{{.Version.Index}}", name); after != before {
		t.Errorf("service spec changed: version %s -> %s", strings.TrimSpace(before), strings.TrimSpace(after))
	}
	if n := tb.RunningReplicas(t, name); n != 2 {
		t.Errorf("%d tasks running, want 2", n)
	}
	bkAssertNoHelpers(t, tb, name)
}
