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
		"docker.io/nginx:1":                 "docker.io/library/nginx", // the hand-written code said docker.io/nginx
		"not:a:reference@sha256:abc":        "",                        // docker refuses it: matches no service
	} {
		if got := imageRepository(ref); got != want {
			t.Errorf("imageRepository(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestImageAllowedNormalises(t *testing.T) {
	tests := []struct {
		glob, image string
		want        bool
	}{
		{"nginx:*", "docker.io/library/nginx:1.27", true},
		{"nginx:*", "library/nginx:1.27", true},
		{"docker.io/library/nginx:*", "nginx:1.27", true},
		{"docker.io/bitnami/*", "bitnami/redis:7", true},
		{"bitnami/*", "docker.io/bitnami/redis:7", true},
		{"nginx:*", "evil.example/nginx:1", false},
		{"nginx:*", "docker.io/evil/nginx:1", false},
		{"docker.io/*", "nginx:1", false}, // normalised it is docker.io/library/nginx: two segments
		{"docker.io/*/*", "nginx:1", true},
		{"reg:5000/team/*", "reg:5000/team/x/app:1", false},
	}
	for _, tt := range tests {
		if got := (ImageAllow{tt.glob}).Allowed(tt.image); got != tt.want {
			t.Errorf("glob %q, Allowed(%q) = %v, want %v", tt.glob, tt.image, got, tt.want)
		}
	}
}
