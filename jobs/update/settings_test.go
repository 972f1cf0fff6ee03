package update

import (
	"strings"
	"testing"
)

func TestImageAllowStarAllowsAnyImage(t *testing.T) {
	s := Settings{ImageAllow: []string{"*"}}
	for _, img := range []string{"busybox", "reg:5000/team/x/app:1", "a/b/c@sha256:" + strings.Repeat("0", 64)} {
		if !s.ImageAllowed(img) {
			t.Errorf("image-allow=* refused %q", img)
		}
	}
	one := Settings{ImageAllow: []string{"reg:5000/team/*"}}
	if !one.ImageAllowed("reg:5000/team/app:2") || one.ImageAllowed("reg:5000/team/x/app:2") || one.ImageAllowed("reg:5000/other/app:2") {
		t.Error("a glob's * must match within one path segment")
	}
}
