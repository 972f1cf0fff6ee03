package restore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/config"
)

func TestHelperArgsHoldNoKey(t *testing.T) {
	a := HelperArgs{S3: config.S3{URL: "s3:9000", HTTPS: true, Bucket: "b", AccessKey: accessKey, SecretKey: secretKey},
		Key: "svc/svc_n_2026-01-01T00-00-00.tar.gz", Volumes: []string{"data", "uploads"}, Marker: "@@m"}
	got := a.Argv()
	want := []string{HelperCommand, "--s3-url", "s3:9000", "--bucket", "b", "--key", a.Key, "--marker", "@@m", "--https", "--volume", "data", "--volume", "uploads"}
	if !slices.Equal(got, want) {
		t.Errorf("argv %q, want %q", got, want)
	}
}

// RunHelper refuses before any download: missing key files and volume entries that are paths.
func TestRunHelperRefusals(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k")
	if err := os.WriteFile(keyFile, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	both := map[string]string{envAccessFile: keyFile, envSecretFile: keyFile}
	for _, tc := range []struct {
		name string
		env  map[string]string
		vols []string
		err  string
	}{
		{"no access key file", map[string]string{envSecretFile: keyFile}, []string{"data"}, envAccessFile + " is not set"},
		{"unreadable key file", map[string]string{envAccessFile: keyFile, envSecretFile: filepath.Join(dir, "none")}, []string{"data"}, "read the S3 key file"},
		{"no volume", both, nil, "no --volume"},
		{"a path as volume", both, []string{"../etc"}, "not a plain name"},
		{"dot", both, []string{".."}, "not a plain name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := RunHelper(context.Background(), HelperArgs{S3: config.S3{URL: "127.0.0.1:1", Bucket: "b"}, Key: "k", Volumes: tc.vols, Marker: "@@m"}, env(tc.env), &out)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
			if out.Len() != 0 {
				t.Errorf("printed a result: %s", out.String())
			}
		})
	}
}
