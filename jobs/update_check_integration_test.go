//go:build integration

package jobs

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/operation"
)

// chkPush tags src as ref on the manager and pushes it (the operator's login); it returns the
// digest the registry now has for ref.
func chkPush(t *testing.T, tb testbed.Bed, src, ref string) string {
	t.Helper()
	tb.Docker(t, "pull", "-q", src)
	tb.Docker(t, "tag", src, ref)
	out := tb.Docker(t, "push", ref)
	t.Cleanup(func() { _, _ = tb.TryDockerOn("manager", "image", "rm", ref) })
	// push ends with "<tag>: digest: sha256:… size: …".
	for _, l := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(l, "digest: "); ok {
			d, _, _ := strings.Cut(rest, " ")
			return d
		}
	}
	t.Fatalf("no digest in the push of %s: %s", ref, out)
	return ""
}

func chkResolve(t *testing.T, r operation.Result) map[string]string {
	t.Helper()
	for _, s := range r.Steps {
		if s.Name == "resolve" {
			return s.Details
		}
	}
	t.Fatalf("no resolve step: %s", updResultJSON(t, r))
	return nil
}

// Updates by digest on the cluster: a new image pushed under the service's tag is found by
// the check (through the password-protected registry, with the service's private login only)
// and rolled out as tag@new digest; a second check is unchanged and calls no update; a
// registry that cannot be reached and a refused login fail the check with the service as it was.
func TestUpdateCheckFollowsTheTagsDigest(t *testing.T) {
	tb := testbed.Get(t)
	name := updServiceName("chk")
	tag := tb.Registry + "/su/" + name + ":live"
	first := chkPush(t, tb, tb.WorkloadImage, tag)
	tb.Service(t, name, "--update-monitor", "1s", "--label", "swarm-utils.update.enable=true", "--label", "swarm-utils.update.auto=true",
		"--label", "swarm-utils.update.registry.auth=true", tag)
	if image, _ := updServiceState(t, tb, name); image != tag+"@"+first {
		t.Fatalf("service runs %s, want %s@%s", image, tag, first)
	}
	// The same tag, another image: what CI does after a build.
	second := chkPush(t, tb, tb.WorkloadImage2, tag)
	if second == first {
		t.Fatalf("%s and %s have the same digest", tb.WorkloadImage, tb.WorkloadImage2)
	}
	operator := os.Getenv("DOCKER_CONFIG")
	tmp := updIsolate(t)
	d, rec := testDepsRecorded(t, tb.Config())

	r := d.CheckUpdate(context.Background(), name)
	t.Logf("changed: %s", updResultJSON(t, r))
	if !r.OK {
		t.Fatalf("check failed: %s", r.Error)
	}
	det := chkResolve(t, r)
	if det["outcome"] != "changed" || det["runningDigest"] != first || det["registryDigest"] != second {
		t.Errorf("resolve %v, want changed from %s to %s", det, first, second)
	}
	upd := r.Steps[len(r.Steps)-1]
	if upd.Name != "update" || upd.Details["previousDigest"] != first || upd.Details["newDigest"] != second || upd.Details["updateState"] != "completed" {
		t.Errorf("update step %+v", upd)
	}
	if image, state := updServiceState(t, tb, name); image != tag+"@"+second || state != "completed" {
		t.Errorf("service runs %s (%s), want %s@%s completed", image, state, tag, second)
	}
	testbed.WaitFor(t, 60*time.Second, name+"'s task on the new digest", func() bool {
		ids := strings.Fields(tb.Docker(t, "service", "ps", "--quiet", "--filter", "desired-state=running", name))
		if len(ids) != 1 {
			return false
		}
		out := tb.Docker(t, "inspect", "--type", "task", "--format", "{{.Spec.ContainerSpec.Image}} {{.Status.State}}", ids[0])
		return strings.TrimSpace(out) == tag+"@"+second+" running"
	})

	before := rec.String()
	r = d.CheckUpdate(context.Background(), name)
	t.Logf("unchanged: %s", updResultJSON(t, r))
	if !r.OK || chkResolve(t, r)["outcome"] != "unchanged" || len(r.Steps) != 2 {
		t.Errorf("second check: %s, want OK, login and resolve only, unchanged", updResultJSON(t, r))
	}
	if strings.Contains(strings.TrimPrefix(rec.String(), before), "service update") {
		t.Errorf("an unchanged check ran docker service update:\n%s", strings.TrimPrefix(rec.String(), before))
	}
	if out := tb.Docker(t, "service", "ls", "--filter", "label=swarm-utils.helper.action=update-check", "--quiet"); strings.TrimSpace(out) != "" {
		t.Errorf("probes left behind: %s", out)
	}
	updAssertEmptyDir(t, tmp)

	for _, tc := range []struct {
		what  string
		label []string
		has   string
	}{
		// No login label, no operator login in this process: the registry answers 401 to the
		// manager's daemon, which warns and records no digest.
		{"no credentials", []string{"--label-rm", "swarm-utils.update.registry.auth"}, "the registry did not give"},
		{"wrong password", []string{"--label-add", "swarm-utils.update.registry.auth=true", "--label-add", "swarm-utils.update.registry.password=wrong-" + name}, "login"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			tb.Docker(t, append(append([]string{"service", "update", "--detach"}, tc.label...), name)...)
			version := tb.Docker(t, "service", "inspect", "--format", "{{.Version.Index}} {{.Spec.TaskTemplate.ContainerSpec.Image}}", name)
			// A change it must not roll out, pushed with the operator's login only.
			isolated := os.Getenv("DOCKER_CONFIG")
			os.Setenv("DOCKER_CONFIG", operator)
			chkPush(t, tb, tb.WorkloadImage, tag)
			os.Setenv("DOCKER_CONFIG", isolated)
			r := d.CheckUpdate(context.Background(), name)
			t.Logf("%s: %s", tc.what, updResultJSON(t, r))
			if r.OK || !strings.Contains(r.Error, tc.has) {
				t.Errorf("check %+v, want a failed check with %q", r, tc.has)
			}
			if after := tb.Docker(t, "service", "inspect", "--format", "{{.Version.Index}} {{.Spec.TaskTemplate.ContainerSpec.Image}}", name); after != version {
				t.Errorf("service touched: %s, was %s", after, version)
			}
			if strings.Contains(updResultJSON(t, r), tb.RegistryPassword) {
				t.Errorf("the registry password is in the result")
			}
		})
	}

	// A registry nobody listens on: docker warns and the check fails; the service is not touched.
	down := updServiceName("chkdown")
	tb.ServiceDetached(t, down, "--label", "swarm-utils.update.enable=true", "--label", "swarm-utils.update.auto=true",
		"--no-resolve-image", tb.HostIP+":5999/su/workload:1")
	r = d.CheckUpdate(context.Background(), down)
	t.Logf("registry down: %s", updResultJSON(t, r))
	if r.OK || !strings.Contains(r.Error, "the registry did not give") || r.ErrorKind != operation.KindDocker {
		t.Errorf("check of a service on a dead registry: %+v", r)
	}
	if image, _ := updServiceState(t, tb, down); image != tb.HostIP+":5999/su/workload:1" {
		t.Errorf("service touched: runs %s", image)
	}
}
