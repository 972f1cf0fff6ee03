package config

import "testing"

func TestSetVersionSelfImageDefault(t *testing.T) {
	defer SetVersion("dev")
	for _, tc := range []struct{ version, want string }{
		{"v1.4.0", "swarm-utils:1.4.0"},
		{"1.4.0", "swarm-utils:1.4.0"},
		{"v2.0.0-rc.1", "swarm-utils:2.0.0-rc.1"},
		{"dev", "swarm-utils:latest"},
		{"v1.4.0-3-gc93a58d", "swarm-utils:latest"},
		{"v1.4.0-dirty", "swarm-utils:latest"},
		{"c93a58d", "swarm-utils:latest"},
	} {
		SetVersion(tc.version)
		cfg, err := parse(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.SelfImage != tc.want {
			t.Errorf("version %s: SWARM_UTILS_IMAGE defaults to %s, want %s", tc.version, cfg.SelfImage, tc.want)
		}
	}
}
