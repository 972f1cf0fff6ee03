package update

import (
	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/labels"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Settings configure update-service for one service.
type Settings struct {
	Enabled      bool
	RegistryAuth bool
	Registry     config.Registry // each field from its label, else from config
	ExecPre      string          // "" = none
	ExecPost     string          // "" = none
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
	s.ExecPre = r.Command(parse.LabelUpdateExecPre)
	s.ExecPost = r.Command(parse.LabelUpdateExecPost)
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
