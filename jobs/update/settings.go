package update

import (
	"path"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/labels"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Settings configure update-service for one service.
type Settings struct {
	Enabled      bool
	RegistryAuth bool
	Registry     config.Registry // each field from its label, else from config
	Token        string
	ExecPre      string   // "" = none
	ExecPost     string   // "" = none
	ImageAllow   []string // path.Match globs; see ImageAllowed
}

// SettingsFromLabels reads a service's update.* labels. With registry.auth=true each
// registry field comes from its label, else from cfg.Registry, and all three must be set.
func SettingsFromLabels(lbls map[string]string, cfg config.Config) (Settings, error) {
	r := labels.Reader{Labels: lbls}
	s := Settings{Enabled: r.Bool(parse.LabelUpdateEnable, false)}
	if r.Err != nil || !s.Enabled {
		return Settings{}, r.Err
	}
	s.RegistryAuth = r.Bool(parse.LabelUpdateRegistryAuth, false)
	s.Registry = config.Registry{
		User:     r.StrOr(parse.LabelUpdateRegistryUser, cfg.Registry.User),
		Password: r.StrOr(parse.LabelUpdateRegistryPassword, cfg.Registry.Password),
		URL:      r.StrOr(parse.LabelUpdateRegistryURL, cfg.Registry.URL),
	}
	s.Token = r.Token(parse.LabelUpdateToken)
	s.ExecPre = r.Command(parse.LabelUpdateExecPre)
	s.ExecPost = r.Command(parse.LabelUpdateExecPost)
	s.ImageAllow = r.List(parse.LabelUpdateImageAllow)
	for _, glob := range s.ImageAllow {
		if _, err := path.Match(glob, ""); err != nil {
			r.Fail(parse.LabelUpdateImageAllow, "%q is not a valid glob: %v", glob, err)
		}
	}
	if s.RegistryAuth {
		for _, need := range []struct{ value, label, env string }{
			{s.Registry.User, parse.LabelUpdateRegistryUser, "SWARM_UTILS_REGISTRY_USER"},
			{s.Registry.Password, parse.LabelUpdateRegistryPassword, "SWARM_UTILS_REGISTRY_PASSWORD"},
			{s.Registry.URL, parse.LabelUpdateRegistryURL, "SWARM_UTILS_REGISTRY_URL"},
		} {
			if need.value == "" {
				r.Fail(need.label, "is not set and neither is %s (needed by %s=true)", need.env, parse.LabelUpdateRegistryAuth)
			}
		}
	}
	if r.Err != nil {
		return Settings{}, r.Err
	}
	return s, nil
}

// ImageAllowed tells whether image matches one of the update.image-allow globs (path.Match:
// "*" does not cross "/", so "registry:5000/team/*" allows "registry:5000/team/app:1.2" but not
// "registry:5000/team/x/app"); a lone "*" allows any image. With no globs every image is allowed; callers that must close
// SPEC §4 weakness (1) for non-admin tokens check len(ImageAllow) themselves.
func (s Settings) ImageAllowed(image string) bool {
	if len(s.ImageAllow) == 0 {
		return true
	}
	for _, glob := range s.ImageAllow {
		if glob == "*" { // allows any image, '/' included
			return true
		}
		if ok, _ := path.Match(glob, image); ok {
			return true
		}
	}
	return false
}
