package restore

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/operation"
)

// peekStore serves objects' first bytes and counts the reads.
type peekStore struct {
	fakeStore
	data  map[string][]byte
	peeks int
}

func (s *peekStore) Peek(_ context.Context, _ config.S3, key string, n int64) ([]byte, error) {
	s.peeks++
	b := s.data[key]
	return b[:min(int64(len(b)), n)], nil
}

func ageBytes(t *testing.T, r age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("archive "), 20000)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A restore checks, before it stops the service, that each age archive's header opens with
// the configured passphrase or identity.
func TestCheckDecrypts(t *testing.T) {
	scrypt, _ := age.NewScryptRecipient("the passphrase")
	scrypt.SetWorkFactor(10)
	key, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	data := map[string][]byte{"s/pass.tar.gz.age": ageBytes(t, scrypt), "s/key.tar.gz.age": ageBytes(t, key.Recipient())}
	for _, tc := range []struct {
		name  string
		age   config.Age
		key   string
		peeks int
		kind  operation.Kind // "" = it decrypts
	}{
		{"the passphrase", config.Age{Passphrase: "the passphrase"}, "s/pass.tar.gz.age", 1, ""},
		{"a wrong passphrase", config.Age{Passphrase: "another"}, "s/pass.tar.gz.age", 1, operation.KindConfig},
		{"the identity", config.Age{Identity: key.String()}, "s/key.tar.gz.age", 1, ""},
		{"another identity", config.Age{Identity: other.String()}, "s/key.tar.gz.age", 1, operation.KindConfig},
		{"a plain archive is not read", config.Age{}, "s/plain.tar.gz", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &peekStore{data: data}
			j := &Job{Store: st, Config: config.Config{Age: tc.age}}
			err := j.checkDecrypts(context.Background(), config.S3{}, []Archive{{Key: tc.key}})
			if operation.KindOf(err) != tc.kind || st.peeks != tc.peeks {
				t.Fatalf("err %v (kind %q), %d reads; want kind %q, %d reads", err, operation.KindOf(err), st.peeks, tc.kind, tc.peeks)
			}
			if err != nil && (!strings.Contains(err.Error(), "nothing was changed") || (tc.age.Passphrase != "" && strings.Contains(err.Error(), tc.age.Passphrase))) {
				t.Errorf("error %v", err)
			}
		})
	}
}

// The helper's identities come from the secret files its variables name; without one an
// encrypted archive fails before the download, and a bad identity file never quotes itself.
func TestHelperIdentities(t *testing.T) {
	key, _ := age.GenerateX25519Identity()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(body), 0o400); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pass, id, bad := write("pass", "the passphrase"), write("id", "# created: now\n"+key.String()+"\n"), write("bad", "AGE-SECRET-KEY-1SECRETTEXT")
	for _, tc := range []struct {
		name string
		env  map[string]string
		n    int
		err  string
	}{
		{"passphrase", map[string]string{envAgePassphraseFile: pass}, 1, ""},
		{"identity file", map[string]string{envAgeIdentityFile: id}, 1, ""},
		{"both", map[string]string{envAgePassphraseFile: pass, envAgeIdentityFile: id}, 2, ""},
		{"none", map[string]string{}, 0, "no passphrase or identity"},
		{"a bad identity", map[string]string{envAgeIdentityFile: bad}, 0, "not AGE-SECRET-KEY-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, err := helperIdentities(func(k string) string { return tc.env[k] })
			switch {
			case tc.err == "" && (err != nil || len(ids) != tc.n):
				t.Fatalf("%d identities, %v; want %d", len(ids), err, tc.n)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "SECRETTEXT")):
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
}
