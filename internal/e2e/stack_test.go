package e2e

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// The stack file asks for S3 settings only when backups are deployed: the base file requires
// nothing but DOCKER_GID and names no S3 setting or secret; the backup file requires the S3
// address and bucket. (TestDeployedStack deploys both, merged, on the test swarm.)
func TestStackFilesAskForS3OnlyWithBackups(t *testing.T) {
	required := regexp.MustCompile(`\$\{([A-Z0-9_]+):\?`)
	for _, tc := range []struct {
		file         string
		wantRequired []string
		s3           bool
	}{
		{"../../deploy/swarm-utils.stack.yml", []string{"DOCKER_GID"}, false},
		{"../../deploy/swarm-utils.backup.stack.yml", []string{"SWARM_UTILS_S3_URL", "SWARM_UTILS_S3_BUCKET"}, true},
	} {
		raw, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range required.FindAllStringSubmatch(stripComments(string(raw)), -1) {
			got = append(got, m[1])
		}
		if !slices.Equal(got, tc.wantRequired) {
			t.Errorf("%s requires %v, want %v", tc.file, got, tc.wantRequired)
		}
		if s3 := regexp.MustCompile(`(?i)s3`).MatchString(stripComments(string(raw))); s3 != tc.s3 {
			t.Errorf("%s: S3 settings present %v, want %v", tc.file, s3, tc.s3)
		}
	}
}

func stripComments(s string) string {
	return regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(s, "")
}
