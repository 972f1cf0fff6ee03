package history

import (
	"fmt"
	"testing"
	"time"

	"github.com/swarm-utils/swarm-utils/operation"
)

// A month of a busy cluster: 100 targets × 3 operations × 30 days ≈ 9000 runs.
func fill(b *testing.B, s *Store, n int) {
	b.Helper()
	start := time.Now().Add(-29 * 24 * time.Hour)
	for i := range n {
		r := run("backup-service", fmt.Sprintf("svc_%03d", i%100), start.Add(time.Duration(i)*time.Minute), nil)
		r.Steps = []operation.Step{{Name: "pre-exec", OK: true}, {Name: "stop", OK: true}, {Name: "upload", Node: "worker-1", OK: true, Details: map[string]string{"bytes": "123456"}}, {Name: "start", OK: true}}
		if err := s.Add(FromResult(fmt.Sprintf("run-%06d", i), "cron", r, nil)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	s, err := Open(b.TempDir(), 30, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	fill(b, s, b.N)
}

func BenchmarkList(b *testing.B) {
	s, err := Open(b.TempDir(), 30, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fill(b, s, 9000)
	for _, bc := range []struct {
		name string
		f    Filter
	}{
		{"newest 100", Filter{}},
		{"one target, limit 100 (scans all)", Filter{Target: "svc_042", Limit: 100}},
		{"last per target", Filter{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if bc.name == "last per target" {
					if _, err := s.Last(); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if _, err := s.List(bc.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
