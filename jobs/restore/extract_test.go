package restore

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

type entry struct {
	name, body, link string
	typ              byte
}

func writeArchive(t *testing.T, entries []entry, cut int) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o640, ModTime: time.Unix(1700000000, 0), Linkname: e.link}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.typ == tar.TypeDir {
			h.Mode = 0o750
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if cut > 0 {
		data = data[:len(data)-cut]
	}
	p := filepath.Join(t.TempDir(), "a.tar.gz")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tree lists a folder: path -> content ("" for folders, "-> target" for links).
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "-> " + l
		case info.IsDir():
			out[rel] = ""
		default:
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExtractArchive(t *testing.T) {
	good := []entry{
		{name: "backup/", typ: tar.TypeDir},
		{name: "backup/a/", typ: tar.TypeDir},
		{name: "backup/a/x.txt", body: "x from backup", typ: tar.TypeReg},
		{name: "backup/a/sub/y.txt", body: "yy", typ: tar.TypeReg}, // no folder entry before it
		{name: "backup/a/link", link: "x.txt", typ: tar.TypeSymlink},
		{name: "backup/a/hard", link: "backup/a/x.txt", typ: tar.TypeLink},
		{name: "./backup/b/z.txt", body: "zzz", typ: tar.TypeReg},
		{name: "backup/other/o.txt", body: "not listed", typ: tar.TypeReg},
	}
	for _, tc := range []struct {
		name    string
		entries []entry
		cut     int
		vols    []string
		wantA   map[string]string
		wantB   map[string]string
		results string
		err     string
	}{
		{name: "replaces the listed volumes' content", entries: good, vols: []string{"a", "b"},
			wantA:   map[string]string{"x.txt": "x from backup", "sub": "", "sub/y.txt": "yy", "link": "-> x.txt", "hard": "x from backup"},
			wantB:   map[string]string{"z.txt": "zzz"},
			results: "a:2:15 b:1:3"},
		{name: "a volume the archive lacks is left as it is", entries: good[:6], vols: []string{"a", "b"},
			wantA:   map[string]string{"x.txt": "x from backup", "sub": "", "sub/y.txt": "yy", "link": "-> x.txt", "hard": "x from backup"},
			wantB:   map[string]string{"old.txt": "old b", "olddir": "", "olddir/f": "old f"},
			results: "a:2:15 b:skipped"},
		{name: "truncated: nothing touched", entries: good, cut: 30, vols: []string{"a", "b"}, err: "check archive"},
		{name: "a path out of the volume: nothing touched", vols: []string{"a", "b"}, err: "not a clean path",
			entries: []entry{{name: "backup/a/x.txt", body: "x", typ: tar.TypeReg}, {name: "backup/a/../../evil", body: "e", typ: tar.TypeReg}}},
		{name: "a device: nothing touched", vols: []string{"a", "b"}, err: "is not restored",
			entries: []entry{{name: "backup/a/x.txt", body: "x", typ: tar.TypeReg}, {name: "backup/a/dev", typ: tar.TypeChar}}},
		{name: "a hard link out of the volume: refused", vols: []string{"a", "b"}, err: "outside its volume",
			entries: []entry{{name: "backup/a/h", link: "backup/b/z.txt", typ: tar.TypeLink}}},
		{name: "not gzip", vols: []string{"a"}, err: "gunzip", entries: nil, cut: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dirs := map[string]string{}
			outside := filepath.Join(root, "outside")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, v := range tc.vols {
				d := filepath.Join(root, v)
				if err := os.MkdirAll(filepath.Join(d, "olddir"), 0o755); err != nil {
					t.Fatal(err)
				}
				_ = os.WriteFile(filepath.Join(d, "old.txt"), []byte("old "+v), 0o644)
				_ = os.WriteFile(filepath.Join(d, "olddir", "f"), []byte("old f"), 0o644)
				dirs[v] = d
			}
			before := map[string]string{}
			for v, d := range dirs {
				before[v] = fmtSorted(tree(t, d))
			}
			p := ""
			if tc.cut == -1 {
				p = filepath.Join(root, "plain")
				_ = os.WriteFile(p, []byte("not an archive"), 0o600)
			} else {
				p = writeArchive(t, tc.entries, tc.cut)
			}
			res, err := ExtractArchive(p, dirs)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if !strings.Contains(tc.err, "outside") {
					for v, d := range dirs {
						if got := fmtSorted(tree(t, d)); got != before[v] {
							t.Errorf("volume %s changed by a refused archive: %s", v, got)
						}
					}
				}
				if len(tree(t, outside)) != 0 {
					t.Errorf("written outside the volumes: %v", tree(t, outside))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range res {
				if r.Skipped != "" {
					got = append(got, r.Volume+":skipped")
				} else {
					got = append(got, r.Volume+":"+itoa(r.Files)+":"+itoa(int(r.Bytes)))
				}
			}
			if strings.Join(got, " ") != tc.results {
				t.Errorf("results %q, want %q", strings.Join(got, " "), tc.results)
			}
			for v, want := range map[string]map[string]string{"a": tc.wantA, "b": tc.wantB} {
				if have := tree(t, dirs[v]); fmtSorted(have) != fmtSorted(want) {
					t.Errorf("volume %s holds %v, want %v", v, have, want)
				}
			}
			if fi, err := os.Stat(filepath.Join(dirs["a"], "x.txt")); err != nil || fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(time.Unix(1700000000, 0)) {
				t.Errorf("x.txt mode/time not restored: %v %v", fi, err)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func fmtSorted(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + m[k] + ";")
	}
	return b.String()
}
