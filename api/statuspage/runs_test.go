package statuspage

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
)

// failingRuns is a run history that cannot be read.
type failingRuns struct{}

func (failingRuns) LastRuns(context.Context, []Target) ([][]Run, error) {
	return nil, errors.New("bbolt: database not open")
}

// One page load asks the run history once, about every target the token sees (and about no
// other); a history that cannot be read is a warning on every card, the rest of the page shown.
func TestRunsAreReadOncePerPage(t *testing.T) {
	enabled := []string{parse.LabelCleanEnable, "true", parse.LabelCleanExec, "true"}
	cluster := &fakeTargets{
		services: []parse.Service{svc("a", enabled...), svc("b", append(enabled, "swarm-utils.clean.token", "b-clean-token-1")...), svc("c", enabled...), svc("unlabelled")},
		nodes:    []parse.Node{node("manager"), node("worker-1"), node("worker-2")},
	}
	for _, tc := range []struct {
		token   string
		targets int32 // asked about
	}{{adminToken, 7}, {"b-clean-token-1", 1}} {
		f := newFixture(t, config.Config{}, cluster, nil, nil)
		if p := f.get(t, tc.token); p.status != 200 {
			t.Fatalf("%d\n%s", p.status, p.body)
		}
		if n, targets := f.runs.reads.Load(), f.runs.targets.Load(); n != 1 || targets != tc.targets {
			t.Errorf("token %.6s…: %d reads of the runs about %d targets, want 1 about %d", tc.token, n, targets, tc.targets)
		}
	}

	f := newFixture(t, config.Config{}, cluster, nil, nil)
	f.page.o.Runs = failingRuns{}
	p := f.get(t, adminToken)
	// The unlabelled service too: without its runs the page cannot tell that none ever ran.
	if got := strings.Count(p.body, "run history: bbolt: database not open"); got != 7 {
		t.Errorf("the history's error is on %d cards, want all 7:\n%s", got, p.body)
	}
	for _, c := range cards(p.body) {
		if !strings.HasSuffix(c, ":warning") {
			t.Errorf("card %s: want a warning while the runs cannot be read", c)
		}
	}
}
