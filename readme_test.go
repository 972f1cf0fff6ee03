package main

import (
	"os"
	"strings"
	"testing"

	"github.com/swarm-utils/swarm-utils/config"
)

// The README's configuration table is generated from the flags; it must not drift.
// Regenerate with: go run . config --markdown, pasted between the BEGIN/END config markers
// (scripts/gen-readme does it).
func TestREADMEConfigTableIsCurrent(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	begin, end := strings.Index(readme, "<!-- BEGIN config -->\n"), strings.Index(readme, "<!-- END config -->")
	if begin < 0 || end < begin {
		t.Fatal("README.md lacks the BEGIN/END config markers")
	}
	got := readme[begin+len("<!-- BEGIN config -->\n") : end]
	if got != config.Markdown() {
		t.Error("README.md's configuration table is stale: run scripts/gen-readme")
	}
}
