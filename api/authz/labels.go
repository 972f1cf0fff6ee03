package authz

import (
	"fmt"
	"path"
	"strings"

	"github.com/swarm-utils/swarm-utils/parse"
)

// OIDC labels: CI identity tokens (GitHub Actions, GitLab CI JWTs) allowed to run an action,
// per service (and per node for clean). Each is swarm-utils.<action>.oidc.<field>.
const (
	OIDCRepositorySuffix   = ".oidc.repository"    // GitHub repository / GitLab project_path; comma list
	OIDCRefSuffix          = ".oidc.ref"           // optional: GitHub refs/heads/main, GitLab main; comma list
	OIDCRefProtectedSuffix = ".oidc.ref-protected" // optional: true requires the ref_protected claim
	OIDCIssuerSuffix       = ".oidc.issuer"        // issuer URL, or github / gitlab

	LabelCleanOIDCRepository  = parse.LabelPrefix + "clean" + OIDCRepositorySuffix
	LabelBackupOIDCRepository = parse.LabelPrefix + "backup" + OIDCRepositorySuffix
	LabelUpdateOIDCRepository = parse.LabelPrefix + "update" + OIDCRepositorySuffix
)

// LabelUpdateImageAllow lists the images a service token may deploy (path.Match globs).
const LabelUpdateImageAllow = parse.LabelPrefix + "update.image-allow"

// OIDCIssuerAliases are the issuers that the issuer label may name by a short word.
var OIDCIssuerAliases = map[string]string{
	"github": "https://token.actions.githubusercontent.com",
	"gitlab": "https://gitlab.com",
}

// OIDCRule is who may run one action on one target by a CI identity token.
type OIDCRule struct {
	Repositories []string // none: OIDC is not set up for the action
	Refs         []string // none: any ref
	RefProtected bool
	Issuer       string // "" = unnamed (allowed only while one issuer is configured)
}

// OIDCRuleFromLabels reads swarm-utils.<action>.oidc.* from a service's or node's labels;
// action is clean, backup or update.
func OIDCRuleFromLabels(labels map[string]string, action string) (OIDCRule, error) {
	base := parse.LabelPrefix + action
	protected, err := parse.BoolLabel(labels, base+OIDCRefProtectedSuffix, false)
	rule := OIDCRule{
		Repositories: parse.ListLabel(labels, base+OIDCRepositorySuffix),
		Refs:         parse.ListLabel(labels, base+OIDCRefSuffix),
		RefProtected: protected,
		Issuer:       strings.TrimRight(labelValue(labels, base+OIDCIssuerSuffix), "/"),
	}
	if alias, ok := OIDCIssuerAliases[strings.ToLower(rule.Issuer)]; ok {
		rule.Issuer = alias
	}
	if err == nil && len(rule.Repositories) == 0 && (len(rule.Refs) > 0 || rule.RefProtected || rule.Issuer != "") {
		err = fmt.Errorf("label %s%s: is required by the other %s.oidc.* labels", base, OIDCRepositorySuffix, base)
	}
	if err != nil {
		return OIDCRule{}, err
	}
	return rule, nil
}

// ImageAllow is the update.image-allow label: path.Match globs ("*" does not cross "/", so
// "registry:5000/team/*" allows "registry:5000/team/app:1.2" but not
// "registry:5000/team/x/app"); a lone "*" allows any image.
type ImageAllow []string

// ImageAllowFromLabels reads update.image-allow: items trimmed, empties and duplicates
// dropped, each a valid glob.
func ImageAllowFromLabels(labels map[string]string) (ImageAllow, error) {
	globs := parse.ListLabel(labels, LabelUpdateImageAllow)
	for _, glob := range globs {
		if _, err := path.Match(glob, ""); err != nil {
			return nil, fmt.Errorf("label %s: %q is not a valid glob: %v", LabelUpdateImageAllow, glob, err)
		}
	}
	return ImageAllow(globs), nil
}

// Allowed tells whether image matches one of the globs (path.Match: "*" does not cross "/", so
// "registry:5000/team/*" allows "registry:5000/team/app:1.2" but not "registry:5000/team/x/app");
// a lone "*" allows any image. The image matches as written or as docker normalises it, so
// "nginx:*" allows "docker.io/library/nginx:1" and the other way round. With no globs every
// image is allowed; callers that must close SPEC §4 weakness (1) for non-admin tokens check len
// themselves.
func (a ImageAllow) Allowed(image string) bool {
	if len(a) == 0 {
		return true
	}
	names := parse.ImageSpellings(image)
	for _, glob := range a {
		if glob == "*" { // allows any image, '/' included
			return true
		}
		for _, name := range names {
			if ok, _ := path.Match(glob, name); ok {
				return true
			}
		}
	}
	return false
}
