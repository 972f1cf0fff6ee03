package parse

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ImageRef is an image reference split as docker splits it: [domain[:port]/]path[:tag][@digest].
type ImageRef struct {
	Name, Tag, Digest string
}

// The grammar of github.com/distribution/reference, which the docker CLI applies before it
// sends anything: lower-case path components, a tag of at most 128 word characters, a digest of
// at least 32 hex digits, a name of at most 255 characters.
var imageRefRe = func() *regexp.Regexp {
	const (
		alphaNumeric  = `[a-z0-9]+`
		separator     = `(?:[._]|__|[-]+)`
		pathComponent = alphaNumeric + `(?:` + separator + alphaNumeric + `)*`
		domainPart    = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
		domain        = `(?:` + domainPart + `(?:\.` + domainPart + `)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?`
		name          = `(?:` + domain + `/)?` + pathComponent + `(?:/` + pathComponent + `)*`
		tag           = `[\w][\w.-]{0,127}`
		digest        = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
	)
	return regexp.MustCompile(`^(` + name + `)(?::(` + tag + `))?(?:@(` + digest + `))?$`)
}()

const maxImageNameLen = 255

// ParseImageRef checks ref against docker's reference grammar.
func ParseImageRef(ref string) (ImageRef, error) {
	if ref == "" {
		return ImageRef{}, errors.New("image is empty")
	}
	m := imageRefRe.FindStringSubmatch(ref)
	if m == nil {
		return ImageRef{}, fmt.Errorf("image %q is not valid: not a docker image reference (want [registry[:port]/]lower-case/path[:tag][@sha256:digest])", ref)
	}
	if len(m[1]) > maxImageNameLen {
		return ImageRef{}, fmt.Errorf("image name is %d characters long, more than docker's %d", len(m[1]), maxImageNameLen)
	}
	return ImageRef{Name: m[1], Tag: m[2], Digest: m[3]}, nil
}

// Repository is the reference's name as docker normalises it: "busybox" and
// "docker.io/library/busybox" are the same repository.
func (r ImageRef) Repository() string {
	first, rest, ok := strings.Cut(r.Name, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost" || first != strings.ToLower(first)) {
		return r.Name // has a registry
	}
	if !ok {
		return "docker.io/library/" + r.Name
	}
	return "docker.io/" + first + "/" + rest
}
