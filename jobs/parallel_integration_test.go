//go:build integration

package jobs

import (
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/operation"
)

// ParallelSafe lets a test run beside the package's other parallel tests (exported for the
// jobs_test files). Go starts them only after every other test of the package has ended, so
// they never meet a node-wide action (a clean-node prunes every unused container and image of
// a node; a frozen daemon; a recover; the removal of a shared image reference). Among
// themselves they must touch only their own services, volumes, secrets and S3 prefixes, and
// check only those (assertNoHelpersOf, not tb.AssertNoHelpers); nor may they change the
// process (t.Setenv: updIsolate). A test that cannot promise all of that does not call it.
func ParallelSafe(t *testing.T) {
	t.Parallel()
}

// assertNoHelpersOf is tb.AssertNoHelpers scoped to the service: the parallel tests beside it
// run helpers of their own.
func assertNoHelpersOf(t *testing.T, tb testbed.Bed, service string) {
	t.Helper()
	out := tb.Docker(t, "service", "ls", "--filter", "label=swarm-utils.helper.lock="+operation.LockKeyService(service), "--format", "{{.Name}}")
	if s := strings.TrimSpace(out); s != "" {
		t.Errorf("helper services of %s left behind: %s", service, s)
	}
}
