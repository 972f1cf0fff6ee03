// Package authz is who may do what through the API (SPEC §4), in one place: admin tokens, label
// tokens (plain or sha256:-hashed), CI identity tokens (OIDC JWTs, verified with go-oidc)
// matched against a target's swarm-utils.<action>.oidc.* labels, and the image allow-list of
// update-service. It answers with the HTTP status and message of a refusal; it never puts a
// token into an error or a log.
package authz

import (
	"context"
	"fmt"
	"github.com/swarm-utils/swarm-utils/operation"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/swarm-utils/swarm-utils/config"
	"github.com/swarm-utils/swarm-utils/parse"
	"github.com/swarm-utils/swarm-utils/swarm"
)

// Targets reads the services and nodes whose labels authorise; the API's Targets in production.
type Targets interface {
	// Service returns the service named exactly name; an error of operation.KindNotFound when
	// there is none.
	Service(ctx context.Context, name string) (parse.Service, error)
	Services(ctx context.Context) ([]parse.Service, error)
	Nodes(ctx context.Context) ([]parse.Node, error)
}

// Options configure an Authorizer.
type Options struct {
	Config  config.Config // admin tokens, OIDC issuers and audience, the update defaults
	Targets Targets
	Log     *slog.Logger
	Now     func() time.Time // clock of token lifetimes, key and label caching; nil: time.Now
	Secrets SecretAdder      // nil: plain label tokens are not registered for masking
}

// Authorizer decides requests. It is safe for concurrent use.
type Authorizer struct {
	cfg     config.Config
	targets Targets
	log     *slog.Logger
	oidc    *verifier // nil: OIDC off
	admins  []Digest  // of cfg.AdminTokens, computed once
	now     func() time.Time
	secrets SecretAdder
	cache   labelCache
}

// New builds an Authorizer; OIDC is off when no issuer is configured.
func New(o Options) *Authorizer {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Authorizer{cfg: o.Config, targets: o.Targets, log: o.Log, oidc: newVerifier(o.Config.OIDC, o.Now),
		admins: digests(o.Config.AdminTokens), now: o.Now, secrets: o.Secrets}
}

// Kinds of refusals beyond operation.Kind, for the errorKind field of error bodies.
const (
	KindUnauthorized = "unauthorized"
	KindUnavailable  = "unavailable"
)

