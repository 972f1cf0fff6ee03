//go:build integration

package uploaderstandin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/swarm-utils/swarm-utils/internal/s3client"
)

// realS3 is the S3 server the stand-in binary talks to in these tests.
type realS3 struct {
	endpoint, accessKey, secretKey, bucket string
	posixDir                               string // versitygw posix root, for back-dating; "" if unknown
}

// s3ForTest uses SU_S3_URL/SU_S3_ACCESS_KEY/SU_S3_SECRET_KEY/SU_S3_BUCKET
// (and SU_S3_POSIX_DIR, versitygw's posix root, to back-date objects) when
// set; otherwise it starts a private versitygw on a loopback port.
func s3ForTest(t *testing.T) realS3 {
	t.Helper()
	if raw := os.Getenv("SU_S3_URL"); raw != "" {
		// The bed gives host:port, like SWARM_UTILS_S3_URL; a scheme is accepted too.
		if !strings.Contains(raw, "://") {
			raw = "http://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || u.Scheme != "http" {
			t.Fatalf("SU_S3_URL %q: want http://host:port", raw)
		}
		s := realS3{u.Host, os.Getenv("SU_S3_ACCESS_KEY"), os.Getenv("SU_S3_SECRET_KEY"), os.Getenv("SU_S3_BUCKET"), os.Getenv("SU_S3_POSIX_DIR")}
		if s.accessKey == "" || s.secretKey == "" || s.bucket == "" {
			t.Fatal("SU_S3_URL is set but SU_S3_ACCESS_KEY, SU_S3_SECRET_KEY or SU_S3_BUCKET is not")
		}
		return s
	}
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		bin = "/root/go/bin/versitygw"
		if _, err := os.Stat(bin); err != nil {
			t.Skip("no SU_S3_* environment and no versitygw binary to start")
		}
	}
	dir := t.TempDir()
	s := realS3{accessKey: "standin-it", secretKey: "standin-it-secret", bucket: "backups", posixDir: dir}
	if err := os.Mkdir(filepath.Join(dir, s.bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.endpoint = l.Addr().String()
	l.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--port", s.endpoint, "posix", dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.accessKey, "ROOT_SECRET_KEY="+s.secretKey)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	client := s.client(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := s3client.List(context.Background(), client, s.bucket, "")
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// client is an S3 client for the test's own look into the bucket.
func (s realS3) client(t *testing.T) *minio.Client {
	t.Helper()
	c, err := s3client.New(s.endpoint, false, s.accessKey, s.secretKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// buildStandin compiles testdata/uploader-standin as the tests' /usr/bin/backup.
func buildStandin(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "backup")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/uploader-standin")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build uploader-standin: %v\n%s", err, b)
	}
	return out
}

func runStandin(t *testing.T, bin string, env map[string]string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	default:
		t.Fatalf("run stand-in: %v", err)
		return "", -1
	}
}

