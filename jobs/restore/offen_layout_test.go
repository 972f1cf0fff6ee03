package restore

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// offenArchive writes an archive of srcRoot/backup as offen/docker-volume-backup's
// cmd/backup/archive.go does, with srcRoot standing for "/": it walks /backup (the folder
// itself included), takes each header from tar.FileInfoHeader and names it by its path with
// the output file's folder (/tmp) trimmed, which is no prefix of /backup, so members are named
// /backup/<volume>/… (absolute, folders without a trailing slash); sockets are skipped;
// gzip at level 5 (offen's pgzip writes the same format). With recipients, the archive is
// then encrypted with age into <name>.age as its encrypt_archive.go does.
func offenArchive(t *testing.T, srcRoot string, recipients ...age.Recipient) string {
	t.Helper()
	const outFile = "/tmp/backup-2026-12-01T23-00-00.tar.gz"
	prefix := path.Dir(outFile)
	dst := filepath.Join(t.TempDir(), path.Base(outFile))
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	zw, err := gzip.NewWriterLevel(f, 5)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	err = filepath.WalkDir(filepath.Join(srcRoot, "backup"), func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(srcRoot, p)
		h.Name = strings.TrimPrefix("/"+filepath.ToSlash(rel), prefix)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []io.Closer{tw, zw, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(recipients) == 0 {
		return dst
	}
	enc := dst + ".age"
	out, err := os.Create(enc)
	if err != nil {
		t.Fatal(err)
	}
	w, err := age.Encrypt(out, recipients...)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return enc
}

// An archive laid out exactly as the real offen image writes it, plain and age-encrypted
// (passphrase and public key), restores into the volumes byte for byte; a wrong passphrase or
// identity fails in the decryption, before any volume is touched.
func TestRestoreOffenArchive(t *testing.T) {
	src := t.TempDir()
	mtime := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	files := map[string]string{
		"backup/shop_data/base/1/pg_class": "\x00\x01relation",
		"backup/shop_data/PG_VERSION":      "16\n",
		"backup/uploads/img/a.png":         "png bytes",
	}
	for rel, body := range files {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("img/a.png", filepath.Join(src, "backup/uploads/latest")); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"shop_data": {"base": "", "base/1": "", "base/1/pg_class": "\x00\x01relation", "PG_VERSION": "16\n"},
		"uploads":   {"img": "", "img/a.png": "png bytes", "latest": "-> img/a.png"},
	}

	pass, err := age.NewScryptRecipient("right passphrase")
	if err != nil {
		t.Fatal(err)
	}
	pass.SetWorkFactor(10) // offen's default is 18: the format is the same, only slower
	passID, _ := age.NewScryptIdentity("right passphrase")
	wrongPassID, _ := age.NewScryptIdentity("wrong passphrase")
	key, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := age.GenerateX25519Identity()

	for _, tc := range []struct {
		name       string
		recipients []age.Recipient
		ids        []age.Identity
		err        string
	}{
		{name: "plain"},
		{name: "age passphrase", recipients: []age.Recipient{pass}, ids: []age.Identity{passID}},
		{name: "age public key", recipients: []age.Recipient{key.Recipient()}, ids: []age.Identity{key}},
		{name: "a wrong passphrase", recipients: []age.Recipient{pass}, ids: []age.Identity{wrongPassID}, err: "wrong passphrase or identity"},
		{name: "another identity", recipients: []age.Recipient{key.Recipient()}, ids: []age.Identity{otherKey}, err: "wrong passphrase or identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			archive := offenArchive(t, src, tc.recipients...)
			if len(tc.recipients) > 0 {
				if !strings.HasSuffix(archive, ageExt) {
					t.Fatalf("encrypted archive %s is not named .age", archive)
				}
				plain := filepath.Join(t.TempDir(), "archive.tar.gz")
				err := DecryptFile(archive, plain, tc.ids...)
				if tc.err != "" {
					if err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("decrypt = %v, want %q", err, tc.err)
					}
					return // the helper stops here: no volume was opened
				}
				if err != nil {
					t.Fatal(err)
				}
				archive = plain
			}
			root := t.TempDir()
			dirs := map[string]string{}
			for vol := range want {
				d := filepath.Join(root, vol)
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(d, "stale.txt"), []byte("stale"), 0o644); err != nil {
					t.Fatal(err)
				}
				dirs[vol] = d
			}
			res, err := ExtractArchive(archive, dirs)
			if err != nil {
				t.Fatalf("extract: %v", err)
			}
			for vol, w := range want {
				if got := tree(t, dirs[vol]); !mapsEqual(got, w) {
					t.Errorf("volume %s holds %q, want %q", vol, got, w)
				}
			}
			if len(res) != 2 || res[0].Volume != "shop_data" || res[0].Files != 2 || res[1].Files != 1 || res[0].Skipped != "" {
				t.Errorf("results %+v", res)
			}
			fi, err := os.Stat(filepath.Join(dirs["shop_data"], "PG_VERSION"))
			if err != nil || fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(mtime) {
				t.Errorf("PG_VERSION: %v, %v (want 0640 and the archive's mtime)", fi, err)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
