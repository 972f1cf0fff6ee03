package parse

import (
	// go-digest knows an algorithm only once its hash is linked; without these every digest
	// is "unsupported".
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"

	"github.com/distribution/reference"
)

// ImageRef is an image reference as the docker CLI reads it: github.com/distribution/reference
// with docker's normalisation ("busybox" is "docker.io/library/busybox").
type ImageRef struct {
	named reference.Named
}

// ParseImageRef checks ref against docker's reference grammar, the check the docker CLI applies
// before it sends anything: lower-case path, a tag of at most 128 word characters, a digest
// that go-digest accepts (sha256: exactly 64 lower-case hex digits), a name of at most 255
// characters once normalised.
func ParseImageRef(ref string) (ImageRef, error) {
	if ref == "" {
		return ImageRef{}, errors.New("image is empty")
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ImageRef{}, fmt.Errorf("image %q is not valid: %w (want [registry[:port]/]lower-case/path[:tag][@sha256:digest])", ref, err)
	}
	return ImageRef{named: named}, nil
}

// Repository is the normalised name without tag and digest: "docker.io/library/busybox".
func (r ImageRef) Repository() string { return r.named.Name() }

// Domain is the registry the image is pulled from: "docker.io" when the reference names none.
func (r ImageRef) Domain() string { return reference.Domain(r.named) }

// Tag is the reference's tag, "" when it has none.
func (r ImageRef) Tag() string {
	if t, ok := r.named.(reference.Tagged); ok {
		return t.Tag()
	}
	return ""
}

// Digest is the reference's digest ("sha256:…"), "" when it has none.
func (r ImageRef) Digest() string {
	if d, ok := r.named.(reference.Digested); ok {
		return d.Digest().String()
	}
	return ""
}

// String is the normalised reference: "docker.io/library/busybox:1.36".
func (r ImageRef) String() string { return r.named.String() }

// ImageRepository is ref's normalised repository, "" when ref is no image reference.
func ImageRepository(ref string) string {
	r, err := ParseImageRef(ref)
	if err != nil {
		return ""
	}
	return r.Repository()
}

// SameImage tells whether a and b name the same repository and tag, ignoring a pinned digest
// and docker's implied defaults (docker.io/library/, :latest), which `service update` adds or
// keeps. References that do not parse are the same only when their text is.
func SameImage(a, b string) bool {
	ra, errA := ParseImageRef(a)
	rb, errB := ParseImageRef(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return ra.Repository() == rb.Repository() && ra.tagOrLatest() == rb.tagOrLatest()
}

// tagOrLatest is the tag docker pulls: "latest" when the reference names none.
func (r ImageRef) tagOrLatest() string {
	if t := r.Tag(); t != "" {
		return t
	}
	return "latest"
}

// ImageSpellings are the ways docker writes the image: as given, fully normalised
// ("docker.io/library/nginx:1") and familiar ("nginx:1"), so that an allow-list glob written
// either way matches. A reference that does not parse has only its own text.
func ImageSpellings(image string) []string {
	r, err := ParseImageRef(image)
	if err != nil {
		return []string{image}
	}
	return []string{image, r.String(), reference.FamiliarString(r.named)}
}
