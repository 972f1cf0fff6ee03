package update

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/operation"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
	"github.com/swarm-utils/swarm-utils/swarm/swarmtest"
)

const (
	oldTag    = "192.168.213.1:5000/su/workload:1"
	oldDigest = "sha256:599ada10929ce4a84db0db307ce02690db720efce8c34a6bfe14339279411337"
	newDigest = "sha256:3567e5cff2ce46850f44dcf3d8314a65d6c8bcd756dec4561635691b31d1d389"
)

var autoLabels = map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateAuto: "true"}

func TestCheck(t *testing.T) {
	withAuth := map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateAuto: "true", parse.LabelUpdateRegistryAuth: "true"}
	for _, tc := range []struct {
		name     string
		labels   map[string]string
		registry map[string]string // tag → digest; nil: unreachable
		probeErr error
		ok       bool
		outcome  string   // the resolve step's
		changes  []string // typed calls that change the cluster
		kind     operation.Kind
		errHas   string
	}{
		{"changed digest updates to tag@digest", autoLabels, map[string]string{oldTag: newDigest}, nil,
			true, "changed", []string{"create-probe", "remove", "update-image"}, "", ""},
		{"same digest is unchanged, no update", autoLabels, map[string]string{oldTag: oldDigest}, nil,
			true, ChangeUnchanged, []string{"create-probe", "remove"}, "", ""},
		{"registry unreachable is a failed check", autoLabels, nil, nil,
			false, "", []string{"create-probe", "remove"}, operation.KindDocker, "could not be accessed on a registry"},
		{"probe refused by docker is a failed check", autoLabels, nil, errors.New("exit status 1: Error response from daemon: rpc error"), false, "",
			[]string{"create-probe"}, operation.KindDocker, "ask the registry"},
		{"registry auth logs in first", withAuth, map[string]string{oldTag: newDigest}, nil,
			true, "changed", []string{"login", "create-probe", "remove", "login", "update-image"}, "", ""},
		{"a failed rollout fails the check", autoLabels, map[string]string{oldTag: newDigest}, nil,
			false, "changed", []string{"create-probe", "remove", "update-image"}, operation.KindDocker, "failed and is paused"},
		{"auto without update.enable is refused", map[string]string{parse.LabelUpdateAuto: "true"}, map[string]string{oldTag: newDigest}, nil,
			false, "", nil, operation.KindInvalid, parse.LabelUpdateEnable},
		{"auto=false is skipped", map[string]string{parse.LabelUpdateEnable: "true", parse.LabelUpdateAuto: "false"}, map[string]string{oldTag: newDigest}, nil,
			true, "", nil, "", ""},
		{"no auto label is skipped", enabledOnly, map[string]string{oldTag: newDigest}, nil,
			true, "", nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, tc.labels, "json-file")
			c.f.Registry = tc.registry
			if !tc.ok && tc.outcome == "changed" {
				c.after(oldTag+"@"+newDigest, &parse.UpdateStatus{State: "paused", Message: "update paused due to failure"}, nil, false)
			}
			if tc.probeErr != nil {
				c.f.SetFail("create-probe", tc.probeErr)
			}
			r := c.job(testConfig()).Check(context.Background(), svcName)
			if r.OK != tc.ok || r.ErrorKind != tc.kind || !strings.Contains(r.Error, tc.errHas) {
				t.Fatalf("ok=%v kind=%q error=%q, want ok=%v kind=%q error with %q", r.OK, r.ErrorKind, r.Error, tc.ok, tc.kind, tc.errHas)
			}
			if got := verbs(c.f.Changes()); !slices.Equal(got, tc.changes) {
				t.Errorf("changes %q, want %q", got, tc.changes)
			}
			assertNoSecret(t, c.f, r, password)
			if r.Operation != OpCheck {
				t.Errorf("operation %q", r.Operation)
			}
			if len(c.f.Helpers()) != 0 {
				t.Errorf("probe left behind: %+v", c.f.Helpers())
			}
			svc, _ := c.f.Get(svcName)
			if tc.outcome != "changed" && svc.Image != oldImage {
				t.Errorf("service touched: runs %s", svc.Image)
			}
			if tc.outcome == "" {
				if tc.ok && r.Skipped == "" {
					t.Errorf("not skipped: %+v", r)
				}
				return
			}
			var resolve *operation.Step
			for i := range r.Steps {
				if r.Steps[i].Name == "resolve" {
					resolve = &r.Steps[i]
				}
			}
			if resolve == nil {
				t.Fatalf("no resolve step: %+v", r.Steps)
			}
			det := resolve.Details
			if det["outcome"] != tc.outcome || det["runningDigest"] != oldDigest || det["image"] != oldTag {
				t.Errorf("resolve details %v", det)
			}
			if tc.outcome != "changed" {
				return
			}
			if !tc.ok {
				if r.Err() == nil {
					t.Errorf("a failed check without Err()")
				}
				return
			}
			if want := oldTag + "@" + newDigest; svc.Image != want {
				t.Errorf("service runs %s, want %s", svc.Image, want)
			}
			upd := r.Steps[len(r.Steps)-1]
			if upd.Name != "update" || upd.Details["previousDigest"] != oldDigest || upd.Details["newDigest"] != newDigest {
				t.Errorf("update step %+v: it must say which digest replaced which", upd)
			}
			probe := c.f.Calls("create-probe")[0].Probe
			if probe.Image != oldTag || !slices.Contains(probe.Labels, swarm.Label{Key: "swarm-utils.helper", Value: "true"}) {
				t.Errorf("probe %+v", probe)
			}
			if (len(probe.Env) > 0) != (tc.labels[parse.LabelUpdateRegistryAuth] == "true") {
				t.Errorf("probe env %q: the service's private login goes with it exactly when it has registry auth", probe.Env)
			}
		})
	}
}

func TestCheckFollowsOnlyTags(t *testing.T) {
	for _, tc := range []struct {
		image, tag, digest string
		bad                bool
	}{
		{oldImage, oldTag, oldDigest, false},
		{"nginx", "nginx", "", false},
		{"nginx@" + oldDigest, "", "", true},
		{"Not A Ref", "", "", true},
	} {
		tag, digest, err := followedTag(tc.image)
		if tag != tc.tag || digest != tc.digest || (err != nil) != tc.bad {
			t.Errorf("followedTag(%q) = %q %q %v", tc.image, tag, digest, err)
		}
	}
	// A service pinned without a tag is a failed check with nothing called.
	f := swarmtest.New(swarmtest.Node("n1", "worker-1"))
	f.AddService(parse.Service{Name: svcName, Image: "nginx@" + oldDigest, Labels: autoLabels, Replicas: 1}, "worker-1")
	c := &cluster{t: t, f: f}
	r := c.job(testConfig()).Check(context.Background(), svcName)
	if r.OK || r.ErrorKind != operation.KindInvalid || len(f.Changes()) != 0 {
		t.Errorf("%+v, changes %v", r, verbs(f.Changes()))
	}
}
