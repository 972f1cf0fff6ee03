package authz

import (
	"strings"
	"testing"
)

func TestImageRepository(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for ref, want := range map[string]string{
		"nginx":                             "docker.io/library/nginx",
		"nginx:1.25":                        "docker.io/library/nginx",
		"docker.io/library/nginx:1.26":      "docker.io/library/nginx",
		"bitnami/redis:7":                   "docker.io/bitnami/redis",
		"registry:5000/a/b:1@" + digest:     "registry:5000/a/b",
		"registry:5000/a/b":                 "registry:5000/a/b",
		"registry:5000/a/b@" + digest:       "registry:5000/a/b",
		"registry.example.com/team/app:1.2": "registry.example.com/team/app",
		"localhost/app:1":                   "localhost/app",
		"not:a:reference@sha256:abc":        "not:a",
	} {
		if got := imageRepository(ref); got != want {
			t.Errorf("imageRepository(%q) = %q, want %q", ref, got, want)
		}
	}
}
