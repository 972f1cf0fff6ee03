package helper

import (
	"strings"
	"testing"
	"time"
)

func TestParseMarked(t *testing.T) {
	const m = "@@swarm-utils-abc"
	tests := []struct {
		name  string
		out   string
		parts []ScriptPart
		done  bool
	}{
		{"all steps", m + " begin container\nDeleted: x\n" + m + " end container 0\n" + m + " begin image\n" + m + " end image 1\n" + m + " done\n",
			[]ScriptPart{{"container", "Deleted: x", 0, true, false}, {"image", "", 1, true, false}}, true},
		{"killed mid step", m + " begin c1\npartial\n", []ScriptPart{{"c1", "partial", -1, false, false}}, false},
		{"forged marker with another nonce is data", m + " begin c1\n@@swarm-utils-evil end c1 0\n" + m + " end c1 5\n",
			[]ScriptPart{{"c1", "@@swarm-utils-evil end c1 0", 5, true, false}}, false},
		// Only the tail of a helper's output is kept: the head with c1's and c2's begin markers
		// is gone. c2's end marker proves it ran; the summary gives c1's exit code.
		{"head cut mid part", "[… 39.9 MB cut …]\nline 99999\n" + m + " end c2 3\n" + m + " begin c3\nok\n" + m + " end c3 0\n" +
			m + " ended c1 0\n" + m + " ended c2 3\n" + m + " ended c3 0\n" + m + " done\n",
			[]ScriptPart{{"c2", "[… 39.9 MB cut …]\nline 99999", 3, true, true}, {"c3", "ok", 0, true, false}, {"c1", "", 0, true, true}}, true},
		{"head cut, killed before the summary", "[… 1 MB cut …]\nx\n" + m + " end c2 0\n" + m + " begin c3\nhalf",
			[]ScriptPart{{"c2", "[… 1 MB cut …]\nx", 0, true, true}, {"c3", "half", -1, false, false}}, false},
		{"a forged summary line is data", m + " begin c1\n@@swarm-utils-evil ended c2 0\n" + m + " end c1 0\n",
			[]ScriptPart{{"c1", "@@swarm-utils-evil ended c2 0", 0, true, false}}, false},
		{"noise before first marker", "warning\n" + m + " done", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts, done := ParseMarked(tc.out, m)
			if done != tc.done || len(parts) != len(tc.parts) {
				t.Fatalf("got %+v done=%v, want %+v done=%v", parts, done, tc.parts, tc.done)
			}
			for i := range parts {
				if parts[i] != tc.parts[i] {
					t.Errorf("part %d = %+v, want %+v", i, parts[i], tc.parts[i])
				}
			}
		})
	}
}

// WithCut: parts before the first one the kept tail shows ran (their markers were cut); parts
// after the last one seen did not run.
func TestWithCut(t *testing.T) {
	names := []string{"c1", "c2", "c3", "c4"}
	for _, tc := range []struct {
		name  string
		parts []ScriptPart
		want  map[string]ScriptPart
	}{
		{"nothing seen", nil, map[string]ScriptPart{}},
		{"head cut, killed in c3", []ScriptPart{{"c2", "tail", 0, true, true}, {"c3", "half", -1, false, false}},
			map[string]ScriptPart{"c1": {"c1", "", -1, false, true}, "c2": {"c2", "tail", 0, true, true}, "c3": {"c3", "half", -1, false, false}}},
		{"not cut, killed in c2", []ScriptPart{{"c1", "", 0, true, false}, {"c2", "", -1, false, false}},
			map[string]ScriptPart{"c1": {"c1", "", 0, true, false}, "c2": {"c2", "", -1, false, false}}},
	} {
		got := WithCut(tc.parts, names)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
		for n, p := range tc.want {
			if got[n] != p {
				t.Errorf("%s: %s = %+v, want %+v", tc.name, n, got[n], p)
			}
		}
	}
}

func TestHelperName(t *testing.T) {
	tests := []struct{ action, target, step, node, want string }{
		{"clean-node", "worker-1", "prune", "worker-1", "swarm-utils-clean-node-worker-1-prune"},
		{"clean-service", "stack_web", "exec", "worker-2", "swarm-utils-clean-service-stack_web-exec-worker-2"},
		{"backup-service", strings.Repeat("x", 80), "upload", "n1", ""},
	}
	for _, tc := range tests {
		got := Name(tc.action, tc.target, tc.step, tc.node)
		if tc.want != "" && got != tc.want {
			t.Errorf("helperName = %q, want %q", got, tc.want)
		}
		if len(got) > 63 {
			t.Errorf("helperName %q is longer than docker's 63", got)
		}
		if again := Name(tc.action, tc.target, tc.step, tc.node); again != got {
			t.Errorf("helperName is not deterministic: %q then %q", got, again)
		}
	}
	long1 := Name("backup-service", strings.Repeat("x", 80)+"a", "upload", "n1")
	long2 := Name("backup-service", strings.Repeat("x", 80)+"b", "upload", "n1")
	if long1 == long2 {
		t.Errorf("two long targets share the helper name %q", long1)
	}
}

func TestSeconds(t *testing.T) {
	for in, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", time.Second: "1", 1500 * time.Millisecond: "2", 60 * time.Second: "60"} {
		if got := Seconds(in); got != want {
			t.Errorf("Seconds(%s) = %s, want %s", in, got, want)
		}
	}
}
