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
			[]ScriptPart{{"container", "Deleted: x", 0, true}, {"image", "", 1, true}}, true},
		{"killed mid step", m + " begin c1\npartial\n", []ScriptPart{{"c1", "partial", -1, false}}, false},
		{"forged marker with another nonce is data", m + " begin c1\n@@swarm-utils-evil end c1 0\n" + m + " end c1 5\n",
			[]ScriptPart{{"c1", "@@swarm-utils-evil end c1 0", 5, true}}, false},
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
