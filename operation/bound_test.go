package operation

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func resultWithLogs(logs ...string) Result {
	r := Result{Operation: "clean-service", Target: "shop_web", Steps: []Step{{Name: "exec"}}}
	for _, l := range logs {
		r.Steps[0].Tasks = append(r.Steps[0].Tasks, TaskResult{State: "complete", Logs: l})
	}
	return r
}

func TestResultBounded(t *testing.T) {
	big := strings.Repeat("a", 200_000) + "the end\n"
	cases := []struct {
		name      string
		in        Result
		limit     int
		wantWhole []int // tasks whose logs stay whole
		wantCut   []int // tasks whose logs are cut and keep their tail
	}{
		{"under the limit: untouched", resultWithLogs("short", "also short"), 1 << 20, []int{0, 1}, nil},
		{"one big log among small ones: only the big one is cut", resultWithLogs("short", big, "tiny"), 64 << 10, []int{0, 2}, []int{1}},
		{"every log big: all cut", resultWithLogs(big, big, big), 64 << 10, nil, []int{0, 1, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orig := c.in.Steps[0].Tasks[1].Logs
			got := c.in.Bounded(c.limit)
			if size := got.Size(); size > c.limit+1024 {
				t.Errorf("size %d, want at most about %d", size, c.limit)
			}
			for _, i := range c.wantWhole {
				if got.Steps[0].Tasks[i].Logs != c.in.Steps[0].Tasks[i].Logs {
					t.Errorf("task %d's log was cut: %.60q", i, got.Steps[0].Tasks[i].Logs)
				}
			}
			for _, i := range c.wantCut {
				l := got.Steps[0].Tasks[i].Logs
				if !strings.HasPrefix(l, "[… ") || !strings.Contains(l, "bytes cut") || !strings.HasSuffix(l, "the end\n") {
					t.Errorf("task %d's log is not its tail behind a note: %.80q … %q", i, l, l[max(0, len(l)-10):])
				}
			}
			if c.in.Steps[0].Tasks[1].Logs != orig {
				t.Error("Bounded changed the Result it was called on")
			}
		})
	}
}

// A step's duration survives a JSON round trip (the clean-node helper's steps travel as JSON).
func TestDurationRoundTrip(t *testing.T) {
	in := Step{Name: "image-prune", Duration: Duration(1500 * time.Millisecond)}
	js, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Step
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatal(err)
	}
	if out.Duration != in.Duration {
		t.Errorf("duration %v after the round trip of %s, want %v", time.Duration(out.Duration), js, time.Duration(in.Duration))
	}
}
