package cleanservice

import (
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/internal/labels"
	"github.com/swarm-utils/swarm-utils/parse"
)

// Settings configure clean-service for one service.
type Settings struct {
	Enabled     bool
	Exec        string // one argv element for `SHELL -c`
	Shell       string
	ExecTimeout time.Duration
}

// SettingsFromLabels reads a service's clean.* labels. A disabled (or unlabelled) service
// gives Enabled false and no error: its other clean labels are inert and not checked.
func SettingsFromLabels(lbls map[string]string, cfg config.Config) (Settings, error) {
	r := labels.Reader{Labels: lbls}
	s := Settings{Enabled: r.Bool(parse.LabelCleanEnable, false)}
	if r.Err != nil || !s.Enabled {
		return Settings{}, r.Err
	}
	s.Exec = r.Command(parse.LabelCleanExec)
	s.Shell = r.StrOr(parse.LabelCleanExecShell, cfg.CleanExecShell)
	s.ExecTimeout = r.Millis(parse.LabelCleanExecTimeout, cfg.Timeouts.CleanServiceExec)
	if s.Exec == "" {
		r.Fail(parse.LabelCleanExec, "is required when %s=true", parse.LabelCleanEnable)
	}
	if s.Shell == "" {
		r.Fail(parse.LabelCleanExecShell, "is empty and SWARM_UTILS_CLEAN_SERVICE_EXEC_SHELL is not set")
	}
	if r.Err != nil {
		return Settings{}, r.Err
	}
	return s, nil
}
