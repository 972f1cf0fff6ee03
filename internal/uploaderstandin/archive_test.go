package uploaderstandin

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

type member struct {
	typ      byte
	mode     int64
	modTime  time.Time
	linkname string
	body     string
}

func readArchive(t *testing.T, r io.Reader) (map[string]member, []string) {
	t.Helper()
	gz, err := gzip.NewReader(r)
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	members := map[string]member{}
	var order []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("bad tar: %v", err)
		}
		body, _ := io.ReadAll(tr)
		members[hdr.Name] = member{hdr.Typeflag, hdr.Mode, hdr.ModTime, hdr.Linkname, string(body)}
		order = append(order, hdr.Name)
	}
	return members, order
}

func TestWriteArchive(t *testing.T) {
	root := t.TempDir()
	mtime := time.Date(2023, 6, 1, 10, 20, 30, 0, time.UTC)
	mustWrite := func(rel, body string, mode os.FileMode) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask-proof
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite("app_data/config.yml", "a: 1\n", 0o640)
	mustWrite("app_data/deep/nested/blob.bin", "\x00\x01binary", 0o600)
	mustWrite("db/pg.conf", "listen=*\n", 0o644)
	mustWrite("db/run.sh", "#!/bin/sh\n", 0o755)
	mustWrite("stray-file-at-root", "not a volume", 0o644)
	if err := os.MkdirAll(filepath.Join(root, "empty_vol"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("config.yml", filepath.Join(root, "app_data", "current")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "db", "outside")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "db", "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	stats, err := WriteArchive(&buf, root)
	if err != nil {
		t.Fatalf("WriteArchive: %v", err)
	}
	if want := []string{"app_data", "db", "empty_vol"}; !slices.Equal(stats.Volumes, want) {
		t.Errorf("volumes %q, want %q", stats.Volumes, want)
	}
	if stats.Files != 4 || stats.Symlinks != 2 || !slices.Equal(stats.Skipped, []string{"backup/db/fifo"}) {
		t.Errorf("stats %+v", stats)
	}

	members, order := readArchive(t, &buf)
	wantNames := []string{
		"backup/",
		"backup/app_data/", "backup/app_data/config.yml", "backup/app_data/current",
		"backup/app_data/deep/", "backup/app_data/deep/nested/", "backup/app_data/deep/nested/blob.bin",
		"backup/db/", "backup/db/outside", "backup/db/pg.conf", "backup/db/run.sh",
		"backup/empty_vol/",
	}
	if !slices.Equal(order, wantNames) {
		t.Fatalf("members\n got %q\nwant %q", order, wantNames)
	}
	tests := []struct {
		name string
		want member
	}{
		{"backup/app_data/config.yml", member{tar.TypeReg, 0o640, mtime, "", "a: 1\n"}},
		{"backup/app_data/deep/nested/blob.bin", member{tar.TypeReg, 0o600, mtime, "", "\x00\x01binary"}},
		{"backup/db/run.sh", member{tar.TypeReg, 0o755, mtime, "", "#!/bin/sh\n"}},
		{"backup/db/pg.conf", member{tar.TypeReg, 0o644, mtime, "", "listen=*\n"}},
	}
	for _, tt := range tests {
		got := members[tt.name]
		if got.typ != tt.want.typ || got.mode != tt.want.mode || !got.modTime.Equal(tt.want.modTime) || got.body != tt.want.body {
			t.Errorf("%s = %+v, want %+v", tt.name, got, tt.want)
		}
	}
	for name, target := range map[string]string{"backup/app_data/current": "config.yml", "backup/db/outside": "/etc/passwd"} {
		if m := members[name]; m.typ != tar.TypeSymlink || m.linkname != target || m.body != "" {
			t.Errorf("%s = %+v, want a symlink to %s", name, m, target)
		}
	}
	if m := members["backup/empty_vol/"]; m.typ != tar.TypeDir || m.mode != 0o700 {
		t.Errorf("empty_vol = %+v, want a 0700 dir", m)
	}
}

func TestWriteArchiveMissingRoot(t *testing.T) {
	_, err := WriteArchive(io.Discard, filepath.Join(t.TempDir(), "nope"))
	if err == nil {
		t.Fatal("a missing backup root was archived without error")
	}
}
