package api

import (
	"github.com/swarm-utils/swarm-utils/jobs/backup"
	"github.com/swarm-utils/swarm-utils/jobs/cleannode"
	"github.com/swarm-utils/swarm-utils/jobs/cleanservice"
	"github.com/swarm-utils/swarm-utils/jobs/update"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/bashexec"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/schedule"
)

// ServiceView is one service of GET /api/services: its swarm-utils labels (secrets "***") and
// what they configure, and the actions the caller's token may run on it now.
type ServiceView struct {
	Name     string            `json:"name"`
	ID       string            `json:"id"`
	Image    string            `json:"image"`
	Mode     string            `json:"mode"`
	Replicas *uint64           `json:"replicas,omitempty"`
	Labels   map[string]string `json:"labels"`
	Actions  []string          `json:"actions"`
	Clean    CleanView         `json:"clean"`
	Backup   BackupView        `json:"backup"`
	Update   UpdateView        `json:"update"`
	// Schedules are the service's own schedules (clean.cron, backup.cron, update.auto), each with
	// its next time or, for an expression that does not parse, its error.
	Schedules []schedule.Entry `json:"schedules,omitempty"`
}

type CleanView struct {
	Enabled       bool   `json:"enabled"`
	Exec          string `json:"exec,omitempty"`
	Shell         string `json:"shell,omitempty"`
	ExecTimeoutMs int64  `json:"execTimeoutMs,omitempty"`
	TokenSet      bool   `json:"tokenSet"`
	Error         string `json:"error,omitempty"` // the labels are not usable as they are
}

type BackupView struct {
	Enabled         bool     `json:"enabled"`
	Exec            string   `json:"exec,omitempty"`
	Shell           string   `json:"shell,omitempty"`
	Stop            bool     `json:"stop"`
	Volumes         []string `json:"volumes,omitempty"`
	S3              *S3View  `json:"s3,omitempty"`
	ExecTimeoutMs   int64    `json:"execTimeoutMs,omitempty"`
	StopTimeoutMs   int64    `json:"stopTimeoutMs,omitempty"`
	UploadTimeoutMs int64    `json:"uploadTimeoutMs,omitempty"`
	StartTimeoutMs  int64    `json:"startTimeoutMs,omitempty"`
	TokenSet        bool     `json:"tokenSet"`
	Error           string   `json:"error,omitempty"`
}

type S3View struct {
	URL           string `json:"url"`
	HTTPS         bool   `json:"https"`
	Bucket        string `json:"bucket"`
	RetentionDays int    `json:"retentionDays"`
	AccessKey     string `json:"accessKey"` // "***" when set
	SecretKey     string `json:"secretKey"` // "***" when set
}

type UpdateView struct {
	Enabled      bool     `json:"enabled"`
	RegistryAuth bool     `json:"registryAuth"`
	RegistryURL  string   `json:"registryUrl,omitempty"`
	RegistryUser string   `json:"registryUser,omitempty"` // "***" when set
	ImageAllow   []string `json:"imageAllow,omitempty"`
	ExecPre      string   `json:"execPre,omitempty"`
	ExecPost     string   `json:"execPost,omitempty"`
	// RollbackOnFailure: a failed rollout is rolled back (label, else SWARM_UTILS_UPDATE_ROLLBACK_ON_FAILURE).
	RollbackOnFailure bool `json:"rollbackOnFailure"`
	// Auto: updates by digest (label update.auto=true), see Schedules for when.
	Auto     bool   `json:"auto"`
	TokenSet bool   `json:"tokenSet"`
	Error    string `json:"error,omitempty"`
}

// NodeView is one node of GET /api/nodes.
type NodeView struct {
	ID           string            `json:"id"`
	Hostname     string            `json:"hostname"`
	Role         string            `json:"role"`
	State        string            `json:"state"`
	Availability string            `json:"availability"`
	Labels       map[string]string `json:"labels"`
	Actions      []string          `json:"actions"`
	Clean        NodeCleanView     `json:"clean"`
	// Schedules is the node's own clean-node schedule (clean.cron), with its next time or error.
	Schedules []schedule.Entry `json:"schedules,omitempty"`
}

