package update

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/config"
)

// The update and the check's resolve share one private docker config: none without registry
// auth; with it a 0700 directory seeded with the registry's empty auth, which done removes.
func TestPrivateConfig(t *testing.T) {
	j := &Job{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, tc := range []struct {
		name string
		s    Settings
	}{
		{"no registry auth", Settings{}},
		{"registry auth", Settings{RegistryAuth: true, Registry: config.Registry{URL: "registry.local:5000", User: "ci", Password: "pw-123456789"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, done, err := j.privateConfig(tc.s)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.s.RegistryAuth {
				if env != nil {
					t.Errorf("env %q without registry auth", env)
				}
				done()
				return
			}
			dir, ok := strings.CutPrefix(strings.Join(env, ""), "DOCKER_CONFIG=")
			if len(env) != 1 || !ok {
				t.Fatalf("env %q, want DOCKER_CONFIG alone", env)
			}
			fi, err := os.Stat(dir)
			if err != nil || fi.Mode().Perm() != 0o700 {
				t.Fatalf("config dir %s: %v %v, want 0700", dir, fi, err)
			}
			seed, err := os.ReadFile(filepath.Join(dir, "config.json"))
			if err != nil || !strings.Contains(string(seed), `"registry.local:5000":{}`) || strings.Contains(string(seed), "pw-123456789") {
				t.Errorf("config.json %s: %v", seed, err)
			}
			done()
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("done left %s behind (stat: %v)", dir, err)
			}
		})
	}
}
