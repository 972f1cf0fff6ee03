package parse

import (
	"testing"
	"time"
)

// Captured from the bed's manager (current engine, containerd image store): `docker image ls
// --no-trunc --digests --format '{{json .}}'` and `docker system df --format '{{json .}}'`.
func TestImageLsCapture(t *testing.T) {
	rows := mustParse(t, ImageLs, "image-ls.txt")
	if len(rows) != 6 {
		t.Fatalf("got %d rows, want 6", len(rows))
	}
	r := rows[0]
	want := time.Date(2026, 12, 1, 21, 21, 42, 0, time.UTC)
	if r.Repository != "192.168.222.1:5000/su/swarm-utils" || r.Tag != "test" || !r.CreatedAt.Equal(want) ||
		r.ID != "sha256:b23054dd3660662eb4387d6e756ad938e6e7dac843d741c00b1657ff07abac71" || r.Size != "61.1MB" {
		t.Errorf("row %+v", r)
	}
	if got := r.Reference(); got != "192.168.222.1:5000/su/swarm-utils:test" {
		t.Errorf("Reference() = %q", got)
	}
}

func TestImageRowReference(t *testing.T) {
	for _, tc := range []struct {
		row  ImageRow
		want string
	}{
		{ImageRow{ID: "sha256:1", Repository: "nginx", Tag: "1", Digest: "sha256:d"}, "nginx:1"},
		{ImageRow{ID: "sha256:1", Repository: "nginx", Tag: None, Digest: "sha256:d"}, "nginx@sha256:d"},
		{ImageRow{ID: "sha256:1", Repository: None, Tag: None, Digest: None}, "sha256:1"},
	} {
		if got := tc.row.Reference(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.row, got, tc.want)
		}
	}
}

func TestImageLsBadCreatedAt(t *testing.T) {
	if _, err := ImageLs(`{"ID":"sha256:1","CreatedAt":"yesterday"}`); err == nil {
		t.Error("an unreadable CreatedAt was accepted")
	}
	if _, err := ImageLs(`{"Repository":"x"}`); err == nil {
		t.Error("a row without ID was accepted")
	}
}

func TestSystemDfCapture(t *testing.T) {
	rows := mustParse(t, SystemDf, "system-df.txt")
	if len(rows) != 4 || rows[0].Type != "Images" || rows[0].Size != "150.9MB" || rows[0].Total != "6" || rows[3].Type != "Build Cache" {
		t.Errorf("rows %+v", rows)
	}
}

func TestServicePreviousImage(t *testing.T) {
	for _, s := range mustParse(t, ServiceInspect, "service-inspect.txt") {
		if s.Name == "capture-web" {
			if want := "192.168.213.1:5000/su/workload:1@sha256:57bbd002f2ff7201e5df2a640e279f8b340ec4264bbfab46fec18d16f1b7f6ad"; s.PreviousImage != want {
				t.Errorf("PreviousImage = %q, want %q", s.PreviousImage, want)
			}
			return
		}
	}
	t.Fatal("no capture-web in the capture")
}
