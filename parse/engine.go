package parse

import (
	"strconv"
	"strings"
)

// EngineMajor is the major release of a docker engine version as `docker node inspect` reports
// it (Description.Engine.EngineVersion): "20.10.24+dfsg1" → 20, "29.1.3" → 29. ok is false for
// anything that is no release number, such as a dev build's "library-import" or "dev".
func EngineMajor(version string) (major int, ok bool) {
	head, _, found := strings.Cut(strings.TrimSpace(version), ".")
	if !found || head == "" {
		return 0, false
	}
	n, err := strconv.Atoi(head)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// CompareAPIVersions compares two Engine API versions ("1.41", "1.56") numerically: -1, 0 or 1.
// A part that is no number counts as 0.
func CompareAPIVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}
