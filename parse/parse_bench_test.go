package parse

import (
	"strings"
	"testing"
)

// Benchmarks of the parsers on the real captures in testdata (scripts/capture-testdata); each
// runs on every poll of a helper (ServicePs) or every operation (ServiceInspect, TaskInspect).

func benchParse[T any](b *testing.B, parse func(string) ([]T, error), out string) {
	b.Helper()
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := parse(out)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) == 0 {
			b.Fatal("parsed nothing")
		}
	}
}

func BenchmarkServiceInspect(b *testing.B) {
	benchParse(b, ServiceInspect, testdata(b, "service-inspect.txt"))
}

func BenchmarkServicePs(b *testing.B) {
	benchParse(b, ServicePs, testdata(b, "service-ps.txt"))
}

// BenchmarkServicePsOneRow is one helper poll: a one-shot job has exactly one task row.
func BenchmarkServicePsOneRow(b *testing.B) {
	first, _, _ := strings.Cut(testdata(b, "service-ps.txt"), "\n")
	benchParse(b, ServicePs, first+"\n")
}

func BenchmarkTaskInspect(b *testing.B) {
	benchParse(b, TaskInspect, testdata(b, "task-inspect.txt"))
}

func BenchmarkNodeInspect(b *testing.B) {
	benchParse(b, NodeInspect, testdata(b, "node-inspect.txt"))
}
