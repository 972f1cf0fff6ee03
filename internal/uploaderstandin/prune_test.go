package uploaderstandin

import (
	"slices"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

func TestPruneDeadline(t *testing.T) {
	now := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	got := PruneDeadline(now, 7, time.Minute)
	want := time.Date(2024, 3, 3, 12, 1, 0, 0, time.UTC)
	if !got.Equal(want) {
		t.Errorf("PruneDeadline = %v, want %v", got, want)
	}
}

func TestSelectPrunable(t *testing.T) {
	deadline := time.Date(2024, 3, 3, 0, 0, 0, 0, time.UTC)
	old := deadline.Add(-time.Hour)
	fresh := deadline.Add(time.Hour)
	objects := []minio.ObjectInfo{
		{Key: "svc/node1_vol_2024-01-01.tar.gz", LastModified: old},
		{Key: "svc/node1_vol_2024-03-05.tar.gz", LastModified: fresh},
		{Key: "svc/node2_vol_2024-01-01.tar.gz", LastModified: old},
		{Key: "svc/sub/node1_vol_2024-01-01.tar.gz", LastModified: old},
		{Key: "svc2/node1_vol_2024-01-01.tar.gz", LastModified: old},
		{Key: "svcx/node1_vol_2024-01-01.tar.gz", LastModified: old},
		{Key: "node1_top_2024-01-01.tar.gz", LastModified: old},
		{Key: "svc/", LastModified: old},
		{Key: "svc/node1_exact", LastModified: deadline},
	}
	tests := []struct {
		name           string
		path, prefix   string
		wantCandidates []string
		wantMatches    []string
	}{
		{
			name:           "path and prefix",
			path:           "svc",
			prefix:         "node1_",
			wantCandidates: []string{"svc/node1_vol_2024-01-01.tar.gz", "svc/node1_vol_2024-03-05.tar.gz", "svc/node1_exact"},
			wantMatches:    []string{"svc/node1_vol_2024-01-01.tar.gz"},
		},
		{
			name:           "path without prefix takes every direct child, never svc2/ or svc/sub/",
			path:           "svc",
			wantCandidates: []string{"svc/node1_vol_2024-01-01.tar.gz", "svc/node1_vol_2024-03-05.tar.gz", "svc/node2_vol_2024-01-01.tar.gz", "svc/node1_exact"},
			wantMatches:    []string{"svc/node1_vol_2024-01-01.tar.gz", "svc/node2_vol_2024-01-01.tar.gz"},
		},
		{
			name:           "no path: only top-level keys",
			prefix:         "node1_",
			wantCandidates: []string{"node1_top_2024-01-01.tar.gz"},
			wantMatches:    []string{"node1_top_2024-01-01.tar.gz"},
		},
		{
			name:   "prefix that matches nothing",
			path:   "svc",
			prefix: "node9_",
		},
	}
	keys := func(os []minio.ObjectInfo) []string {
		var out []string
		for _, o := range os {
			out = append(out, o.Key)
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			candidates, matches := SelectPrunable(objects, tt.path, tt.prefix, deadline)
			if got := keys(candidates); !slices.Equal(got, tt.wantCandidates) {
				t.Errorf("candidates %q, want %q", got, tt.wantCandidates)
			}
			if got := keys(matches); !slices.Equal(got, tt.wantMatches) {
				t.Errorf("matches %q, want %q", got, tt.wantMatches)
			}
		})
	}
}

func TestListPrefix(t *testing.T) {
	for _, tt := range []struct{ path, prefix, want string }{
		{"svc", "node1_", "svc/node1_"},
		{"svc", "", "svc/"},
		{"", "node1_", "node1_"},
		{"", "", ""},
	} {
		if got := ListPrefix(tt.path, tt.prefix); got != tt.want {
			t.Errorf("ListPrefix(%q, %q) = %q, want %q", tt.path, tt.prefix, got, tt.want)
		}
	}
}
