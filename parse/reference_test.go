package parse

import (
	"strings"
	"testing"
)

func TestParseImageRef(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	good := map[string]ImageRef{
		"busybox":                              {Name: "busybox"},
		"busybox:1.36":                         {Name: "busybox", Tag: "1.36"},
		"192.168.213.1:5000/su/workload:2":     {Name: "192.168.213.1:5000/su/workload", Tag: "2"},
		"registry.example.com/a/b_c__d-e:v1.0": {Name: "registry.example.com/a/b_c__d-e", Tag: "v1.0"},
		"app@" + digest:                        {Name: "app", Digest: digest},
		"Reg.Example:443/app:1@" + digest:      {Name: "Reg.Example:443/app", Tag: "1", Digest: digest},
		"localhost/app":                        {Name: "localhost/app"},
	}
	for in, want := range good {
		got, err := ParseImageRef(in)
		if err != nil || got != want {
			t.Errorf("ParseImageRef(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := []string{"", "-f", "Upper/Case:1", "a..b", "a//b", "a:b:c", "a@sha256:1", "app:", ":1", "app;rm", "app $(x)",
		"a/" + strings.Repeat("x", 260), "app:" + strings.Repeat("t", 129), "app\n", "/app", "app/"}
	for _, in := range bad {
		if got, err := ParseImageRef(in); err == nil {
			t.Errorf("ParseImageRef(%q) = %+v, want an error", in, got)
		}
	}
}

func TestRepository(t *testing.T) {
	for in, want := range map[string]string{"busybox:1": "docker.io/library/busybox", "org/app": "docker.io/org/app", "reg:5000/app": "reg:5000/app", "localhost/app": "localhost/app"} {
		r, err := ParseImageRef(in)
		if err != nil || r.Repository() != want {
			t.Errorf("Repository(%q) = %q, %v; want %q", in, r.Repository(), err, want)
		}
	}
}
