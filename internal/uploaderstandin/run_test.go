package uploaderstandin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testSecret = "standin-secret-never-printed"

// memS3 is a path-style in-memory S3 for Run's tests, answering the calls minio-go makes for
// offen's upload and prune: bucket location, PUT (aws-chunked over http), ListObjectsV2 and
// multi-object delete. It checks only that a signature is present; minio-go signs.
type memS3 struct {
	mu       sync.Mutex
	objects  map[string][]byte
	modified map[string]time.Time
	types    map[string]string // Content-Type per key
	deleted  []string
	failPut  bool
}

func (m *memS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		http.Error(w, "unsigned", http.StatusForbidden)
		return
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket != "backups" {
		s3Error(w, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		return
	}
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && key == "" && q.Has("location"):
		fmt.Fprint(w, `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`)
	case r.Method == http.MethodPut && key != "":
		if m.failPut {
			s3Error(w, http.StatusForbidden, "AccessDenied", "Access Denied.")
			return
		}
		body, err := readPayload(r)
		if err != nil {
			s3Error(w, http.StatusBadRequest, "IncompleteBody", err.Error())
			return
		}
		m.objects[key] = body
		m.modified[key] = time.Now()
		m.types[key] = r.Header.Get("Content-Type")
		w.Header().Set("ETag", `"etag"`)
	case r.Method == http.MethodGet && key == "" && q.Get("list-type") == "2":
		type content struct {
			Key          string
			Size         int
			LastModified string
		}
		var res struct {
			XMLName  xml.Name `xml:"ListBucketResult"`
			Name     string
			Prefix   string
			KeyCount int
			Contents []content
		}
		res.Name, res.Prefix = bucket, q.Get("prefix")
		for k, v := range m.objects {
			if strings.HasPrefix(k, res.Prefix) {
				res.Contents = append(res.Contents, content{k, len(v), m.modified[k].UTC().Format(time.RFC3339)})
			}
		}
		sort.Slice(res.Contents, func(i, j int) bool { return res.Contents[i].Key < res.Contents[j].Key })
		res.KeyCount = len(res.Contents)
		xml.NewEncoder(w).Encode(res)
	case r.Method == http.MethodPost && key == "" && q.Has("delete"):
		var req struct {
			Object []struct{ Key string }
		}
		if err := xml.NewDecoder(r.Body).Decode(&req); err != nil {
			s3Error(w, http.StatusBadRequest, "MalformedXML", err.Error())
			return
		}
		for _, o := range req.Object {
			delete(m.objects, o.Key)
			m.deleted = append(m.deleted, o.Key)
		}
		fmt.Fprint(w, `<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>`)
	default:
		http.Error(w, "not in the fake: "+r.Method+" "+r.URL.String(), http.StatusNotImplemented)
	}
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.WriteHeader(status)
	fmt.Fprintf(w, `<Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

// readPayload is the object's bytes: minio-go signs PUTs over http chunk by chunk
// (aws-chunked: "hex-size;chunk-signature=…\r\n" data "\r\n", ending with a 0-size chunk).
func readPayload(r *http.Request) ([]byte, error) {
	if !strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		return io.ReadAll(r.Body)
	}
	br := bufio.NewReader(r.Body)
	var out []byte
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("chunk header: %w", err)
		}
		sizeHex, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		size, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("chunk size %q: %w", sizeHex, err)
		}
		if size == 0 {
			break
		}
		chunk := make([]byte, size+2) // data and its CRLF
		if _, err := io.ReadFull(br, chunk); err != nil {
			return nil, fmt.Errorf("chunk data: %w", err)
		}
		out = append(out, chunk[:size]...)
	}
	if want := r.Header.Get("X-Amz-Decoded-Content-Length"); want != strconv.Itoa(len(out)) {
		return nil, fmt.Errorf("decoded %d bytes, header says %s", len(out), want)
	}
	return out, nil
}

func (m *memS3) put(key string, age time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = []byte("old")
	m.modified[key] = time.Now().Add(-age)
}

func (m *memS3) keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.objects {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type fixture struct {
	s3  *memS3
	env map[string]string
	log *bytes.Buffer
	tmp string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	m := &memS3{objects: map[string][]byte{}, modified: map[string]time.Time{}, types: map[string]string{}}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "data", "f.txt"), []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &fixture{
		s3:  m,
		log: &bytes.Buffer{},
		tmp: t.TempDir(),
		env: map[string]string{
			"STANDIN_BACKUP_ROOT":   root,
			"AWS_ENDPOINT":          strings.TrimPrefix(srv.URL, "http://"),
			"AWS_ENDPOINT_PROTO":    "http",
			"AWS_S3_BUCKET_NAME":    "backups",
			"AWS_ACCESS_KEY_ID":     "ak",
			"AWS_SECRET_ACCESS_KEY": testSecret,
			"AWS_S3_PATH":           "/svc/",
			"BACKUP_FILENAME":       "node1_svc_%Y-%m-%dT%H-%M-%S.tar.gz",
			"BACKUP_COMPRESSION":    "gz",
		},
	}
}

func (f *fixture) run(t *testing.T, now time.Time) error {
	t.Helper()
	cfg, err := ConfigFromEnv(func(k string) string { return f.env[k] })
	if err != nil {
		return err
	}
	cfg.TempDir = f.tmp
	err = Run(context.Background(), cfg, slog.New(slog.NewTextHandler(f.log, nil)), now)
	if strings.Contains(f.log.String(), testSecret) || (err != nil && strings.Contains(err.Error(), testSecret)) {
		t.Errorf("the secret key leaked into the log or error")
	}
	if left, _ := os.ReadDir(f.tmp); len(left) != 0 {
		t.Errorf("temporary archive left behind: %v", left)
	}
	return err
}

func TestRunUploadsOneArchive(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.Local)
	if err := f.run(t, now); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := f.s3.keys(); len(got) != 1 || got[0] != "svc/node1_svc_2024-05-06T07-08-09.tar.gz" {
		t.Fatalf("bucket holds %q", got)
	}
	if ct := f.s3.types["svc/node1_svc_2024-05-06T07-08-09.tar.gz"]; ct != "application/tar+gzip" {
		t.Errorf("uploaded with Content-Type %q, want offen's application/tar+gzip", ct)
	}
	members, _ := readArchive(t, bytes.NewReader(f.s3.objects["svc/node1_svc_2024-05-06T07-08-09.tar.gz"]))
	if members["backup/data/f.txt"].body != "payload" {
		t.Errorf("uploaded archive lacks backup/data/f.txt: %v", members)
	}
	wantLine := "msg=\"Uploaded a copy of backup `" + filepath.Join(f.tmp, "node1_svc_2024-05-06T07-08-09.tar.gz") + "` to bucket `backups`.\""
	if !strings.Contains(f.log.String(), wantLine) {
		t.Errorf("log lacks %s:\n%s", wantLine, f.log)
	}
}

func TestRunWithoutBucketUploadsNothing(t *testing.T) {
	f := newFixture(t)
	delete(f.env, "AWS_S3_BUCKET_NAME")
	if err := f.run(t, time.Now()); err != nil {
		t.Fatalf("Run without a bucket: %v (offen exits 0 here)", err)
	}
	if strings.Contains(f.log.String(), "Uploaded a copy of backup") {
		t.Errorf("claims an upload without storage:\n%s", f.log)
	}
	if !strings.Contains(f.log.String(), "No storage backend is configured") {
		t.Errorf("log does not say that no storage is configured:\n%s", f.log)
	}
	if got := f.s3.keys(); len(got) != 0 {
		t.Errorf("bucket holds %q", got)
	}
}

func TestRunUploadErrorFails(t *testing.T) {
	f := newFixture(t)
	f.s3.failPut = true
	err := f.run(t, time.Now())
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") || !strings.Contains(err.Error(), "403") {
		t.Fatalf("Run = %v, want an AccessDenied 403 error", err)
	}
	if strings.Contains(f.log.String(), "Uploaded a copy") {
		t.Errorf("claims an upload that failed:\n%s", f.log)
	}
}

func TestRunPrunes(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name       string
		prefix     string
		old        map[string]time.Duration // key -> age
		wantKept   []string
		wantLogged string
	}{
		{
			name:   "old archives of this node and service go, others stay",
			prefix: "node1_svc_",
			old: map[string]time.Duration{
				"svc/node1_svc_old1.tar.gz":     10 * day,
				"svc/node1_svc_old2.tar.gz":     8 * day,
				"svc/node1_svc_recent.tar.gz":   2 * day,
				"svc/node2_svc_old.tar.gz":      10 * day, // another node's prefix
				"svc/sub/node1_svc_old.tar.gz":  10 * day, // sub-folder
				"svc2/node1_svc_old.tar.gz":     10 * day, // another service's path
				"svc/node1_svc_edge.tar.gz":     7*day - 30*time.Second,
				"svc/node1_svc_notyet.tar.gz":   7*day - 5*time.Minute,
				"elsewhere/node1_svc_x.tar.gz":  30 * day,
				"node1_svc_at_bucket_root.tgz":  30 * day,
				"svc/node1_svc_old3.tar.gz.txt": 9 * day, // prefix matches: a candidate
			},
			wantKept: []string{
				"elsewhere/node1_svc_x.tar.gz", "node1_svc_at_bucket_root.tgz",
				"svc/node1_svc_notyet.tar.gz", "svc/node1_svc_recent.tar.gz",
				"svc/node2_svc_old.tar.gz", "svc/sub/node1_svc_old.tar.gz", "svc2/node1_svc_old.tar.gz",
			},
			wantLogged: "Pruned 4 out of 7 backups",
		},
		{
			name:       "nothing old",
			prefix:     "node1_svc_",
			old:        map[string]time.Duration{"svc/node1_svc_recent.tar.gz": day},
			wantKept:   []string{"svc/node1_svc_recent.tar.gz"},
			wantLogged: "None of 2 existing backups were pruned.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.env["BACKUP_RETENTION_DAYS"] = "7"
			f.env["BACKUP_PRUNING_PREFIX"] = tt.prefix
			for k, age := range tt.old {
				f.s3.put(k, age)
			}
			now := time.Now()
			if err := f.run(t, now); err != nil {
				t.Fatalf("Run: %v", err)
			}
			fresh, _ := Strftime(f.env["BACKUP_FILENAME"], now)
			want := append([]string{"svc/" + fresh}, tt.wantKept...)
			sort.Strings(want)
			if got := f.s3.keys(); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("bucket after pruning\n got %q\nwant %q", got, want)
			}
			if !strings.Contains(f.log.String(), tt.wantLogged) {
				t.Errorf("log lacks %q:\n%s", tt.wantLogged, f.log)
			}
		})
	}
}

func TestRunRefusesToPruneEverything(t *testing.T) {
	f := newFixture(t)
	// Retention 0 with the default leeway puts the deadline after the fresh
	// upload: every candidate matches, so offen deletes none.
	f.env["BACKUP_RETENTION_DAYS"] = "0"
	f.env["BACKUP_PRUNING_PREFIX"] = "node1_svc_"
	f.s3.put("svc/node1_svc_old.tar.gz", 3*24*time.Hour)
	if err := f.run(t, time.Now()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(f.s3.deleted) != 0 {
		t.Errorf("deleted %q although every backup matched", f.s3.deleted)
	}
	if !strings.Contains(f.log.String(), "Refusing to do so") {
		t.Errorf("log lacks the refusal:\n%s", f.log)
	}
}

func TestConfigFromEnv(t *testing.T) {
	base := map[string]string{
		"AWS_ENDPOINT": "s3:9000", "AWS_S3_BUCKET_NAME": "b",
		"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": testSecret,
	}
	with := func(kv ...string) func(string) string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return func(k string) string { return env[k] }
	}
	cfg, err := ConfigFromEnv(with())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BackupRoot != "/backup" || !cfg.HTTPS || cfg.Filename != DefaultFilename ||
		cfg.RetentionDays != -1 || cfg.PruningLeeway != time.Minute || cfg.Path != "" {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, err = ConfigFromEnv(with("AWS_ENDPOINT_PROTO", "http", "AWS_S3_PATH", "/a/b/", "BACKUP_RETENTION_DAYS", "7", "BACKUP_PRUNING_LEEWAY", "5s"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPS || cfg.Path != "a/b" || cfg.RetentionDays != 7 || cfg.PruningLeeway != 5*time.Second {
		t.Errorf("parsed: %+v", cfg)
	}
	for _, text := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		if strings.Contains(text, testSecret) {
			t.Errorf("config formats with its secret: %s", text)
		}
	}

	bad := []struct {
		name string
		env  func(string) string
	}{
		{"proto", with("AWS_ENDPOINT_PROTO", "ftp")},
		{"endpoint with scheme", with("AWS_ENDPOINT", "http://s3:9000")},
		{"compression", with("BACKUP_COMPRESSION", "zst")},
		{"retention", with("BACKUP_RETENTION_DAYS", "seven")},
		{"leeway", with("BACKUP_PRUNING_LEEWAY", "1 minute")},
		{"bucket without credentials", with("AWS_SECRET_ACCESS_KEY", "")},
	}
	for _, tt := range bad {
		if _, err := ConfigFromEnv(tt.env); err == nil {
			t.Errorf("%s: accepted", tt.name)
		} else if strings.Contains(err.Error(), testSecret) {
			t.Errorf("%s: error contains the secret: %v", tt.name, err)
		}
	}
}

// The keys may come from files (swarm secrets), exactly as offen reads them: KEY_FILE alone is
// the file's whole content, not trimmed; KEY and KEY_FILE together, or an unreadable file,
// leave KEY unset (here: no credentials, refused with a bucket).
func TestConfigFromLookupFileVariables(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o400); err != nil {
			t.Fatal(err)
		}
		return p
	}
	idFile, secretFile := write("id", "AKIA-file"), write("secret", testSecret+"\n")
	lookup := func(kv ...string) func(string) (string, bool) {
		env := map[string]string{"AWS_ENDPOINT": "s3:9000", "AWS_S3_BUCKET_NAME": "b"}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	}
	cfg, err := ConfigFromLookup(lookup("AWS_ACCESS_KEY_ID_FILE", idFile, "AWS_SECRET_ACCESS_KEY_FILE", secretFile))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AccessKey != "AKIA-file" || cfg.SecretKey != testSecret+"\n" {
		t.Errorf("keys from files: %q, secret of %d bytes; want the files' exact content", cfg.AccessKey, len(cfg.SecretKey))
	}
	cfg, err = ConfigFromLookup(lookup("AWS_ACCESS_KEY_ID", "AKIA-env", "AWS_SECRET_ACCESS_KEY_FILE", secretFile))
	if err != nil || cfg.AccessKey != "AKIA-env" {
		t.Errorf("one from the environment, one from a file: %q, %v", cfg.AccessKey, err)
	}
	for name, env := range map[string]func(string) (string, bool){
		"both set":         lookup("AWS_ACCESS_KEY_ID", "AKIA-env", "AWS_ACCESS_KEY_ID_FILE", idFile, "AWS_SECRET_ACCESS_KEY_FILE", secretFile),
		"unreadable file":  lookup("AWS_ACCESS_KEY_ID_FILE", filepath.Join(dir, "missing"), "AWS_SECRET_ACCESS_KEY_FILE", secretFile),
		"secret file only": lookup("AWS_SECRET_ACCESS_KEY_FILE", secretFile),
	} {
		if cfg, err := ConfigFromLookup(env); err == nil {
			t.Errorf("%s: accepted with access key %q", name, cfg.AccessKey)
		} else if strings.Contains(err.Error(), testSecret) {
			t.Errorf("%s: error contains the secret: %v", name, err)
		}
	}
}