type NodeCleanView struct {
	Enabled            bool  `json:"enabled"`
	Container          bool  `json:"container"`
	Image              bool  `json:"image"`
	Builder            bool  `json:"builder"`
	ContainerTimeoutMs int64 `json:"containerTimeoutMs,omitempty"`
	ImageTimeoutMs     int64 `json:"imageTimeoutMs,omitempty"`
	BuilderTimeoutMs   int64 `json:"builderTimeoutMs,omitempty"`
	// ImageKeep and ImageUntil are the image step's keep globs (environment and label) and age.
	ImageKeep  []string `json:"imageKeep,omitempty"`
	ImageUntil string   `json:"imageUntil,omitempty"`
	TokenSet   bool     `json:"tokenSet"`
	Error      string   `json:"error,omitempty"`
}

// listToken is the token of a GET listing: only the Authorization header (a query string
// would end up in proxies' logs).
// A token that is neither an admin token nor any cached label token is 401 before the targets
// are read.
func (s *Server) listToken(w http.ResponseWriter, r *http.Request) (authz.Token, bool) {
	token, e := s.token(r, "")
	if e == nil && !s.auth.Known(r.Context(), token) {
		e = errorf(http.StatusUnauthorized, kindUnauthorized, "unknown token: it is neither an admin token nor any service's or node's swarm-utils token")
	}
	if e != nil {
		writeError(w, e)
		return authz.Token{}, false
	}
	return token, true
}

