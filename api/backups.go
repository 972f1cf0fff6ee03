package api

import (
	"net/http"
	"strings"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/operation"
)

// handleBackups answers GET /api/backups?serviceName=NAME: the service's archives in its S3
// location, newest first (at most restore.MaxListed; "cut" says when there were more), to an admin token or the service's backup token (the token in the
// Authorization header only: a query string ends up in proxies' logs).
func (s *Server) handleBackups(w http.ResponseWriter, r *http.Request) {
	if s.backups == nil {
		writeError(w, errorf(http.StatusNotFound, string(operation.KindNotFound), "the backup catalogue is not served here"))
		return
	}
	if r.URL.Query().Has("token") {
		writeError(w, errorf(http.StatusBadRequest, string(operation.KindInvalid), "send the token in the Authorization header, not in the query string"))
		return
	}
	name := strings.TrimSpace(r.URL.Query().Get("serviceName"))
	token, e := s.token(r, "")
	if e == nil {
		e = required([2]string{"serviceName", name})
	}
	if e != nil {
		writeError(w, e)
		return
	}
	svc, _, ae := s.auth.Service(r.Context(), token, catalogueAction, name)
	if ae != nil {
		writeError(w, fromAuth(ae))
		return
	}
	setTarget(r, name)
	l, err := s.backups.BackupsOf(r.Context(), svc)
	if err != nil {
		writeError(w, fromErr("list the backups of service "+name, err))
		return
	}
	body := map[string]any{"ok": true, "service": name, "backups": l.Archives}
	if l.Archives == nil {
		body["backups"] = []restore.Archive{}
	}
	if l.Cut != "" {
		body["cut"] = l.Cut // the listing is bounded (restore.MaxListed, MaxKeysRead)
	}
	writeJSON(w, http.StatusOK, body)
}

// OpBackups names the catalogue in authorisation messages.
const OpBackups = "backups"

// catalogueAction: whoever may back a service up may read its archives.
var catalogueAction = authz.Action{Op: OpBackups, TokenLabel: authz.LabelBackupToken}
