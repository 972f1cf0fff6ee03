package cleannode

import (
	"path"
	"slices"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/parse"
)

// rollbackTarget is an image a service's previous spec names: `docker service rollback` would
// start it again, so clean-node leaves it on every node.
type rollbackTarget struct {
	Service string
	Ref     parse.ImageRef
}

// rollbackTargets are the previous-spec images of svcs that differ from their current image
// (the current one is in use where the service runs; elsewhere it goes as before).
func rollbackTargets(svcs []parse.Service) []rollbackTarget {
	var out []rollbackTarget
	for _, s := range svcs {
		if s.PreviousImage == "" || s.PreviousImage == s.Image {
			continue
		}
		if ref, err := parse.ParseImageRef(s.PreviousImage); err == nil {
			out = append(out, rollbackTarget{Service: s.Name, Ref: ref})
		}
	}
	return out
}

// imageChoice is which of a node's images the image step removes, and why the others stay.
type imageChoice struct {
	Remove []string          // references for `docker image rm`, in listing order
	Kept   map[string]string // reference → the rule that kept it
}

// chooseImages decides per image (all rows of one ID together, so that a kept tag keeps the
// image): kept when a reference matches a keep glob, names a rollback target, or the image is
// younger than until; otherwise every reference of it is removed. Images in use are not known
// here: `docker image rm` without --force refuses them.
func chooseImages(rows []parse.ImageRow, s Settings, rollback []rollbackTarget, now time.Time) imageChoice {
	byID := map[string][]parse.ImageRow{}
	var ids []string
	for _, r := range rows {
		if _, ok := byID[r.ID]; !ok {
			ids = append(ids, r.ID)
		}
		byID[r.ID] = append(byID[r.ID], r)
	}
	c := imageChoice{Kept: map[string]string{}}
	for _, id := range ids {
		refs := byID[id]
		rule := keepRule(refs, s, rollback, now)
		for _, r := range refs {
			ref := r.Reference()
			switch {
			case rule != "":
				c.Kept[ref] = rule
			case !slices.Contains(c.Remove, ref):
				c.Remove = append(c.Remove, ref)
			}
		}
	}
	return c
}

// keepRule is why the image with these references stays, "" when it goes.
func keepRule(refs []parse.ImageRow, s Settings, rollback []rollbackTarget, now time.Time) string {
	for _, r := range refs {
		if r.Repository == "" || r.Repository == parse.None {
			continue
		}
		if glob := keepGlob(r, s.Keep); glob != "" {
			return "keep " + glob
		}
		for _, t := range rollback {
			if namesTarget(r, t.Ref) {
				return "rollback target of " + t.Service
			}
		}
	}
	if s.Until > 0 && !refs[0].CreatedAt.IsZero() && now.Sub(refs[0].CreatedAt) < s.Until {
		return "younger than " + s.Until.String()
	}
	return ""
}

// keepGlob is the first glob that matches the row's repository or repository:tag, as written
// or as docker normalises it (update.image-allow's matching): "nginx" keeps every nginx tag,
// "registry:5000/team/*" every image of team, "nginx:1.*" only those tags.
func keepGlob(r parse.ImageRow, globs []string) string {
	names := parse.ImageSpellings(r.Repository)
	if r.Tag != "" && r.Tag != parse.None {
		names = append(names, parse.ImageSpellings(r.Repository+":"+r.Tag)...)
	}
	for _, glob := range globs {
		if glob == "*" {
			return glob
		}
		for _, n := range names {
			if ok, _ := path.Match(glob, n); ok {
				return glob
			}
		}
	}
	return ""
}

// namesTarget tells whether row is the rollback target: same repository, and the target's
// digest or its tag (latest when none); keeping a re-pushed tag too errs on the safe side.
func namesTarget(r parse.ImageRow, target parse.ImageRef) bool {
	if parse.ImageRepository(r.Repository) != target.Repository() {
		return false
	}
	if d := target.Digest(); d != "" && r.Digest == d {
		return true
	}
	tag := target.Tag()
	if tag == "" {
		tag = "latest"
	}
	return r.Tag == tag
}

// refusedInUse are the references docker's output says it refused because a container uses
// them (the image step runs without --force).
func refusedInUse(out string, refs []string) []string {
	var in []string
	for line := range strings.Lines(out) {
		if !strings.Contains(line, "conflict") {
			continue
		}
		for _, ref := range refs {
			// A reference is quoted; an ID (an untagged image) stands alone.
			if strings.Contains(line, `"`+ref+`"`) || strings.Contains(line, " "+ref+" ") {
				in = append(in, ref)
			}
		}
	}
	return in
}