func TestIntegrationStandinUploadsAndPrunes(t *testing.T) {
	s3 := s3ForTest(t)
	bin := buildStandin(t)
	client := s3.client(t)
	ctx := context.Background()
	svcPath := "standin-it-" + time.Now().UTC().Format("20060102T150405.000000000")
	otherPath := svcPath + "-other"
	t.Cleanup(func() {
		for _, p := range []string{svcPath + "/", otherPath + "/"} {
			objs, _ := s3client.List(context.Background(), client, s3.bucket, p)
			_ = s3client.Remove(context.Background(), client, s3.bucket, objs)
		}
	})

	root := t.TempDir()
	for rel, body := range map[string]string{"app_data/db.sqlite": "rows", "app_data/sub/x.txt": "x", "uploads/img.png": "png"} {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("db.sqlite", filepath.Join(root, "app_data", "link")); err != nil {
		t.Fatal(err)
	}

	// Seed earlier backups: old and recent ones of this node, an old one of
	// another node, and an old one of another service.
	seed := map[string]time.Duration{
		svcPath + "/node1_app_old-a.tar.gz":   10 * 24 * time.Hour,
		svcPath + "/node1_app_old-b.tar.gz":   8 * 24 * time.Hour,
		svcPath + "/node1_app_recent.tar.gz":  24 * time.Hour,
		svcPath + "/node2_app_old.tar.gz":     10 * 24 * time.Hour,
		otherPath + "/node1_app_old.tar.gz":   10 * 24 * time.Hour,
		svcPath + "/nested/node1_app_old.tgz": 10 * 24 * time.Hour,
	}
	for key, age := range seed {
		if _, err := client.PutObject(ctx, s3.bucket, key, strings.NewReader("old"), 3, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("seed %s: %v", key, err)
		}
		if s3.posixDir == "" {
			continue
		}
		when := time.Now().Add(-age)
		if err := os.Chtimes(filepath.Join(s3.posixDir, s3.bucket, filepath.FromSlash(key)), when, when); err != nil {
			t.Fatalf("back-date %s: %v", key, err)
		}
	}
	backdated := s3.posixDir != ""
	if !backdated {
		t.Log("SU_S3_POSIX_DIR unset: objects cannot be back-dated, so nothing should be pruned")
	}

	env := map[string]string{
		"STANDIN_BACKUP_ROOT":   root,
		"AWS_ENDPOINT":          s3.endpoint,
		"AWS_ENDPOINT_PROTO":    "http",
		"AWS_S3_BUCKET_NAME":    s3.bucket,
		"AWS_ACCESS_KEY_ID":     s3.accessKey,
		"AWS_SECRET_ACCESS_KEY": s3.secretKey,
		"AWS_S3_PATH":           svcPath + "/",
		"BACKUP_FILENAME":       "node1_app_%Y-%m-%dT%H-%M-%S.tar.gz",
		"BACKUP_COMPRESSION":    "gz",
		"BACKUP_RETENTION_DAYS": "7",
		"BACKUP_PRUNING_PREFIX": "node1_app_",
	}
	out, code := runStandin(t, bin, env)
	if code != 0 {
		t.Fatalf("stand-in exited %d:\n%s", code, out)
	}
	if len(s3.secretKey) < 8 {
		t.Logf("secret key too short (%d chars) to search the output for it", len(s3.secretKey))
	} else if strings.Contains(out, s3.secretKey) {
		t.Fatalf("stand-in printed the secret key:\n%s", out)
	}
	if !strings.Contains(out, `msg="Uploaded a copy of backup `) {
		t.Fatalf("no Uploaded line:\n%s", out)
	}
	wantPrune := "None of 4 existing backups were pruned."
	if backdated {
		wantPrune = "Pruned 2 out of 4 backups"
	}
	if !strings.Contains(out, wantPrune) {
		t.Errorf("log lacks %q:\n%s", wantPrune, out)
	}

	objs, err := s3client.List(ctx, client, s3.bucket, svcPath)
	if err != nil {
		t.Fatal(err)
	}
	var keys, fresh []string
	for _, o := range objs {
		keys = append(keys, o.Key)
		if _, ok := seed[o.Key]; !ok {
			fresh = append(fresh, o.Key)
		}
	}
	if len(fresh) != 1 || !strings.HasPrefix(fresh[0], svcPath+"/node1_app_") || !strings.HasSuffix(fresh[0], ".tar.gz") {
		t.Fatalf("expected one new archive under %s, bucket has %q", svcPath, keys)
	}
	for key := range seed {
		gone := backdated && (strings.HasSuffix(key, "/node1_app_old-a.tar.gz") || strings.HasSuffix(key, "/node1_app_old-b.tar.gz"))
		if present := slices.Contains(keys, key); present == gone {
			t.Errorf("%s present=%v, want present=%v (bucket %q)", key, present, !gone, keys)
		}
	}

	if st, err := client.StatObject(ctx, s3.bucket, fresh[0], minio.StatObjectOptions{}); err != nil || st.ContentType != "application/tar+gzip" {
		t.Errorf("stat %s: content type %q, %v; want offen's application/tar+gzip", fresh[0], st.ContentType, err)
	}
	data, err := s3client.Get(ctx, client, s3.bucket, fresh[0])
	if err != nil {
		t.Fatal(err)
	}
	members, _ := readArchive(t, bytes.NewReader(data))
	for name, body := range map[string]string{"backup/app_data/db.sqlite": "rows", "backup/app_data/sub/x.txt": "x", "backup/uploads/img.png": "png"} {
		if members[name].body != body {
			t.Errorf("archive member %s = %q, want %q", name, members[name].body, body)
		}
	}
	if members["backup/app_data/link"].linkname != "db.sqlite" {
		t.Errorf("symlink not kept: %+v", members["backup/app_data/link"])
	}
}

func TestIntegrationStandinWithoutBucketUploadsNothing(t *testing.T) {
	s3 := s3ForTest(t)
	bin := buildStandin(t)
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "vol"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A name no other test uses, so parallel tests sharing the bucket do not matter.
	name := fmt.Sprintf("standin-nobucket-%d.tar.gz", time.Now().UnixNano())
	out, code := runStandin(t, bin, map[string]string{
		"STANDIN_BACKUP_ROOT": root,
		"AWS_ENDPOINT":        s3.endpoint,
		"AWS_ENDPOINT_PROTO":  "http",
		"BACKUP_FILENAME":     name,
	})
	if code != 0 {
		t.Fatalf("exit %d without a bucket, offen exits 0:\n%s", code, out)
	}
	if strings.Contains(out, "Uploaded a copy of backup") {
		t.Fatalf("claims an upload without storage:\n%s", out)
	}
	if !strings.Contains(out, name) || !strings.Contains(out, "No storage backend is configured") {
		t.Errorf("log does not show the archive %s being made but not stored:\n%s", name, out)
	}
	all, err := s3client.List(context.Background(), s3.client(t), s3.bucket, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range all {
		if strings.Contains(o.Key, name) {
			t.Errorf("%s was uploaded although no bucket was configured", o.Key)
		}
	}
}

func TestIntegrationStandinFailsOnBadCredentials(t *testing.T) {
	s3 := s3ForTest(t)
	bin := buildStandin(t)
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "vol"), 0o755); err != nil {
		t.Fatal(err)
	}
	wrong := "definitely-wrong-secret-" + fmt.Sprint(time.Now().UnixNano())
	out, code := runStandin(t, bin, map[string]string{
		"STANDIN_BACKUP_ROOT":   root,
		"AWS_ENDPOINT":          s3.endpoint,
		"AWS_ENDPOINT_PROTO":    "http",
		"AWS_S3_BUCKET_NAME":    s3.bucket,
		"AWS_ACCESS_KEY_ID":     s3.accessKey,
		"AWS_SECRET_ACCESS_KEY": wrong,
	})
	if code != 1 {
		t.Fatalf("exit %d with a wrong secret, want 1:\n%s", code, out)
	}
	if strings.Contains(out, wrong) {
		t.Errorf("output contains the secret:\n%s", out)
	}
	if strings.Contains(out, "Uploaded a copy of backup") || !strings.Contains(out, "[StatusCode]: 403") {
		t.Errorf("want a 403 upload error and no Uploaded line:\n%s", out)
	}
}
