package update

import (
	"strings"
	"testing"
)

const (
	oldImage  = "192.168.213.1:5000/su/workload:1@sha256:599ada10929ce4a84db0db307ce02690db720efce8c34a6bfe14339279411337"
	newImage  = "192.168.213.1:5000/su/workload:2"
	newPinned = newImage + "@sha256:3567e5cff2ce46850f44dcf3d8314a65d6c8bcd756dec4561635691b31d1d389"
)

func TestSameImage(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{newPinned, newImage, true},
		{"nginx:latest@sha256:" + strings.Repeat("a", 64), "nginx", true},
		{"docker.io/library/nginx:1.27", "nginx:1.27", true},
		{"registry:5000/app", "registry:5000/app:latest", true},
		{oldImage, newImage, false},
		{"registry:5000/app:1", "registry:5000/app", false},
	} {
		if got := sameImage(tc.a, tc.b); got != tc.want {
			t.Errorf("sameImage(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
