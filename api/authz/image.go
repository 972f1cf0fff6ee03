package authz

import (
	"github.com/swarm-utils/swarm-utils/jobs/update"
	"github.com/swarm-utils/swarm-utils/operation"
	"net/http"
	"strings"

	"github.com/swarm-utils/swarm-utils/parse"
)

// Image closes SPEC §4 weakness (1) for tokens that are not admin tokens: the image must match
// the service's swarm-utils.update.image-allow globs, or, without that label, be the service's
// current image repository with another tag or digest. Call it for non-admin tokens only.
func (a *Authorizer) Image(svc parse.Service, image string) *Error {
	settings, err := update.SettingsFromLabels(svc.Labels, a.cfg)
	if err != nil || !settings.Enabled {
		return nil // the operation reports the bad labels or the disabled action
	}
	allow, err := ImageAllowFromLabels(svc.Labels)
	if err != nil {
		// A broken allow-list allows nothing; the words and status are the operation's for bad labels.
		return errorf(http.StatusBadRequest, string(operation.KindInvalid), "service %s labels: %v", svc.Name, err)
	}
	if len(allow) > 0 {
		if allow.Allowed(image) {
			return nil
		}
		return errorf(http.StatusForbidden, string(operation.KindForbidden),
			"image %q is not allowed for service %q by its %s label (%s)", image, svc.Name, LabelUpdateImageAllow, strings.Join(allow, ","))
	}
	current := imageRepository(svc.Image)
	if current != "" && imageRepository(image) == current {
		return nil
	}
	return errorf(http.StatusForbidden, string(operation.KindForbidden),
		"a service token may only deploy new tags of the service's image %q (set the %s label on %q to allow other images, or use an admin token)",
		current, LabelUpdateImageAllow, svc.Name)
}

// imageRepository is an image reference's repository, normalised as docker does ("nginx" is
// "docker.io/library/nginx"); "" for a reference docker would refuse, which matches no service.
func imageRepository(ref string) string { return parse.ImageRepository(ref) }
