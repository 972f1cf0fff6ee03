package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/swarm-utils/swarm-utils/operation"
)

// CallerLabelToken is a run started with a target's label token; which label is implied by the
// operation.
const CallerLabelToken = "label-token"

// maxSubject bounds the OIDC subject kept as a caller.
const maxSubject = 200

// Caller names who a token is for the run history: admin, label-token or oidc:<subject>; never
// the token. Call it only for a token that was authorised: the subject of a JWT is read from
// its (already verified) claims.
func (a *Authorizer) Caller(tok Token) string {
	switch {
	case a.Admin(tok):
		return operation.CallerAdmin
	case LooksLikeJWT(tok.Raw):
		return "oidc:" + jwtSubject(tok.Raw)
	}
	return CallerLabelToken
}

// jwtSubject is the sub claim of a JWT, without verifying it.
func jwtSubject(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "?"
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Subject string `json:"sub"`
	}
	if err != nil || json.Unmarshal(raw, &c) != nil || c.Subject == "" {
		return "?"
	}
	if len(c.Subject) > maxSubject {
		return c.Subject[:maxSubject]
	}
	return c.Subject
}

// Scope is which targets' runs a token may read: every one (an admin token), or the services
// and nodes it is a token of (any of their token labels, or their OIDC rules for any action).
type Scope struct {
	All      bool
	Services map[string]bool // by name
	Nodes    map[string]bool // by hostname and by ID
}

// Sees tells whether the scope holds the target; node is true for clean-node's targets.
func (s Scope) Sees(node bool, target string) bool {
	if s.All {
		return true
	}
	if node {
		return s.Nodes[target]
	}
	return s.Services[target]
}

// serviceActions are the actions whose labels make a token one of a service's.
var serviceActions = []Action{
	{Op: "clean-service", TokenLabel: LabelCleanToken}, {Op: "backup-service", TokenLabel: LabelBackupToken},
	{Op: "update-service", TokenLabel: LabelUpdateToken}, {Op: "restore-service", TokenLabel: LabelRestoreToken},
}

var nodeAction = Action{Op: "clean-node", TokenLabel: LabelNodeCleanToken}

// Scope returns what tok may read from the run history; an unknown token is 401. The targets
// come from the label cache (at most labelsTTL old).
func (a *Authorizer) Scope(ctx context.Context, tok Token) (Scope, *Error) {
	if a.Admin(tok) {
		return Scope{All: true}, nil
	}
	sc := Scope{Services: map[string]bool{}, Nodes: map[string]bool{}}
	if LooksLikeJWT(tok.Raw) {
		c, e := a.verifyOIDC(ctx, tok.Raw, "list runs")
		if e != nil {
			return Scope{}, e
		}
		snap, err := a.labels(ctx)
		if snap == nil {
			return Scope{}, lookupFailed("check the token against the targets' labels", err)
		}
		for _, svc := range snap.services {
			for _, act := range serviceActions {
				if ok, _ := a.oidcMatches(svc.Labels, act, c); ok {
					sc.Services[svc.Name] = true
				}
			}
		}
		for _, n := range snap.nodes {
			if ok, _ := a.oidcMatches(n.Labels, nodeAction, c); ok {
				sc.Nodes[n.Hostname], sc.Nodes[n.ID] = true, true
			}
		}
		return sc, nil
	}
	snap, err := a.labels(ctx)
	if !snap.knowsAny(tok) {
		e := errorf(http.StatusUnauthorized, KindUnauthorized, "unknown token: it is neither an admin token nor any service's or node's swarm-utils token")
		if err != nil {
			e.Msg += " (the targets' labels cannot be read just now: try again later)"
		}
		return Scope{}, e
	}
	for _, svc := range snap.services {
		for _, act := range serviceActions {
			if tok.Matches(labelValue(svc.Labels, act.TokenLabel)) {
				sc.Services[svc.Name] = true
			}
		}
	}
	for _, n := range snap.nodes {
		if tok.Matches(labelValue(n.Labels, nodeAction.TokenLabel)) {
			sc.Nodes[n.Hostname], sc.Nodes[n.ID] = true, true
		}
	}
	return sc, nil
}