// handleServices lists every service to an admin token; to another token the services where
// it is one of the action tokens.
func (s *Server) handleServices(w http.ResponseWriter, r *http.Request) {
	token, ok := s.listToken(w, r)
	if !ok {
		return
	}
	admin := s.auth.Admin(token)
	svcs, err := s.targets.Services(r.Context())
	if err != nil {
		writeError(w, fromErr("list services", err))
		return
	}
	views := []ServiceView{}
	for _, svc := range svcs {
		v, mine := s.serviceView(svc, token, admin)
		if admin || mine {
			views = append(views, v)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": views})
}

// serviceView builds the view and tells whether token is one of the service's action tokens.
func (s *Server) serviceView(svc parse.Service, token authz.Token, admin bool) (ServiceView, bool) {
	mask := s.masker(svc.Labels)
	v := ServiceView{Name: svc.Name, ID: svc.ID, Image: svc.Image, Mode: svc.Mode, Labels: ownLabels(svc.Labels, mask), Actions: []string{}}
	if svc.Mode == parse.ModeReplicated {
		n := svc.Replicas
		v.Replicas = &n
	}
	mine := false
	may := func(a authz.Action, enabled bool) {
		match := token.Matches(labelValue(svc.Labels, a.TokenLabel))
		mine = mine || match
		if enabled && (admin || match) {
			v.Actions = append(v.Actions, a.Op)
		}
	}

	v.Clean.TokenSet = labelValue(svc.Labels, authz.LabelCleanToken) != ""
	c, err := cleanservice.SettingsFromLabels(svc.Labels, s.cfg)
	if err = checkToken(c.Enabled, err, svc.Labels, authz.LabelCleanToken); err != nil {
		v.Clean.Error = mask(err.Error())
	} else if c.Enabled {
		v.Clean = CleanView{Enabled: true, Exec: mask(c.Exec), Shell: c.Shell, ExecTimeoutMs: ms(c.ExecTimeout), TokenSet: v.Clean.TokenSet}
	}
	may(cleanAction, v.Clean.Enabled)

	v.Backup.TokenSet = labelValue(svc.Labels, authz.LabelBackupToken) != ""
	b, err := backup.SettingsFromLabels(svc.Labels, s.cfg)
	if err = checkToken(b.Enabled, err, svc.Labels, authz.LabelBackupToken); err != nil {
		v.Backup.Error = mask(err.Error())
	} else if b.Enabled {
		v.Backup = BackupView{Enabled: true, Exec: mask(b.Exec), Shell: b.Shell, Stop: b.Stop, Volumes: b.Volumes,
			S3: &S3View{URL: b.S3.URL, HTTPS: b.S3.HTTPS, Bucket: b.S3.Bucket, RetentionDays: b.S3.RetentionDays,
				AccessKey: hidden(b.S3.AccessKey), SecretKey: hidden(b.S3.SecretKey)},
			ExecTimeoutMs: ms(b.ExecTimeout), StopTimeoutMs: ms(b.StopTimeout), UploadTimeoutMs: ms(b.UploadTimeout), StartTimeoutMs: ms(b.StartTimeout),
			TokenSet: v.Backup.TokenSet}
	}
	may(backupAction, v.Backup.Enabled)
	// A restore scales the service to 0 and back: replicated services only.
	may(restoreAction, v.Backup.Enabled && svc.Mode == parse.ModeReplicated)

	v.Update.TokenSet = labelValue(svc.Labels, authz.LabelUpdateToken) != ""
	u, err := update.SettingsFromLabels(svc.Labels, s.cfg)
	err = checkToken(u.Enabled, err, svc.Labels, authz.LabelUpdateToken)
	var allow authz.ImageAllow
	if err == nil && u.Enabled {
		allow, err = authz.ImageAllowFromLabels(svc.Labels)
	}
	if err != nil {
		v.Update.Error = mask(err.Error())
	} else if u.Enabled {
		v.Update = UpdateView{Enabled: true, RegistryAuth: u.RegistryAuth, ImageAllow: allow,
			ExecPre: mask(u.ExecPre), ExecPost: mask(u.ExecPost), RollbackOnFailure: u.RollbackOnFailure, TokenSet: v.Update.TokenSet}
		if u.RegistryAuth {
			v.Update.RegistryURL, v.Update.RegistryUser = u.Registry.URL, hidden(u.Registry.User)
		}
	}
	if v.Update.Enabled {
		v.Update.Auto = u.Auto
	}
	may(updateAction, v.Update.Enabled)
	v.Schedules = schedule.ForService(svc, s.cfg.Cron, s.now())
	return v, mine
}

// handleNodes lists every node to an admin token; to another token the nodes whose
// swarm-utils.clean.token it is.
func (s *Server) handleNodes(w http.ResponseWriter, r *http.Request) {
	token, ok := s.listToken(w, r)
	if !ok {
		return
	}
	admin := s.auth.Admin(token)
	nodes, err := s.targets.Nodes(r.Context())
	if err != nil {
		writeError(w, fromErr("list nodes", err))
		return
	}
	views := []NodeView{}
	for _, n := range nodes {
		match := token.Matches(labelValue(n.Labels, authz.LabelNodeCleanToken))
		if !admin && !match {
			continue
		}
		mask := s.masker(n.Labels)
		v := NodeView{ID: n.ID, Hostname: n.Hostname, Role: n.Role, State: n.State, Availability: n.Availability,
			Labels: ownLabels(n.Labels, mask), Actions: []string{}}
		v.Clean.TokenSet = labelValue(n.Labels, authz.LabelNodeCleanToken) != ""
		c, err := cleannode.SettingsFromLabels(n.Labels, s.cfg)
		if err = checkToken(c.Enabled, err, n.Labels, authz.LabelNodeCleanToken); err != nil {
			v.Clean.Error = mask(err.Error())
		} else if c.Enabled {
			v.Clean = NodeCleanView{Enabled: true, Container: c.Container, Image: c.Image, Builder: c.Builder,
				ContainerTimeoutMs: ms(c.ContainerTimeout), ImageTimeoutMs: ms(c.ImageTimeout), BuilderTimeoutMs: ms(c.BuilderTimeout),
				ImageKeep: c.Keep, TokenSet: v.Clean.TokenSet}
			if c.Until > 0 {
				v.Clean.ImageUntil = c.Until.String()
			}
			if c.Container || c.Image || c.Builder {
				v.Actions = append(v.Actions, OpCleanNode)
			}
		}
		v.Schedules = schedule.ForNode(n, s.now())
		views = append(views, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": views})
}

// checkToken adds the action's token label to the settings' check: a malformed hashed token
// makes an enabled action unusable with a label token, so the listing shows it as the labels'
// error.
func checkToken(enabled bool, err error, labels map[string]string, label string) error {
	if err == nil && enabled {
		return authz.CheckTokenLabel(labels, label)
	}
	return err
}

// ownLabels are the swarm-utils.* labels, secret values "***".
func ownLabels(labels map[string]string, mask func(string) string) map[string]string {
	own := map[string]string{}
	for k, v := range labels {
		if !strings.HasPrefix(k, parse.LabelPrefix) {
			continue
		}
		if v != "" && parse.IsSecretLabel(k) { // as parse.MaskedLabels, without its copy
			v = "***"
		}
		own[k] = mask(v)
	}
	return own
}

// masker hides the configured secrets and the target's secret label values in free text such
// as a label's command.
func (s *Server) masker(labels map[string]string) func(string) string {
	values := slices.Clip(s.cfgSecrets) // appended to below: a copy, never the shared array
	for k, v := range labels {
		if v != "" && v != "***" && parse.IsSecretLabel(k) { // what parse.MaskedLabels hides
			values = append(values, strings.TrimSpace(v))
		}
	}
	return bashexec.NewSecrets(values...).Mask // one set, not one copy per secret label
}

func hidden(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

func labelValue(labels map[string]string, key string) string { return strings.TrimSpace(labels[key]) }
