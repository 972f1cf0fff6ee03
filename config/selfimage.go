package config

import (
	"regexp"
	"strings"
)

// SelfImageRepo is the repository swarm-utils' release images are published under; the
// restore helper (SWARM_UTILS_IMAGE) defaults to the image of the running version there.
const SelfImageRepo = "swarm-utils"

// releaseVersion is a release's version as the Dockerfile's VERSION gets it from a tag:
// 1.2.3 or v1.2.3, optionally -rc.1 style; git describe's 1.2.3-4-gabcdef and -dirty are not.
var releaseVersion = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-(alpha|beta|rc)(\.?\d+)?)?$`)

// selfImageDefault is SWARM_UTILS_IMAGE's default; SetVersion sets it.
var selfImageDefault = SelfImageRepo + ":latest"

// SetVersion makes SWARM_UTILS_IMAGE default to the image of the same version: for a
// release build swarm-utils:<version> (without the tag's "v", as image tags are written);
// for any other build (dev, a commit, a dirty tree) swarm-utils:latest, which a developer
// builds locally. Call it before Flags.
func SetVersion(version string) {
	if releaseVersion.MatchString(version) {
		selfImageDefault = SelfImageRepo + ":" + strings.TrimPrefix(version, "v")
		return
	}
	selfImageDefault = SelfImageRepo + ":latest"
}
