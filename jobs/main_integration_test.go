//go:build integration

package jobs_test

import (
	"os"
	"testing"
)

// TestMain removes what the package's tests share beyond one test (recBinary's build).
func TestMain(m *testing.M) {
	code := m.Run()
	if recBuild.dir != "" {
		_ = os.RemoveAll(recBuild.dir)
	}
	os.Exit(code)
}
