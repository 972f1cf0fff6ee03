package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/swarm-utils/swarm-utils/jobs/volumes"
	"github.com/swarm-utils/swarm-utils/operation"
)

// VolumeLister lists every node's local volumes; *jobs.Deps in production.
type VolumeLister interface {
	Volumes(ctx context.Context, unusedOnly bool) volumes.Listing
}

// handleVolumes answers GET /api/volumes[?unused=true], to admin tokens only (a node's volume
// names tell what runs where): per node its local volumes, whether a container uses each, and
// its size. 200 when every node was listed, else 502 with the same body (each failed node's
// error in it).
func (s *Server) handleVolumes(w http.ResponseWriter, r *http.Request) {
	if s.volumes == nil {
		writeError(w, errorf(http.StatusNotFound, string(operation.KindNotFound), "the volume listing is not served here"))
		return
	}
	q := r.URL.Query()
	if q.Has("token") {
		writeError(w, errorf(http.StatusBadRequest, string(operation.KindInvalid), "send the token in the Authorization header, not in the query string"))
		return
	}
	token, ok := s.listToken(w, r)
	if !ok {
		return
	}
	if !s.auth.Admin(token) {
		writeError(w, errorf(http.StatusForbidden, string(operation.KindForbidden), "only admin tokens may list the nodes' volumes"))
		return
	}
	unused := false
	if raw := strings.TrimSpace(q.Get("unused")); raw != "" {
		b, err := strconv.ParseBool(raw)
		if err != nil {
			writeError(w, errorf(http.StatusBadRequest, string(operation.KindInvalid), "unused=%q: want true or false", raw))
			return
		}
		unused = b
	}
	l := s.volumes.Volumes(r.Context(), unused)
	status := http.StatusOK
	if !l.OK {
		status = http.StatusBadGateway
	}
	writeJSON(w, status, l)
}
