package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/swarm-utils/swarm-utils/api/authz"
	"github.com/swarm-utils/swarm-utils/jobs/restore"
	"github.com/swarm-utils/swarm-utils/operation"
)

// OpMoveService is move-service's name in the API, the job store and the metrics.
const OpMoveService = restore.OpMove

// Mover moves a service and its volumes to another node; *jobs.Deps (through Instrumented)
// in production. Operations without it answer move requests with 404.
type Mover interface {
	MoveService(ctx context.Context, o restore.MoveOptions) operation.Result
}

// moveAction has no token label: move-service is for admin tokens only.
var moveAction = authz.Action{Op: OpMoveService, TokenLabel: "swarm-utils.move.token"}

type moveRequest struct {
	Token       string          `json:"token"`
	ServiceName string          `json:"serviceName"`
	Node        string          `json:"node"`
	WaitRes     json.RawMessage `json:"waitRes"`
}

// handleMoveService: POST /api/move/service {token, serviceName, node, waitRes?}, for admin
// tokens only.
func (s *Server) handleMoveService(w http.ResponseWriter, r *http.Request) {
	mover, ok := s.ops.(Mover)
	if !ok {
		writeError(w, errorf(http.StatusNotFound, string(operation.KindNotFound), "move-service is not offered by this server"))
		return
	}
	var (
		req  moveRequest
		wait bool
	)
	token, ok := s.readRequest(w, r, &req, &req.Token, waitFlag(&wait, &req.WaitRes),
		func() *apiError {
			return required([2]string{"serviceName", req.ServiceName}, [2]string{"node", req.Node})
		})
	if !ok {
		return
	}
	if !s.auth.Admin(token) {
		// Decided before any docker call; a label or CI token is never enough.
		writeError(w, errorf(http.StatusUnauthorized, kindUnauthorized, "move-service is for admin tokens only (SWARM_UTILS_ADMIN_TOKEN_LIST)"))
		return
	}
	if _, _, ok := s.authorizeService(w, r, token, moveAction, req.ServiceName); !ok {
		return
	}
	opts := restore.MoveOptions{Service: req.ServiceName, Node: req.Node}
	s.launch(w, r, OpMoveService, req.ServiceName, token, true, wait, func(ctx context.Context) operation.Result {
		return mover.MoveService(ctx, opts)
	})
}

// MoveService is counted like the other operations.
func (i Instrumented) MoveService(ctx context.Context, o restore.MoveOptions) operation.Result {
	mover, ok := i.Ops.(Mover)
	if !ok {
		return operation.Failed(OpMoveService, o.Service, operation.Errorf(operation.KindNotFound, "move-service is not offered"))
	}
	return i.run(OpMoveService, func() operation.Result { return mover.MoveService(ctx, o) })
}
