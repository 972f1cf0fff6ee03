package helper

import (
	"fmt"
	"strings"
	"testing"
)

// markedOutput is a helper log of parts marked parts of lines lines each, as execScript prints
// it: begin marker, the command's output, end marker with the exit code, done.
func markedOutput(marker string, parts, lines int) string {
	var b strings.Builder
	for p := range parts {
		name := fmt.Sprintf("%064x", p)
		fmt.Fprintf(&b, "%s begin %s\n", marker, name)
		for l := range lines {
			fmt.Fprintf(&b, "line %d of part %d: some output a command printed, deleted cache entry %x\n", l, p, l*p)
		}
		fmt.Fprintf(&b, "%s end %s %d\n", marker, name, p%2)
	}
	fmt.Fprintf(&b, "%s done\n", marker)
	return b.String()
}

// BenchmarkParseMarked: a node with 10 tasks whose clean command printed 10k lines each (~1 MB
// of helper log), far more than a real node sends.
func BenchmarkParseMarked(b *testing.B) {
	marker := NewMarker()
	out := markedOutput(marker, 10, 10_000)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		parts, done := ParseMarked(out, marker)
		if !done || len(parts) != 10 || !parts[9].Ended || parts[9].ExitCode != 1 {
			b.Fatalf("parsed %d parts, done=%v", len(parts), done)
		}
	}
}

// BenchmarkParseMarkedPrune is the common case: clean-node's three prune steps, short output.
func BenchmarkParseMarkedPrune(b *testing.B) {
	marker := NewMarker()
	out := markedOutput(marker, 3, 5)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if parts, done := ParseMarked(out, marker); !done || len(parts) != 3 {
			b.Fatalf("parsed %d parts, done=%v", len(parts), done)
		}
	}
}
