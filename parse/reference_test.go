package parse

import (
	"strings"
	"testing"
)

func TestParseImageRef(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		in                        string
		repo, domain, tag, digest string
	}{
		{"busybox", "docker.io/library/busybox", "docker.io", "", ""},
		{"busybox:1.36", "docker.io/library/busybox", "docker.io", "1.36", ""},
		{"library/busybox", "docker.io/library/busybox", "docker.io", "", ""},
		{"org/app", "docker.io/org/app", "docker.io", "", ""},
		{"192.168.213.1:5000/su/workload:2", "192.168.213.1:5000/su/workload", "192.168.213.1:5000", "2", ""},
		{"registry.example.com/a/b_c__d-e:v1.0", "registry.example.com/a/b_c__d-e", "registry.example.com", "v1.0", ""},
		{"app@" + digest, "docker.io/library/app", "docker.io", "", digest},
		{"Reg.Example:443/app:1@" + digest, "Reg.Example:443/app", "Reg.Example:443", "1", digest},
		{"localhost/app", "localhost/app", "localhost", "", ""},
		{"[::1]:5000/app:1", "[::1]:5000/app", "[::1]:5000", "1", ""},
		{"a/" + strings.Repeat("x", 240), "docker.io/a/" + strings.Repeat("x", 240), "docker.io", "", ""},
		// The library's answers where the hand-written parser (before issue 10) differed:
		{"docker.io/nginx", "docker.io/library/nginx", "docker.io", "", ""},          // was docker.io/nginx
		{"index.docker.io/nginx:1", "docker.io/library/nginx", "docker.io", "1", ""}, // was index.docker.io/nginx
		{"Upper/app", "Upper/app", "Upper", "", ""},                                  // registryMismatch said docker.io
		{"app@sha512:" + strings.Repeat("c", 128), "docker.io/library/app", "docker.io", "", "sha512:" + strings.Repeat("c", 128)},
	}
	for _, tt := range tests {
		r, err := ParseImageRef(tt.in)
		if err != nil {
			t.Errorf("ParseImageRef(%.60q): %v", tt.in, err)
			continue
		}
		if r.Repository() != tt.repo || r.Domain() != tt.domain || r.Tag() != tt.tag || r.Digest() != tt.digest {
			t.Errorf("ParseImageRef(%.60q) = repo %q domain %q tag %q digest %q; want %q %q %q %q",
				tt.in, r.Repository(), r.Domain(), r.Tag(), r.Digest(), tt.repo, tt.domain, tt.tag, tt.digest)
		}
	}
}

func TestParseImageRefRefuses(t *testing.T) {
	for _, in := range []string{"", "-f", "Upper/Case:1", "a..b", "a//b", "a:b:c", "a@sha256:1", "app:", ":1", "app;rm", "app $(x)",
		"a/" + strings.Repeat("x", 260), "app:" + strings.Repeat("t", 129), "app\n", "/app", "app/", "docker.io/Library/x", "app___x",
		// The library refuses these; the hand-written grammar accepted them:
		"app@sha256:" + strings.Repeat("a", 32), // sha256 is exactly 64 hex digits
		"app@sha256:" + strings.Repeat("A", 64), // in lower case
		"app@md5:" + strings.Repeat("a", 32),    // an algorithm go-digest does not know
		strings.Repeat("a", 64),                 // a bare image ID is no name
		strings.Repeat("x", 250),                // 255 is the limit after "docker.io/library/"
	} {
		if r, err := ParseImageRef(in); err == nil {
			t.Errorf("ParseImageRef(%.60q) = %v, want an error", in, r)
		} else if in != "" && !strings.Contains(err.Error(), "is not valid") {
			t.Errorf("ParseImageRef(%.60q): error %q does not say the image is not valid", in, err)
		}
	}
}

func TestImageRepository(t *testing.T) {
	for in, want := range map[string]string{
		"busybox:1":    "docker.io/library/busybox",
		"org/app":      "docker.io/org/app",
		"reg:5000/app": "reg:5000/app",
		"localhost/app@sha256:" + strings.Repeat("0", 64): "localhost/app",
		"not:a:reference": "",
	} {
		if got := ImageRepository(in); got != want {
			t.Errorf("ImageRepository(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSameImage(t *testing.T) {
	digest := "sha256:" + strings.Repeat("a", 64)
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"nginx:latest@" + digest, "nginx", true},
		{"nginx@" + digest, "nginx:latest", true},
		{"docker.io/library/nginx:1.27", "nginx:1.27", true},
		{"registry:5000/app", "registry:5000/app:latest", true},
		{"index.docker.io/nginx", "nginx", true}, // the hand-written normaliser said false
		{"registry:5000/app:1", "registry:5000/app", false},
		{"registry:5000/app:1", "registry:5001/app:1", false},
		{"library/x/y", "x/y", false}, // the hand-written normaliser said true
		{"not:a:ref", "not:a:ref", true},
		{"not:a:ref", "not:a", false},
	} {
		if got := SameImage(tc.a, tc.b); got != tc.want {
			t.Errorf("SameImage(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
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
