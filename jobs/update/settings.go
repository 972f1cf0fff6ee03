package update

import (
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/labels"
	"github.com/swarm-utils/swarm-utils/parse"
)

const (
	// DefaultExecShell runs exec-pre/exec-post when no .shell label names another.
	DefaultExecShell = "/bin/sh"
	// DefaultExecTimeout bounds exec-pre/exec-post in one task when no .timeout label is set.
	DefaultExecTimeout = 60 * time.Second
)

// Settings configure update-service for one service.
type Settings struct {
	Enabled bool
	// Auto: the service follows its tag's digest on the registry (label update.auto; read also
	// when Enabled is false, so a check can say that update.enable is missing).
	Auto         bool
	RegistryAuth bool
	Registry     config.Registry // each field from its label, else from config
	ExecPre      string          // "" = none; runs in every running task before the update
	ExecPost     string          // "" = none; runs in every new task after the rollout
	// Shell, timeout and on-failure=continue of each, set only with its command.
	ExecPreShell, ExecPostShell       string
	ExecPreTimeout, ExecPostTimeout   time.Duration
	ExecPreContinue, ExecPostContinue bool
	// RollbackOnFailure: a rollout that ends paused is rolled back (label, else config).
	RollbackOnFailure bool
}

// SettingsFromLabels reads a service's update.* labels. With registry.auth=true each
// registry field comes from its label, else from cfg.Registry, and all three must be set.
func SettingsFromLabels(lbls map[string]string, cfg config.Config) (Settings, error) {
	r := labels.Reader{Labels: lbls}
	s := Settings{Enabled: r.Bool(parse.LabelUpdateEnable, false), Auto: r.Bool(parse.LabelUpdateAuto, false)}
	if r.Err != nil {
		return Settings{}, r.Err
	}
	if !s.Enabled {
		return Settings{Auto: s.Auto}, nil
	}
	s.RegistryAuth = r.Bool(parse.LabelUpdateRegistryAuth, false)
	s.Registry = config.Registry{
		User:     r.StrOr(parse.LabelUpdateRegistryUser, cfg.Registry.User),
		Password: r.StrOr(parse.LabelUpdateRegistryPassword, cfg.Registry.Password),
		URL:      r.StrOr(parse.LabelUpdateRegistryURL, cfg.Registry.URL),
	}
	s.ExecPre = r.Command(parse.LabelUpdateExecPre)
	if s.ExecPre != "" {
		s.ExecPreShell = r.StrOr(parse.LabelUpdateExecPreShell, DefaultExecShell)
		s.ExecPreTimeout = r.Millis(parse.LabelUpdateExecPreTimeout, DefaultExecTimeout)
		s.ExecPreContinue = onFailureContinue(&r, parse.LabelUpdateExecPreOnFailure)
	}
	s.ExecPost = r.Command(parse.LabelUpdateExecPost)
	if s.ExecPost != "" {
		s.ExecPostShell = r.StrOr(parse.LabelUpdateExecPostShell, DefaultExecShell)
		s.ExecPostTimeout = r.Millis(parse.LabelUpdateExecPostTimeout, DefaultExecTimeout)
		s.ExecPostContinue = onFailureContinue(&r, parse.LabelUpdateExecPostOnFail)
	}
	s.RollbackOnFailure = r.Bool(parse.LabelUpdateRollback, cfg.UpdateRollbackOnFailure)
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

// onFailureContinue reads an .on-failure label: abort (the default) or continue.
func onFailureContinue(r *labels.Reader, label string) bool {
	switch v := r.Str(label); v {
	case "", "abort":
		return false
	case "continue":
		return true
	default:
		r.Fail(label, "%q must be abort or continue", v)
		return false
	}
}