// Error is a refusal: its HTTP status, errorKind and message. When a lookup of the targets
// failed, Err is that error and Msg says what was being done; its Kind decides the status.
type Error struct {
	Status int
	Kind   string
	Msg    string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func errorf(status int, kind, format string, args ...any) *Error {
	return &Error{Status: status, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func lookupFailed(what string, err error) *Error { return &Error{Msg: what, Err: err} }

// Action is one token-guarded action: the operation's name (for messages and logs) and the
// label holding its token.
type Action struct {
	Op         string
	TokenLabel string
}

// labelBase is swarm-utils.<action> of the token label (swarm-utils.clean.token → swarm-utils.clean).
func (a Action) labelBase() string { return strings.TrimSuffix(a.TokenLabel, ".token") }

// name is the action's word in its labels: clean, backup or update.
func (a Action) name() string { return strings.TrimPrefix(a.labelBase(), parse.LabelPrefix) }

// Admin tells whether tok is one of SWARM_UTILS_ADMIN_TOKEN_LIST.
func (a *Authorizer) Admin(tok Token) bool { return tok.in(a.admins) }

// Service applies SPEC §4 to an action on a service: admin tokens may act on any service;
// another token only on the service whose label for this action equals it; a CI identity
// token on a service whose labels its claims match. An unknown token is 401, decided from the
// admin tokens and the label-token cache before any docker call; a known token of another
// service is 403, an unknown service 404 (told only to callers with a known token). Whether
// the action is enabled is the operation's own check (404). It returns the service (zero when
// refused) and whether the token is an admin token.
func (a *Authorizer) Service(ctx context.Context, tok Token, act Action, name string) (parse.Service, bool, *Error) {
	admin := a.Admin(tok)
	if !admin && LooksLikeJWT(tok.Raw) {
		svc, e := a.serviceOIDC(ctx, tok.Raw, act, name)
		return svc, false, e
	}
	if !admin {
		snap, err := a.labels(ctx)
		if !snap.knowsService(act.TokenLabel, tok) {
			return parse.Service{}, false, unknownToken(act, "service's "+act.TokenLabel, err)
		}
	}
	// The target itself is read fresh: the cache only tells who may ask.
	svc, err := a.targets.Service(ctx, name)
	found := err == nil
	if err != nil && operation.KindOf(err) != operation.KindNotFound {
		return parse.Service{}, false, lookupFailed("inspect service "+name, err)
	}
	switch {
	case !found:
		return parse.Service{}, admin, serviceNotFound(name)
	case admin:
		return svc, true, nil
	case tok.Matches(labelValue(svc.Labels, act.TokenLabel)):
		return svc, false, nil
	}
	return parse.Service{}, false, errorf(http.StatusForbidden, string(operation.KindForbidden),
		"this token may not run %s on service %q: it is not that service's %s label (one token per service and action)", act.Op, name, act.TokenLabel)
}

// unknownToken is the 401 of a token that is neither an admin token nor, as far as the cache
// knows, any target's token for the action. A failed read of the labels is only hinted at: the
// caller is not authenticated, so docker's words stay in the log.
func unknownToken(act Action, which string, readErr error) *Error {
	e := errorf(http.StatusUnauthorized, KindUnauthorized,
		"unknown token for %s: it is neither an admin token nor any %s", act.Op, which)
	if readErr != nil {
		e.Msg += " (the targets' labels cannot be read just now, so label tokens are not recognised: try again later)"
	}
	return e
}

// Node is Service for clean-node, with the node label swarm-utils.clean.token; name is the
// node's hostname or ID.
func (a *Authorizer) Node(ctx context.Context, tok Token, act Action, name string) *Error {
	admin := a.Admin(tok)
	if !admin && LooksLikeJWT(tok.Raw) {
		return a.nodeOIDC(ctx, tok.Raw, act, name)
	}
	if !admin {
		snap, err := a.labels(ctx)
		if !snap.knowsNode(tok) {
			return unknownToken(act, "node's "+act.TokenLabel+" label", err)
		}
	}
	nodes, err := a.targets.Nodes(ctx)
	if err != nil {
		return lookupFailed("list nodes", err)
	}
	node, ferr := findNode(nodes, name)
	switch {
	case ferr != nil:
		return ferr
	case admin, tok.Matches(labelValue(node.Labels, act.TokenLabel)):
		return nil
	}
	return errorf(http.StatusForbidden, string(operation.KindForbidden),
		"this token may not run %s on node %q: it is not that node's %s label", act.Op, name, act.TokenLabel)
}

func serviceNotFound(name string) *Error {
	return errorf(http.StatusNotFound, string(operation.KindNotFound), "service %q not found (names are exact: stack_service)", name)
}

// findNode is swarm.FindNode as an answer: a hostname two nodes share is refused (400) with
// their IDs, so that authorisation and the operation cannot pick different nodes.
func findNode(nodes []parse.Node, name string) (parse.Node, *Error) {
	n, err := swarm.FindNode(nodes, name, "")
	switch operation.KindOf(err) {
	case "":
		return n, nil
	case operation.KindInvalid:
		return parse.Node{}, errorf(http.StatusBadRequest, string(operation.KindInvalid), "%v", err)
	}
	return parse.Node{}, nodeNotFound(name)
}

func nodeNotFound(name string) *Error {
	return errorf(http.StatusNotFound, string(operation.KindNotFound), "node %q not found (use its exact hostname or ID)", name)
}
