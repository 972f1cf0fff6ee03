package parse

import (
	"fmt"
	"time"
)

// ImageRow is one line of `docker image ls --no-trunc --digests --format '{{json .}}'`: one
// reference (repository and tag or digest) of an image; an image with several tags has several.
type ImageRow struct {
	ID         string    // short (12 hex digits) or, with --no-trunc, sha256:…
	Repository string    // "<none>" for a dangling image
	Tag        string    // "<none>" when the reference has none (pulled by digest, dangling)
	Digest     string    // "sha256:…" or "<none>"
	CreatedAt  time.Time // zero when docker's text did not parse
	Size       string    // docker's human size ("12.3MB")
}

// None is docker's placeholder for a missing repository, tag or digest.
const None = "<none>"

// imageCreatedLayout is how `docker image ls` writes CreatedAt ("2024-05-01 10:00:00 +0000 UTC").
const imageCreatedLayout = "2006-01-02 15:04:05 -0700 MST"

// ImageLs parses `docker image ls --format '{{json .}}'`, one object a line.
func ImageLs(out string) ([]ImageRow, error) {
	const what = "docker image ls"
	objs, err := objects(out, what)
	if err != nil {
		return nil, err
	}
	rows := make([]ImageRow, 0, len(objs))
	for i, o := range objs {
		id, err := requireString(o, "ID", what, i)
		if err != nil {
			return nil, err
		}
		r := ImageRow{ID: id, Repository: o.Get("Repository").String(), Tag: o.Get("Tag").String(),
			Digest: o.Get("Digest").String(), Size: o.Get("Size").String()}
		if c := o.Get("CreatedAt").String(); c != "" {
			t, err := time.Parse(imageCreatedLayout, c)
			if err != nil {
				return nil, fmt.Errorf("%s output, image %s: CreatedAt %q: %w", what, id, c, err)
			}
			r.CreatedAt = t
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// Reference is how `docker image rm` names this row without touching the image's other
// references: repository:tag, repository@digest, or the ID when it has neither.
func (r ImageRow) Reference() string {
	switch {
	case r.Repository != "" && r.Repository != None && r.Tag != "" && r.Tag != None:
		return r.Repository + ":" + r.Tag
	case r.Repository != "" && r.Repository != None && r.Digest != "" && r.Digest != None:
		return r.Repository + "@" + r.Digest
	default:
		return r.ID
	}
}

// DiskUsage is one line of `docker system df --format '{{json .}}'`.
type DiskUsage struct {
	Type        string // "Images", "Containers", "Local Volumes", "Build Cache"
	Total       string // TotalCount
	Active      string
	Size        string // human ("1.2GB")
	Reclaimable string // human with a share ("800MB (66%)")
}

// SystemDf parses `docker system df --format '{{json .}}'`.
func SystemDf(out string) ([]DiskUsage, error) {
	const what = "docker system df"
	objs, err := objects(out, what)
	if err != nil {
		return nil, err
	}
	rows := make([]DiskUsage, 0, len(objs))
	for i, o := range objs {
		t, err := requireString(o, "Type", what, i)
		if err != nil {
			return nil, err
		}
		rows = append(rows, DiskUsage{Type: t, Total: o.Get("TotalCount").String(), Active: o.Get("Active").String(),
			Size: o.Get("Size").String(), Reclaimable: o.Get("Reclaimable").String()})
	}
	return rows, nil
}
