//go:build integration

package jobs

import (
	"context"
	"testing"

	"github.com/swarm-utils/swarm-utils/internal/testbed"
	"github.com/swarm-utils/swarm-utils/parse"
)

// A clean-node keeps what the keep-list names (SWARM_UTILS_CLEAN_NODE_IMAGE_KEEP and the node's
// clean.image.keep) and what a service's previous spec would roll back to, and removes an
// unused other image.
func TestCleanNodeKeepsListedAndRollbackImages(t *testing.T) {
	tb := testbed.Get(t)
	id := suffix()
	const node = "worker-1"
	kept, labelled := "it-keep-"+id+"/app:1", "it-lbl-"+id+":1"
	rollback, current := "it-rb-"+id+":1", "it-rb-"+id+":2"
	gone := "it-gone-" + id + ":1"
	for _, img := range []string{kept, labelled, rollback, gone} {
		importTinyImage(t, tb, node, img)
	}
	t.Cleanup(func() {
		_, _ = tb.TryDockerOn(node, "image", "rm", kept, labelled, rollback, gone)
	})
	// No task ever runs (0 replicas): the previous spec alone makes it-rb-…:1 a rollback target.
	svc := "it-rb-" + id
	tb.Docker(t, "service", "create", "--detach", "--no-resolve-image", "--replicas", "0", "--name", svc, rollback)
	t.Cleanup(func() { _, _ = tb.TryDockerOn("manager", "service", "rm", svc) })
	tb.Docker(t, "service", "update", "--detach", "--no-resolve-image", "--image", current, svc)
	tb.Docker(t, "node", "update", "--label-add", parse.LabelNodeCleanImageKeep+"=it-lbl-"+id, node)
	t.Cleanup(func() {
		_, _ = tb.TryDockerOn("manager", "node", "update", "--label-rm", parse.LabelNodeCleanImageKeep, node)
	})

	cfg := tb.Config()
	cfg.CleanNodeImage.Keep = []string{"it-keep-" + id + "/*"}
	r := testDeps(t, cfg).CleanNode(context.Background(), node)
	if !r.OK {
		t.Fatalf("clean-node %s: %s", node, mustJSON(r))
	}
	for img, want := range map[string]bool{kept: true, labelled: true, rollback: true, gone: false} {
		if got := exists(tb, node, "image", "inspect", img); got != want {
			t.Errorf("%s on %s: there %v, want %v", img, node, got, want)
		}
	}
	t.Logf("result: %s", mustJSON(r))
	var image, usage map[string]string
	for _, s := range r.Steps {
		switch s.Name {
		case "image-prune":
			image = s.Details
		case "disk-usage":
			usage = s.Details
		}
	}
	for ref, rule := range map[string]string{kept: "keep it-keep-" + id + "/*", labelled: "keep it-lbl-" + id, rollback: "rollback target of " + svc} {
		if image["kept "+ref] != rule {
			t.Errorf("image step: kept %s = %q, want %q\n%s", ref, image["kept "+ref], rule, mustJSON(r))
		}
	}
	for _, k := range []string{"images before", "images after", "containers before", "build-cache after", "reclaimed"} {
		if usage[k] == "" {
			t.Errorf("disk usage lacks %q: %v", k, usage)
		}
	}
	tb.AssertNoHelpers(t)
}

// With clean.image.until an image younger than that survives a clean-node of its node; without
// it, the same image goes.
func TestCleanNodeUntilKeepsYoungImages(t *testing.T) {
	tb := testbed.Get(t)
	id := suffix()
	const node = "worker-2"
	young := "it-young-" + id + ":1"
	importTinyImage(t, tb, node, young)
	t.Cleanup(func() { _, _ = tb.TryDockerOn(node, "image", "rm", young) })
	tb.Docker(t, "node", "update", "--label-add", parse.LabelNodeCleanImageUntil+"=1h", node)
	t.Cleanup(func() {
		_, _ = tb.TryDockerOn("manager", "node", "update", "--label-rm", parse.LabelNodeCleanImageUntil, node)
	})

	d := testDeps(t, tb.Config())
	if r := d.CleanNode(context.Background(), node); !r.OK {
		t.Fatalf("clean-node %s: %s", node, mustJSON(r))
	}
	if !exists(tb, node, "image", "inspect", young) {
		t.Fatalf("%s, imported a moment ago, was removed despite until=1h", young)
	}
	tb.Docker(t, "node", "update", "--label-rm", parse.LabelNodeCleanImageUntil, node)
	if r := d.CleanNode(context.Background(), node); !r.OK {
		t.Fatalf("clean-node %s: %s", node, mustJSON(r))
	}
	if exists(tb, node, "image", "inspect", young) {
		t.Errorf("%s survived a clean-node without until", young)
	}
	tb.AssertNoHelpers(t)
}
