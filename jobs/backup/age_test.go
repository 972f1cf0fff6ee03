package backup

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/config"
)

// The age settings reach offen only as files of per-run secrets (AGE_PASSPHRASE_FILE,
// AGE_PUBLIC_KEYS_FILE): never in the helper's env or argv, and the secrets go with the helper.
func TestBackupAgeSettingsAsSecrets(t *testing.T) {
	const pass = "age-pass-7c1e-never-shown"
	const keys = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p,age1lggyhqrw2nlhcxprm67z43rta597azn8gknawjehu9d9dl0jq3yqqvfafg"
	for _, tc := range []struct {
		name string
		age  config.Age
		want map[string]string // what the uploader reads from files
	}{
		{"passphrase", config.Age{Passphrase: pass}, map[string]string{"AGE_PASSPHRASE": pass}},
		{"public keys", config.Age{PublicKeys: strings.Split(keys, ",")}, map[string]string{"AGE_PUBLIC_KEYS": keys}},
		{"none", config.Age{}, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster()
			cfg := testConfig()
			cfg.Age = tc.age
			j, _ := c.job(cfg)
			r := j.Run(context.Background(), svcName)
			if !r.OK {
				t.Fatalf("not OK: %s", r.Error)
			}
			if len(c.helpers("upload")) != 2 {
				t.Fatalf("uploaders: %v", c.helpers("upload"))
			}
			for node, h := range c.helpers("upload") {
				got := c.keyFiles[node]
				delete(got, "AWS_ACCESS_KEY_ID")
				delete(got, "AWS_SECRET_ACCESS_KEY")
				if !maps.Equal(got, tc.want) {
					t.Errorf("%s: the uploader reads %q from files, want %q", node, got, tc.want)
				}
				for _, e := range h.Env {
					if strings.HasPrefix(e, "AGE_PASSPHRASE=") || strings.HasPrefix(e, "AGE_PUBLIC_KEYS=") {
						t.Errorf("%s: age setting in the env: %s", node, e)
					}
				}
			}
			assertKeysInNoArgv(t, c, accessKey, pass)
			assertNoSwarmSecrets(t, c)
			assertNoSecret(t, r, pass)
		})
	}
}
