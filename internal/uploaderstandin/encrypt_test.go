package uploaderstandin

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// With AGE_PASSPHRASE or AGE_PUBLIC_KEYS the archive is uploaded as <name>.age, encrypted with
// age (offen's contract), and decrypts to the same layout; both at once fail, as in offen.
func TestRunEncryptsWithAge(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	const pass = "standin-age-pass"
	scrypt, err := age.NewScryptIdentity(pass)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		env      map[string]string
		identity age.Identity
	}{
		{"passphrase", map[string]string{"AGE_PASSPHRASE": pass}, scrypt},
		{"public keys", map[string]string{"AGE_PUBLIC_KEYS": id.Recipient().String()}, id},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for k, v := range tc.env {
				f.env[k] = v
			}
			now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.Local)
			if err := f.run(t, now); err != nil {
				t.Fatalf("Run: %v", err)
			}
			const key = "svc/node1_svc_2024-05-06T07-08-09.tar.gz.age"
			if got := f.s3.keys(); len(got) != 1 || got[0] != key {
				t.Fatalf("bucket holds %q, want %s", got, key)
			}
			r, err := age.Decrypt(bytes.NewReader(f.s3.objects[key]), tc.identity)
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}
			members, _ := readArchive(t, r)
			if members["backup/data/f.txt"].body != "payload" {
				t.Errorf("decrypted archive lacks backup/data/f.txt: %v", members)
			}
			if !strings.Contains(f.log.String(), "Uploaded a copy of backup `") || !strings.Contains(f.log.String(), ".tar.gz.age` to bucket") {
				t.Errorf("log does not name the .age archive:\n%s", f.log)
			}
			if strings.Contains(f.log.String(), pass) {
				t.Errorf("the passphrase is in the log")
			}
			left, _ := os.ReadDir(f.tmp)
			if len(left) != 0 {
				t.Errorf("files left in the temp folder: %v", left)
			}
		})
	}
	t.Run("both", func(t *testing.T) {
		f := newFixture(t)
		f.env["AGE_PASSPHRASE"], f.env["AGE_PUBLIC_KEYS"] = pass, id.Recipient().String()
		if err := f.run(t, time.Now()); err == nil || !strings.Contains(err.Error(), "expected 0 or 1") {
			t.Fatalf("Run = %v, want offen's refusal of two methods", err)
		}
	})
}
